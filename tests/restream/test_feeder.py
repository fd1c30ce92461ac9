"""The feeder between a hub and a media's appsrcs: keyframe first, camera time on the media's clock,
sound in step, reconnects and codec changes (a real hub, an appsrc stand-in that records)."""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction

from restream.feeder import RESUME_GAP_NS, MediaFeeder
from streams.hub import StreamHub
from streams.packet import MediaPacket, StreamInfo

SPS_PPS = b"\x00\x00\x00\x01\x67\x42\x00\x1f\x00\x00\x00\x01\x68\xce\x3c\x80"
IDR = b"\x00\x00\x00\x01\x65\x88\x84"
P = b"\x00\x00\x00\x01\x41\x9a"
VIDEO = StreamInfo(0, "video", "h264", Fraction(1, 90_000), extradata=SPS_PPS)
AUDIO = StreamInfo(1, "audio", "pcm_alaw", Fraction(1, 8000), sample_rate=8000, channels=1)


class RecordingSink:
    """Keeps what would have gone into the appsrc; its media has been PLAYING for `running` ns."""

    def __init__(self, running: int | None = 0) -> None:
        self.buffers: list[tuple[bytes, int | None, int | None, bool]] = []
        self._running = running

    def push(self, data: bytes, pts_ns: int | None, dts_ns: int | None, keyframe: bool) -> None:
        self.buffers.append((data, pts_ns, dts_ns, keyframe))

    def running_time_ns(self) -> int | None:
        return self._running


def video(pts: int, key: bool = False) -> MediaPacket:
    return MediaPacket(0, IDR if key else P, pts, pts, key, time.monotonic(), time.time())


def sound(pts: int) -> MediaPacket:
    return MediaPacket(1, b"\xd5" * 160, pts, pts, True, time.monotonic(), time.time())


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_starts_at_the_cached_keyframe_with_parameter_sets_on_camera_time() -> None:
    hub = StreamHub("cam", 64)
    hub.set_streams((VIDEO, AUDIO))
    hub.publish(video(9000))  # before any keyframe: not cached
    hub.publish(video(90_000, key=True))
    hub.publish(sound(7900))  # 0.9875 s: before the first picture
    hub.publish(video(93_600))
    pictures, sounds = RecordingSink(), RecordingSink()
    fed: list[int] = []
    feeder = MediaFeeder("cam/main", hub, (VIDEO, AUDIO), (pictures, sounds), fed.append)
    task = asyncio.create_task(feeder.run())
    await settle()
    hub.publish(sound(8080))  # 1.01 s
    hub.publish(video(97_200))
    await settle()
    feeder.stop()
    await asyncio.wait_for(task, 5)
    assert [(pts, key) for _data, pts, _dts, key in pictures.buffers] == [
        (0, True), (40_000_000, False), (80_000_000, False)]
    assert pictures.buffers[0][0] == SPS_PPS + IDR
    assert [pts for _data, pts, _dts, _key in sounds.buffers] == [10_000_000]
    assert sum(fed) == len(SPS_PPS + IDR) + 2 * len(P) + 160
    assert hub.subscriber_count == 0


async def test_a_reconnect_continues_the_clock_and_a_new_codec_is_not_fed() -> None:
    hub = StreamHub("cam", 64)
    hub.set_streams((VIDEO,))
    sink = RecordingSink()
    feeder = MediaFeeder("cam/main", hub, (VIDEO,), (sink,), lambda _n: None)
    task = asyncio.create_task(feeder.run())
    await settle()
    hub.publish(video(1000, key=True))
    hub.publish(video(4600))
    hub.set_streams((), "camera went away")
    hub.set_streams((VIDEO,))
    hub.publish(video(0))  # not a keyframe: the hub skips it
    hub.publish(video(500, key=True))
    hub.set_streams((StreamInfo(0, "video", "hevc", Fraction(1, 90_000)),))
    hub.publish(video(900, key=True))
    await settle()
    feeder.stop()
    await asyncio.wait_for(task, 5)
    assert [pts for _data, pts, _dts, _key in sink.buffers] == [0, 40_000_000, 40_000_000 + RESUME_GAP_NS]


async def test_the_clock_waits_for_the_media_to_play() -> None:
    """No running time before PLAYING: nothing is stamped until the media has one, then the first
    packet is placed at its arrival on the media's clock."""
    hub = StreamHub("cam", 64)
    hub.set_streams((VIDEO,))
    sink = RecordingSink(running=None)
    feeder = MediaFeeder("cam/main", hub, (VIDEO,), (sink,), lambda _n: None)
    task = asyncio.create_task(feeder.run())
    hub.publish(video(1000, key=True))
    await asyncio.sleep(0.1)
    assert sink.buffers == []
    sink._running = 10_000_000_000
    hub.publish(video(4600))
    await asyncio.sleep(0.1)
    feeder.stop()
    await asyncio.wait_for(task, 5)
    first, second = (pts for _data, pts, _dts, _key in sink.buffers)
    assert first is not None and second is not None
    assert 9_700_000_000 < first <= 10_000_000_000  # arrived ~0.1-0.2 s before the media played
    assert second - first == 40_000_000
