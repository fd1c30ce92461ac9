"""What an aiortc viewer receives, kept at the RTP level for measuring lip sync the way a browser
syncs: each stream's RTP times mapped to the sender's clock by its latest RTCP sender report.

The capture hooks the receivers' packet handlers (aiortc's transport looks them up per packet): the
viewer is a real peer (ICE, DTLS, SRTP, RTCP), but its RTP goes to the capture instead of aiortc's
jitter buffer and decoder (which would only cost the shared machine CPU); the analysis decodes the
captured payloads itself with PyAV, keyed by RTP time.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import av
import av.error
import numpy as np
from aiortc import RTCPeerConnection
from aiortc.codecs.h264 import h264_depayload
from aiortc.rtp import RtcpSrPacket, RtpPacket

# A decoded picture brighter than this (mean luma, 0-255) is the test camera's flash frame; its
# grey is 0x60 (96) and white 0xeb (235).
FLASH_LUMA = 180
# A sample louder than this (full scale 1.0) starts the beep; the camera's beep peaks at ~0.37.
BEEP_LEVEL = 0.1
# Sender reports of a stream's first seconds are left out: a new viewer gets the camera's cached
# GOP in a burst, and a report sent then pairs an old frame's RTP time with the present.
SETTLE_S = 2.0


@dataclass
class Stream:
    """One receiver's packets (payload type, sequence number, RTP time, payload) and sender reports."""

    kind: str
    packets: list[tuple[int, int, int, bytes]] = field(default_factory=list)
    arrivals: dict[int, float] = field(default_factory=dict)  # RTP time -> time.monotonic() first seen
    #: (NTP seconds, RTP time, time.monotonic() it came) per sender report.
    reports: list[tuple[float, int, float]] = field(default_factory=list)
    first_packet: float | None = None  # time.monotonic() the first packet came

    def media(self) -> list[tuple[int, int, bytes]]:
        """(sequence, RTP time, payload) of the main payload type (RTX left out), in RTP order."""
        if not self.packets:
            return []
        main = Counter(p[0] for p in self.packets).most_common(1)[0][0]
        return sorted(((seq, ts, data) for pt, seq, ts, data in self.packets if pt == main),
                      key=lambda p: (p[1], p[0]))

    def settled(self) -> list[tuple[float, int]]:
        """(NTP seconds, RTP time) of the sender reports that came SETTLE_S or more after the first packet."""
        begun = self.first_packet
        return [(ntp, rtp) for ntp, rtp, came in self.reports if begun is not None and came >= begun + SETTLE_S]

    def spread(self, clock: int) -> float:
        """How far the settled sender reports disagree (seconds): the sender's timing noise."""
        reports = self.settled()
        first = reports[0][1]
        origins = [ntp - ((rtp - first + 2**31) % 2**32 - 2**31) / clock for ntp, rtp in reports]
        return max(origins) - min(origins)

    def sender_time(self, ts: int, clock: int) -> float:
        """The sender's NTP time (seconds) of RTP time `ts`, by the settled sender reports: the
        median of what each says (a report is stamped when a packet left, so one late send moves
        one report; browsers smooth the same way)."""
        reports = self.settled()
        first = reports[0][1]

        def since_first(rtp: int) -> int:
            return (rtp - first + 2**31) % 2**32 - 2**31  # the RTP clock wraps at 2**32

        origins = sorted(ntp - since_first(rtp) / clock for ntp, rtp in reports)
        return origins[len(origins) // 2] + since_first(ts) / clock


def capture(pc: RTCPeerConnection) -> dict[str, Stream]:
    """Record what each of `pc`'s receivers gets instead of decoding it; call after adding the
    transceivers."""
    streams: dict[str, Stream] = {}
    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        stream = streams[transceiver.kind] = Stream(transceiver.kind)
        receiver._handle_rtp_packet = _rtp_hook(receiver._handle_rtp_packet, stream)  # type: ignore[method-assign]
        receiver._handle_rtcp_packet = _rtcp_hook(receiver._handle_rtcp_packet, stream)  # type: ignore[method-assign]
    return streams


def _rtp_hook(handle: Callable[..., Awaitable[None]], stream: Stream) -> Callable[..., Awaitable[None]]:
    async def hooked(packet: RtpPacket, arrival_time_ms: int) -> None:
        if stream.first_packet is None:
            stream.first_packet = time.monotonic()
        stream.packets.append((packet.payload_type, packet.sequence_number, packet.timestamp, packet.payload))
        stream.arrivals.setdefault(packet.timestamp, time.monotonic())
    return hooked


def _rtcp_hook(handle: Callable[..., Awaitable[None]], stream: Stream) -> Callable[..., Awaitable[None]]:
    async def hooked(packet: Any) -> None:
        if isinstance(packet, RtcpSrPacket):
            ntp = packet.sender_info.ntp_timestamp
            at = (ntp >> 32) + (ntp & 0xFFFFFFFF) / 2**32
            stream.reports.append((at, packet.sender_info.rtp_timestamp, time.monotonic()))
        await handle(packet)
    return hooked


def flashes(video: Stream) -> list[int]:
    """RTP times of the flash frames (H.264 decoded with PyAV, frame by frame)."""
    decoder = av.CodecContext.create("h264", "r")
    found: list[int] = []
    frames: dict[int, bytearray] = {}
    for _seq, ts, payload in video.media():
        frames.setdefault(ts, bytearray()).extend(h264_depayload(payload))
    for ts, data in frames.items():
        try:
            decoded = decoder.decode(av.Packet(bytes(data)))
        except av.error.FFmpegError:
            continue  # before the first keyframe
        for picture in decoded:
            if picture.to_ndarray(format="gray").mean() > FLASH_LUMA:
                found.append(ts)
    return found


def beeps(audio: Stream, codec: str) -> tuple[list[int], int]:
    """RTP times at which beeps start, and the RTP clock rate (codec "PCMA" or "opus")."""
    name, rate, clock = {"PCMA": ("pcm_alaw", 8000, 8000), "opus": ("libopus", 48000, 48000)}[codec]
    decoder = av.CodecContext.create(name, "r")
    decoder.sample_rate = rate
    decoder.layout = "mono" if codec == "PCMA" else "stereo"
    found: list[int] = []
    quiet_until: int | None = None  # RTP time where the last quiet packet ended
    for _seq, ts, payload in audio.media():
        samples = np.concatenate([f.to_ndarray().astype(np.float32).reshape(-1)[::len(f.layout.channels)]
                                  / (32768 if f.format.name.startswith("s16") else 1)
                                  for f in decoder.decode(av.Packet(payload))] or [np.zeros(0)])
        above = np.nonzero(np.abs(samples) > BEEP_LEVEL)[0]
        # A beep counts only where the quiet packet before it arrived too: a beep whose start
        # was not sent (sound dropped as stale on joining) would seem to start late.
        if len(above) and quiet_until == ts:
            found.append(ts + int(above[0]) * clock // rate)
        quiet_until = None if len(above) else ts + len(samples) * clock // rate
    return found, clock


def offsets(video: Stream, audio: Stream, codec: str) -> list[tuple[float, float]]:
    """Per flash with a beep within a second of it: the flash's time on the video's RTP clock
    (seconds after the first video packet) and the beep's time minus the flash's on the sender's
    clock (positive: the sound comes late). Flashes that came in the first SETTLE_S are left out:
    a receiver lines the streams up only once it has sender reports, as the measure does."""
    beep_ts, clock = beeps(audio, codec)
    media = video.media()
    if not media or not beep_ts:
        return []
    first = min(ts for _, ts, _ in media)
    beep_at = [audio.sender_time(ts, clock) for ts in beep_ts]
    pairs = []
    assert video.first_packet is not None
    for ts in flashes(video):
        if video.arrivals[ts] < video.first_packet + SETTLE_S:
            continue
        flash = video.sender_time(ts, 90_000)
        nearest = min(beep_at, key=lambda b: abs(b - flash))
        if abs(nearest - flash) < 1.0:
            pairs.append(((ts - first) / 90_000, nearest - flash))
    return pairs
