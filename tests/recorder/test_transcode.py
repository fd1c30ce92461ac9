"""recorder.transcode: G.711 (A-law, mu-law) re-encoded to AAC-LC on the camera's sample clock, checked
by decoding the AAC again with FFmpeg (PyAV) and finding the clicks where the camera put them."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from recorder.transcode import FRAME, MAX_FILL_S, AudioTranscoder, TranscodeError, transcodable
from streams.packet import MediaPacket, StreamInfo

RATE = 8000
TB = Fraction(1, RATE)
CLICK_EVERY = 4000  # samples: a click every half second
BASE = 123_456  # the camera's first audio timestamp


def g711(codec: str, seconds: float) -> bytes:
    """`seconds` of silence with a short 1 kHz click every half second, encoded by FFmpeg."""
    n = int(seconds * RATE)
    signal = np.zeros(n, np.float32)
    for at in range(0, n, CLICK_EVERY):
        signal[at:at + 80] = np.sin(np.arange(80) * 2 * np.pi * 1000 / RATE)
    enc = av.CodecContext.create(codec, "w")
    enc.sample_rate, enc.layout, enc.format, enc.time_base = RATE, "mono", "s16", TB
    enc.open()
    frame = av.AudioFrame.from_ndarray((signal * 20000).astype(np.int16)[None], format="s16", layout="mono")
    frame.sample_rate, frame.pts = RATE, 0
    return b"".join(bytes(p) for p in enc.encode(frame) + enc.encode(None))


def info(codec: str = "pcm_alaw") -> StreamInfo:
    return StreamInfo(1, "audio", codec, TB, sample_rate=RATE, channels=1)


def packets(data: bytes, size: int = 160, skip: set[int] | None = None, shift: dict[int, int] | None = None
            ) -> list[tuple[MediaPacket, int]]:
    """The camera's RTP packets: `size` samples each from BASE; `skip` drops packet numbers (lost),
    `shift` moves a packet's timestamp (a camera clock step) from that packet on."""
    out = []
    offset = 0
    for number, at in enumerate(range(0, len(data), size)):
        if shift and number in shift:
            offset += shift[number]
        if skip and number in skip:
            continue
        pts = BASE + at + offset
        out.append((MediaPacket(1, data[at:at + size], pts, pts, True, 0.0, 0.0), pts))
    return out


def transcode(codec: str, feed: list[tuple[MediaPacket, int]]) -> tuple[AudioTranscoder, list[MediaPacket]]:
    transcoder = AudioTranscoder(info(codec))
    out = [aac for packet, pts in feed for aac in transcoder.push(packet, pts)]
    return transcoder, out + transcoder.flush()


def decode(transcoder: AudioTranscoder, out: list[MediaPacket]) -> tuple[int, np.ndarray]:
    """The AAC decoded by FFmpeg: (pts of the first sample, samples at the output rate)."""
    dec = av.CodecContext.create("aac", "r")
    dec.extradata = transcoder.output.extradata
    pcm, first = [], None
    for p in out:
        packet = av.Packet(p.data)
        packet.pts, packet.time_base = p.pts, transcoder.time_base
        for frame in dec.decode(packet):
            first = frame.pts if first is None else first
            pcm.append(frame.to_ndarray()[0])
    assert first is not None
    return first, np.concatenate(pcm)


