"""The recorder's worker thread gets packets a fragment at a time; what reaches the file (and so
survives a crash) must be the same as when it got them one by one: every fragment is on disk
once the keyframe after it has been handed over."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from recorder.muxthread import Failed, MuxThread, Result, Sealed
from recorder.recovery import complete_prefix
from recorder.store import SegmentStore
from streams.packet import MediaPacket, StreamInfo

TB = Fraction(1, 90_000)
GOP = 10


def h264_packets(frames: int) -> tuple[StreamInfo, list[MediaPacket]]:
    """Real Annex B H.264 (libx264), a keyframe every GOP frames, 25 fps."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = 64, 64, "yuv420p"
    codec.time_base = Fraction(1, 25)
    codec.gop_size = GOP
    codec.options = {"bframes": "0", "keyint_min": str(GOP), "sc_threshold": "0", "tune": "zerolatency"}
    out: list[MediaPacket] = []
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i * 9 % 255, np.uint8), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts = i
        for p in codec.encode(frame):
            stamp = int(p.pts * 90_000 / 25)
            out.append(MediaPacket(0, bytes(p), stamp, stamp, p.is_keyframe, 0.0, 0.0))
    info = StreamInfo(0, "video", "h264", TB, None, 64, 64)
    return info, out


async def test_each_fragment_reaches_the_file_when_the_next_keyframe_is_handed_over(tmp_path: Path) -> None:
    info, packets = h264_packets(3 * GOP + 3)
    assert [i for i, p in enumerate(packets) if p.is_keyframe] == [0, GOP, 2 * GOP, 3 * GOP]
    results: list[Result] = []
    store = SegmentStore(tmp_path)
    thread = MuxThread(store, "cam", None, asyncio.get_running_loop(), results.append)
    thread.start()
    start = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    try:
        thread.open((info,), start, packets[0], packets[0].dts or 0)
        partial = store.partial_path("cam", start)
        written: list[int] = []  # whole fragments on disk after each keyframe is handed over
        for i, packet in enumerate(packets):
            thread.packet(packet, packet.pts or 0, packet.dts or 0)
            if packet.is_keyframe and i:
                for _ in range(100):  # the thread writes it out a moment later
                    fragments = _fragments(partial)
                    if fragments >= len(written) + 1:
                        break
                    await asyncio.sleep(0.01)
                written.append(fragments)
        assert written == [1, 2, 3], written
        thread.seal(start, 0.0)
    finally:
        thread.stop()
        await thread.done
    assert [type(r).__name__ for r in results] == ["Sealed"], results


def _fragments(path: Path) -> int:
    """Whole moof+mdat pairs at the top level of the file so far."""
    if not path.exists():
        return 0
    data = path.read_bytes()[: complete_prefix(path)]
    count, at = 0, 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        count += data[at + 4:at + 8] == b"moof"
        at += size
    return count



async def test_after_a_failure_commands_wait_for_resume_and_the_chain_goes_on(tmp_path: Path) -> None:
    info, packets = h264_packets(2 * GOP)
    results: list[Result] = []
    store = SegmentStore(tmp_path)
    thread = MuxThread(store, "cam", None, asyncio.get_running_loop(), results.append)
    thread.start()
    first, second, third = (datetime(2026, 3, 1, 8, 0, s, tzinfo=UTC) for s in (0, 10, 20))
    try:
        thread.open((info,), first, packets[0], 0)
        for packet in packets:
            thread.packet(packet, packet.pts or 0, packet.dts or 0)
        thread.open((info,), second, packets[0], 0)  # a bug on the loop side: the thread fails
        thread.seal(second, 0.0)  # ignored: the thread waits to be resumed
        thread.resume()
        thread.open((info,), third, packets[0], 0)
        for packet in packets[:GOP]:
            thread.packet(packet, packet.pts or 0, packet.dts or 0)
        thread.seal(third, 0.0)
    finally:
        thread.stop()
        await thread.done
    assert [type(r) for r in results] == [Failed, Sealed], results
    failed, sealed = results
    assert isinstance(failed, Failed) and isinstance(sealed, Sealed)
    assert failed.start == first and "another is open" in failed.error and not failed.disk_full
    # What was written of the failed segment is salvaged, and the chain continues from it.
    assert failed.salvaged is not None and failed.salvaged.start == first
    assert sealed.segment.start == third and sealed.segment.prev_sha256 == failed.salvaged.sha256



