"""The pure parts of sound over WHEP, table-checked: which codec an offer gets, when a packet is
due for lip sync, how sound is cut into 20 ms pieces and stamped with RTP times."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from streams.packet import StreamInfo
from webrtc.audiocodec import AudioChoice, choose_audio, offered_audio
from webrtc.audioframes import PcmShaper, g711_pieces
from webrtc.audiotrack import RtpClock
from webrtc.lipsync import MAX_HOLD_S, LipSync
from webrtc.playbackfeed import Sound
from webrtc.playbacksound import SoundQueue

VIDEO = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\na=rtpmap:96 H264/90000\r\n"


def offer(*audio: str) -> str:
    """An offer with a video section and one audio section per spec "direction:codec,codec"."""
    text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" + VIDEO
    for spec in audio:
        direction, _, names = spec.partition(":")
        port = "0" if direction == "rejected" else "9"
        pts = " ".join(str(100 + i) for i, _ in enumerate(names.split(",")))
        text += f"m=audio {port} UDP/TLS/RTP/SAVPF {pts}\r\n"
        if direction not in ("rejected", "none"):
            text += f"a={direction}\r\n"
        for i, name in enumerate(names.split(",")):
            rate = 48000 if name == "opus" else 8000
            text += f"a=rtpmap:{100 + i} {name}/{rate}{'/2' if name == 'opus' else ''}\r\n"
    return text


@pytest.mark.parametrize(("sdp", "camera", "expected"), [
    # The camera's G.711 goes as it is when the viewer lists it, whatever it lists first.
    (offer("recvonly:opus,PCMU,PCMA"), "pcm_alaw", AudioChoice("audio/PCMA", passthrough=True)),
    (offer("recvonly:opus,PCMU,PCMA"), "pcm_mulaw", AudioChoice("audio/PCMU", passthrough=True)),
    (offer("sendrecv:PCMA"), "pcm_alaw", AudioChoice("audio/PCMA", passthrough=True)),
    (offer("none:PCMA"), "pcm_alaw", AudioChoice("audio/PCMA", passthrough=True)),  # no direction: sendrecv
    # Otherwise decoded and made Opus, or G.711 for a viewer without Opus.
    (offer("recvonly:opus,PCMU,PCMA"), "aac", AudioChoice("audio/opus", passthrough=False)),
    (offer("recvonly:opus"), "pcm_alaw", AudioChoice("audio/opus", passthrough=False)),
    (offer("recvonly:PCMU"), "aac", AudioChoice("audio/PCMU", passthrough=False)),
    (offer("recvonly:PCMU"), "pcm_alaw", AudioChoice("audio/PCMU", passthrough=False)),
    # No sound: a camera without it, an offer without audio, a section that does not receive.
    (offer("recvonly:opus"), None, None),
    (offer(), "pcm_alaw", None),
    (offer("sendonly:opus,PCMA"), "pcm_alaw", None),
    (offer("inactive:opus,PCMA"), "aac", None),
    (offer("rejected:opus,PCMA"), "aac", None),
    (offer("recvonly:G722,telephone-event"), "aac", None),
])
def test_choose_audio(sdp: str, camera: str | None, expected: AudioChoice | None) -> None:
    assert choose_audio(sdp, camera) == expected


def test_offered_audio_reads_every_receiving_section_and_line_ending() -> None:
    sdp = offer("recvonly:opus", "inactive:PCMU", "recvonly:PCMA").replace("\r\n", "\n")
    assert offered_audio(sdp) == {"audio/opus", "audio/pcma"}
    choice = AudioChoice("audio/opus", passthrough=False)
    assert (choice.name, choice.clock_rate) == ("opus", 48_000)


@pytest.mark.parametrize(("lags", "expected"), [
    # (video lag, audio lag) per packet, camera time = when taken - lag; the hold each stream gets.
    # Video arrives 40 ms after its time, sound 0: sound waits 40 ms, video goes at once.
    ((0.04, 0.0), (0.0, 0.04)),
    # AAC: the sound arrives 0.1 s after its time: the picture waits for it.
    ((0.02, 0.12), (0.1, 0.0)),
    # Stamps 0.8 s apart are not on one clock: each stream goes as it comes.
    ((0.0, 0.8), (0.0, 0.0)),
    # The picture never waits longer than MAX_HOLD_S.
    ((0.0, 0.45), (MAX_HOLD_S, 0.0)),
])
def test_lipsync_holds_the_early_stream_for_the_late_one(
    lags: tuple[float, float], expected: tuple[float, float]
) -> None:
    sync = LipSync()
    video_lag, audio_lag = lags
    holds = (0.0, 0.0)
    for i in range(100):  # 2 s of both streams
        now = 100.0 + i * 0.02
        video = sync.due("video", now - video_lag, now, now) - now
        audio = sync.due("audio", now - audio_lag, now, now) - now
        holds = (video, audio)
    assert holds == pytest.approx(expected, abs=1e-9)


def test_lipsync_starts_over_after_a_jump_and_ignores_the_odd_late_and_the_stale_packet() -> None:
    sync = LipSync()
    for i in range(100):
        now = 10.0 + i * 0.02
        sync.due("video", now - 0.04, now, now)
        sync.due("audio", now, now, now)
    # One late video frame (a stall) leaves the estimate alone: sound keeps its 40 ms.
    assert sync.due("video", 12.0 - 0.3, 12.0, 12.0) == 12.0
    assert sync.due("audio", 12.02, 12.02, 12.02) == pytest.approx(12.06)
    # Old packets (the hub's cached GOP) go at once and are not measured: sound still waits 40 ms.
    for i in range(50):
        assert sync.due("video", 10.0 + i * 0.04, 10.0 + i * 0.04, 12.1) == 12.1
    assert sync.due("audio", 12.12, 12.12, 12.12) == pytest.approx(12.16)
    # The camera reconnects and its video timestamps start again at 0: a new timeline.
    for i in range(20):
        now = 15.0 + i * 0.04
        assert sync.due("video", i * 0.04, now, now) == now  # no hold while the other stream's lag differs
    sync.reset("audio")
    assert sync.due("audio", 5.0, 16.0, 16.0) == 16.0
    assert sync.due("video", None, 16.0, 16.0) == 16.0  # unstamped: goes as it comes


def test_lipsync_counts_the_senders_time_and_does_not_feed_on_its_own_waits() -> None:
    sync = LipSync()
    # Both arrive on time, but aiortc's video sender takes 60 ms per frame (a busy machine) and
    # its audio sender 2 ms: sound is handed over 58 ms after its time, video at once.
    for i in range(200):
        now = 20.0 + i * 0.02
        audio = sync.due("audio", now, now, now)
        sync.sent("audio", 0.002)
        if i % 2 == 0:
            video = sync.due("video", now, now, now)
            sync.sent("video", 0.06)
    assert (video - now + 0.02, audio - now) == pytest.approx((0.0, 0.058))
    # The sender recovers: the holds shrink with it (the waits are never measured as lag).
    for i in range(200):
        now = 24.0 + i * 0.02
        audio = sync.due("audio", now, now, now)
        sync.sent("audio", 0.002)
        if i % 2 == 0:
            video = sync.due("video", now, now, now)
            sync.sent("video", 0.002)
    assert audio - now == pytest.approx(0.0)


def test_g711_pieces_are_the_bytes_as_sent_in_20_ms() -> None:
    data = bytes(range(256)) * 2  # 64 ms at 8 kHz
    pieces = g711_pieces(data, 5.0)
    assert [p.samples for p in pieces] == [160, 160, 160, 32]
    assert b"".join(p.data for p in pieces) == data
    assert [p.at for p in pieces] == pytest.approx([5.0, 5.02, 5.04, 5.06])


def aac_packets(seconds: float, rate: int = 16000) -> tuple[StreamInfo, list[tuple[bytes, float]]]:
    """A 440 Hz tone as AAC-LC packets with their times, and the stream's parameters."""
    enc = av.CodecContext.create("aac", "w")
    enc.sample_rate, enc.layout, enc.format = rate, "mono", "fltp"
    enc.time_base = Fraction(1, rate)
    enc.open()
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate)).astype(np.float32)
    out: list[tuple[bytes, float]] = []
    for start in range(0, len(tone), 1024):
        frame = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        out += [(bytes(p), p.pts / rate) for p in enc.encode(frame)]
    info = StreamInfo(1, "audio", "aac", Fraction(1, rate), bytes(enc.extradata), sample_rate=rate, channels=1)
    return info, out