def clicks(first: int, pcm: np.ndarray, rate: int) -> list[float]:
    """Camera time (seconds after BASE) where each click starts in the decoded sound."""
    loud = np.flatnonzero(np.abs(pcm) > 0.3)
    starts = [loud[0]] + [b for a, b in zip(loud, loud[1:], strict=False) if b - a > rate // 10]
    return [(first + s) / rate - BASE / RATE for s in starts]


@pytest.mark.parametrize("codec", ["pcm_alaw", "pcm_mulaw"])
def test_g711_becomes_aac_on_the_camera_clock(codec: str) -> None:
    transcoder, out = transcode(codec, packets(g711(codec, 5.0)))
    assert transcoder.output.codec == "aac" and transcoder.output.sample_rate == 16000
    assert transcoder.output.extradata  # the AudioSpecificConfig the MP4 track needs
    # Contiguous frames from the first sample the camera sent, none before it (priming dropped).
    assert out[0].pts == BASE * 2
    assert all(b.pts == a.pts + FRAME for a, b in zip(out, out[1:], strict=False))  # type: ignore[operator]
    assert transcoder.next_pts == BASE * 2 + 5 * 16000  # exactly the 5 s that went in
    first, pcm = decode(transcoder, out)
    found = clicks(first, pcm, 16000)
    # The first click sits in the first frame, which decodes without its predecessor (a fade-in).
    expected = [k * 0.5 for k in range(1, 10)]
    assert found[-9:] == pytest.approx(expected, abs=0.002)


def test_lost_packets_become_silence_and_the_clock_keeps_the_camera_time() -> None:
    # 20 packets (400 ms) lost after 1 s: the clicks after the hole are still where the camera put them.
    lost = set(range(50, 70))
    transcoder, out = transcode("pcm_alaw", packets(g711("pcm_alaw", 4.0), skip=lost))
    assert transcoder.filled == 20 * 160 * 2  # the hole, in 16 kHz samples
    first, pcm = decode(transcoder, out)
    found = clicks(first, pcm, 16000)
    assert found[-5:] == pytest.approx([1.5, 2.0, 2.5, 3.0, 3.5], abs=0.002)
    assert 1.0 not in [round(c, 2) for c in found]  # the click at 1.0 s was in the lost packets


def test_an_overlap_is_dropped_and_jitter_is_ignored() -> None:
    # The camera's clock steps back 50 ms at packet 25 (overlap: dropped), and 5 ms at 60 (jitter:
    # under RESYNC_S, played on as it comes).
    transcoder, out = transcode("pcm_alaw", packets(g711("pcm_alaw", 3.0), shift={25: -400, 60: -40}))
    # 50 ms at 16 kHz, give or take the resampler's filter delay (2 ms) at each resync.
    assert abs(transcoder.dropped - 800) <= 64
    assert transcoder.filled == 0
    first, pcm = decode(transcoder, out)
    found = clicks(first, pcm, 16000)
    # After the 50 ms step the sound follows the camera's (stepped) clock: a click put at 1.5 s is
    # stamped 1.45 s. The 5 ms step after it is jitter: the sound plays on without a seam, 5 ms off
    # the camera's clock (less than RESYNC_S).
    assert found[-3:] == pytest.approx([1.45, 1.95, 2.45], abs=0.001)


def test_a_long_silence_restarts_the_clock_instead_of_encoding_it() -> None:
    feed = packets(g711("pcm_alaw", 2.0), shift={50: int((MAX_FILL_S + 10) * RATE)})
    transcoder, out = transcode("pcm_alaw", feed)
    assert transcoder.filled < FRAME  # only the last frame before the jump was padded
    steps = [b.pts - a.pts for a, b in zip(out, out[1:], strict=False)]  # type: ignore[operator]
    jumps = [s for s in steps if s != FRAME]
    assert len(jumps) == 1 and jumps[0] > MAX_FILL_S * 16000
    assert all(p.pts >= q.pts for p, q in zip(out[1:], out, strict=False))  # type: ignore[operator]


def test_flush_ends_the_stream_and_takes_no_more() -> None:
    transcoder, out = transcode("pcm_mulaw", packets(g711("pcm_mulaw", 1.03)))
    end = out[-1].pts + FRAME  # type: ignore[operator]
    assert transcoder.next_pts is not None and transcoder.next_pts <= end
    assert transcoder.next_pts == BASE * 2 + round(1.03 * RATE) * 2
    assert transcoder.flush() == []
    packet, pts = packets(g711("pcm_mulaw", 0.1))[0]
    assert transcoder.push(packet, pts) == []


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (info("pcm_alaw"), True),
        (info("pcm_mulaw"), True),
        (StreamInfo(1, "audio", "adpcm_g726le", TB, sample_rate=RATE, channels=1), True),
        (StreamInfo(1, "audio", "pcm_alaw", TB, sample_rate=0, channels=1), False),  # rate unknown
        (StreamInfo(1, "audio", "no-such-codec", TB, sample_rate=RATE), False),
        (StreamInfo(0, "video", "h264", Fraction(1, 90000)), False),
    ],
)
def test_transcodable(stream: StreamInfo, expected: bool) -> None:
    assert transcodable(stream) is expected


def test_an_undecodable_stream_is_refused() -> None:
    with pytest.raises(TranscodeError):
        AudioTranscoder(StreamInfo(1, "audio", "no-such-codec", TB, sample_rate=RATE))