@pytest.mark.parametrize("lease_lost", [False, True])
async def test_a_segment_whose_file_another_node_took_fails_without_a_traceback(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, lease_lost: bool) -> None:
    """On a cluster the node that took a camera over recovers the old owner's open file (seals it, or
    quarantines it) while the old owner may still be writing: the old owner's seal then fails. It is
    said in one line (a warning once this node knows its lease was lost), with no traceback."""
    info, packets = h264_packets(2 * GOP)
    results: list[Result] = []
    store = SegmentStore(tmp_path)
    thread = MuxThread(store, "cam", None, asyncio.get_running_loop(), results.append)
    thread.lease_lost = lease_lost
    thread.start()
    start = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    try:
        thread.open((info,), start, packets[0], 0)
        for packet in packets[:GOP + 1]:
            thread.packet(packet, packet.pts or 0, packet.dts or 0)
        partial = store.partial_path("cam", start)
        for _ in range(100):
            if partial.exists():
                break
            await asyncio.sleep(0.01)
        partial.rename(tmp_path / "taken.part")  # the new owner's recovery moved it away
        thread.seal(start, 0.0)
    finally:
        thread.stop()
        await thread.done
    assert [type(r) for r in results] == [Failed], results
    assert isinstance(results[0], Failed) and "FileNotFoundError" in results[0].error
    said = [r for r in caplog.records if r.name == "recorder.muxthread" and "cam" in r.getMessage()]
    assert said and not any(r.exc_info for r in said), [r.getMessage() for r in said]
    assert said[0].levelname == ("WARNING" if lease_lost else "ERROR")
    assert ("took the camera over recovered its file" in said[0].getMessage()) is lease_lost


AAC_RATE = 16_000


def aac_packets(count: int) -> tuple[StreamInfo, list[MediaPacket]]:
    """Real AAC-LC (FFmpeg's encoder), 16 kHz mono: 1024 samples (64 ms) a packet, pts in samples."""
    codec = av.CodecContext.create("aac", "w")
    codec.sample_rate, codec.layout, codec.format = AAC_RATE, "mono", "fltp"
    codec.time_base = Fraction(1, AAC_RATE)
    codec.open()
    out: list[MediaPacket] = []
    for i in range(count + 4):
        tone = np.sin(np.arange(i * 1024, (i + 1) * 1024) * 2 * np.pi * 440 / AAC_RATE).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = AAC_RATE, i * 1024
        out += [MediaPacket(1, bytes(p), len(out) * 1024, len(out) * 1024, True, 0.0, 0.0) for p in codec.encode(frame)]
    info = StreamInfo(1, "audio", "aac", Fraction(1, AAC_RATE), codec.extradata, sample_rate=AAC_RATE, channels=1)
    return info, out[:count]


async def test_sound_ahead_of_the_picture_whose_middle_is_the_cut_is_recorded_after_it(tmp_path: Path) -> None:
    """AAC frame 12 plays 0.768-0.832 s: its middle is the keyframe at 0.8 that cuts. It arrives
    0.25 s ahead of the picture (the network), before the seal: it goes into the next segment, not
    lost between the seal and the open."""
    video, frames = h264_packets(3 * GOP)
    audio, sound = aac_packets(20)
    arrivals = [((p.pts or 0) / 90_000, 0, p) for p in frames]
    arrivals += [((p.pts or 0) / AAC_RATE + 0.064 - 0.25, 1, p) for p in sound]
    arrivals.sort(key=lambda a: (a[0], a[1]))
    results: list[Result] = []
    store = SegmentStore(tmp_path)
    thread = MuxThread(store, "cam", None, asyncio.get_running_loop(), results.append)
    thread.start()
    first, second = datetime(2026, 3, 1, 8, 0, tzinfo=UTC), datetime(2026, 3, 1, 8, 0, 0, 800_000, tzinfo=UTC)
    try:
        thread.open((video, audio), first, frames[0], 0)
        for _, _, packet in arrivals:
            if packet is frames[2 * GOP]:  # 0.8 s: the cut
                thread.seal(second, 0.0, 0.8)
                thread.open((video, audio), second, packet, packet.dts or 0)
            thread.packet(packet, packet.pts or 0, packet.dts or 0)
        thread.seal(datetime(2026, 3, 1, 8, 0, 1, 200_000, tzinfo=UTC), 0.0)
    finally:
        thread.stop()
        await thread.done
    sealed = [r.segment for r in results if isinstance(r, Sealed)]
    assert len(sealed) == 2 == len(results), results
    counts = [_audio_packets(store.absolute(s.path)) for s in sealed]
    # Middles 0.032 + 0.064 k: k 0-11 before the cut, 12-18 before the picture ends (1.2 s), 19 after.
    assert counts == [12, 7], counts


def _audio_packets(path: Path) -> int:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "packet=pts",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout
    return len(out.split())