def test_pcm_shaper_cuts_decoded_sound_into_20_ms_pieces_and_restarts_after_a_gap() -> None:
    info, packets = aac_packets(3.0)
    shaper = PcmShaper(info, 48_000)
    pieces = [p for data, at in packets[:30] for p in shaper.push(data, at)]
    assert all(p.samples == 960 and len(p.data) == 1920 for p in pieces)
    starts = [p.at for p in pieces]
    assert np.allclose(np.diff(starts), 0.02)  # continuous: each piece where the last ended
    assert len(pieces) == pytest.approx(30 * 1024 / 16000 / 0.02, abs=2)
    # Lost packets: the sound after the gap starts a new run at its own time.
    data, at = packets[40]
    after = shaper.push(data, at) + shaper.push(*packets[41])
    assert after and after[0].at == pytest.approx(at)
    # Garbage is skipped, not fatal.
    assert shaper.push(b"\xff\xf1 not aac", 9.0) == [] and shaper.errors == 1


def test_pcm_shaper_decodes_g711_for_a_viewer_without_it() -> None:
    info = StreamInfo(1, "audio", "pcm_alaw", Fraction(1, 8000), sample_rate=8000, channels=1)
    shaper = PcmShaper(info, 48_000)
    pieces = [p for i in range(10) for p in shaper.push(bytes([0xD5]) * 160, i * 0.02)]  # A-law silence
    assert len(pieces) >= 9 and all(p.samples == 960 for p in pieces)
    assert max(abs(int(v)) for p in pieces for v in np.frombuffer(p.data, dtype=np.int16)) < 64


@pytest.mark.parametrize(("times", "expected"), [
    # (time, samples) per piece at 8 kHz -> RTP times.
    ([(1.0, 160), (1.02, 160), (1.04, 160)], [0, 160, 320]),
    ([(1.0, 160), (1.0201, 160)], [0, 160]),  # rounding stays continuous
    ([(1.0, 160), (1.1, 160)], [0, 800]),  # 80 ms lost: the clock moves on by as much
    ([(1.0, 160), (0.2, 160)], [0, 320]),  # back in time (reconnect): one piece on
    ([(1.0, 160), (9.0, 160)], [0, 320]),  # far ahead (reconnect): one piece on
    ([(1.0, 160), (1.01, 160)], [0, 160]),  # overlapping: never back
])
def test_rtp_clock(times: list[tuple[float, int]], expected: list[int]) -> None:
    clock = RtpClock(8000)
    assert [clock.stamp(at, n) for at, n in times] == expected


def test_rtp_clock_on_the_players_clock_follows_pauses_of_any_length() -> None:
    clock = RtpClock(48_000, max_gap_s=None)
    assert [clock.stamp(at, 960) for at in (0.0, 0.02, 60.02)] == [0, 960, 2_880_960]


async def test_sound_queue_drops_the_oldest_and_clears() -> None:
    queue = SoundQueue(size=2)
    info = StreamInfo(1, "audio", "aac", Fraction(1, 16000))
    for i in range(3):
        queue.put(0, Sound(bytes([i]), float(i), info))
    assert queue.dropped == 1
    assert (await queue.get())[1].at == 1.0
    queue.clear()
    assert queue.get_nowait() is None
