"""H.265 over RTP (RFC 7798) for aiortc, which knows only VP8 and H.264: a payloader for passthrough
senders, the matching depayloader, and the registration that puts "video/H265" into aiortc's codec
table.

Packetization as RFC 7798 4.4 has it, without DONL (sprop-max-don-diff 0: NAL units in decoding
order): a NAL unit that fits goes alone (single NAL unit packet); small ones in a row share an
aggregation packet (type 48, as aiortc's H.264 does with STAP-A); a large one is cut into
fragmentation units (type 49). Parameter sets travel in band: the track puts VPS/SPS/PPS in front
of every keyframe that lacks them. aiortc sets the marker bit on a frame's last packet.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from struct import pack

import av
from aiortc import codecs as aiortc_codecs
from aiortc import rtcrtpsender
from aiortc.codecs.base import Encoder
from aiortc.mediastreams import VIDEO_TIME_BASE, convert_timebase
from aiortc.rtcrtpparameters import RTCRtcpFeedback, RTCRtpCodecParameters
from av.frame import Frame

from streams.bitstream import START_CODE, nal_units

MIME = "video/H265"
# The largest RTP payload, as aiortc's own packetizers use (room for SRTP and headers under a 1500 MTU).
PACKET_MAX = 1300
NAL_HEADER = 2
AP_TYPE = 48  # aggregation packet (RFC 7798 4.4.2)
FU_TYPE = 49  # fragmentation unit (4.4.3)
PACI_TYPE = 50  # payload content information (4.4.4): never sent here
AP_MAX_NALS = 9  # as aiortc's STAP-A: a bound on how much one lost packet takes with it


def offers_h265(sdp: str) -> bool:
    """Whether an SDP offer lists H.265 (`a=rtpmap:N H265/90000`) at all."""
    return re.search(r"^a=rtpmap:\d+ H265/90000", sdp, re.IGNORECASE | re.MULTILINE) is not None


def _nal_type(header: int) -> int:
    return (header >> 1) & 0x3F


def _fragment(nal: bytes) -> list[bytes]:
    """A NAL unit too large for one packet as fragmentation units of even size."""
    # PayloadHdr: the NAL unit's F bit and LayerId/TID, type 49; then the FU header: S, E, FuType.
    header = bytes([(nal[0] & 0x81) | (FU_TYPE << 1), nal[1]])
    kind = _nal_type(nal[0])
    body = memoryview(nal)[NAL_HEADER:]
    room = PACKET_MAX - NAL_HEADER - 1
    count = -(-len(body) // room)
    size, larger = divmod(len(body), count)
    out: list[bytes] = []
    offset = 0
    for i in range(count):
        end = offset + size + (1 if i < larger else 0)
        flags = (0x80 if i == 0 else 0) | (0x40 if i == count - 1 else 0)
        out.append(header + bytes([flags | kind]) + body[offset:end])
        offset = end
    return out


def _aggregate(nals: list[bytes]) -> bytes:
    """Small NAL units as one aggregation packet: F is any unit's, LayerId and TID the lowest."""
    forbidden = any(n[0] & 0x80 for n in nals)
    layer = min(((n[0] & 0x01) << 5) | (n[1] >> 3) for n in nals)
    tid = min(n[1] & 0x07 for n in nals)
    header = bytes([(0x80 if forbidden else 0) | (AP_TYPE << 1) | (layer >> 5), ((layer & 0x1F) << 3) | tid])
    return header + b"".join(pack("!H", len(n)) + n for n in nals)


def packetize(nals: Iterable[bytes]) -> list[bytes]:
    """RTP payloads for the NAL units of one access unit (without start codes)."""
    out: list[bytes] = []
    batch: list[bytes] = []
    for nal in nals:
        if len(nal) <= NAL_HEADER:
            continue  # no NAL unit is that short; nothing a receiver could use
        if len(nal) > PACKET_MAX:
            out += _flush(batch)
            out += _fragment(nal)
            continue
        # An aggregation packet: its 2-byte header, then a 2-byte size before every unit.
        if batch and (NAL_HEADER + sum(2 + len(n) for n in batch) + 2 + len(nal) > PACKET_MAX
                      or len(batch) >= AP_MAX_NALS):
            out += _flush(batch)
        batch.append(nal)
    return out + _flush(batch)


def _flush(batch: list[bytes]) -> list[bytes]:
    """The NAL units waiting to be sent: one alone as it is, several aggregated; empties `batch`."""
    out = [batch[0]] if len(batch) == 1 else [_aggregate(batch)] if batch else []
    batch.clear()
    return out


def depayload(payload: bytes) -> bytes:
    """One RTP payload back as Annex B: whole NAL units with start codes, or a fragment's bytes
    (the first fragment with a start code and the rebuilt NAL header). Raises ValueError."""
    if len(payload) < NAL_HEADER + 1:
        raise ValueError("H.265 RTP payload too short")
    kind = _nal_type(payload[0])
    if kind == AP_TYPE:
        out = bytearray()
        pos = NAL_HEADER
        while pos + 2 <= len(payload):
            size = int.from_bytes(payload[pos:pos + 2], "big")
            pos += 2
            if size < NAL_HEADER or pos + size > len(payload):
                raise ValueError("H.265 aggregation packet cut short")
            out += START_CODE + payload[pos:pos + size]
            pos += size
        return bytes(out)
    if kind == FU_TYPE:
        fu = payload[2]
        if fu & 0x80:  # the first fragment: rebuild the NAL unit header from PayloadHdr and FuType
            header = bytes([(payload[0] & 0x81) | ((fu & 0x3F) << 1), payload[1]])
            return START_CODE + header + payload[3:]
        return payload[3:]
    if kind == PACI_TYPE:
        raise ValueError("H.265 PACI packets are not supported")
    return START_CODE + payload


class H265Encoder(Encoder):
    """aiortc's encoder interface for passthrough: `pack` packetizes an H.265 access unit; nothing
    is ever encoded here (Pantau does not transcode on this path)."""

    def encode(self, frame: Frame, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        raise NotImplementedError("H.265 is passed through, never encoded")

    def pack(self, packet: av.Packet) -> tuple[list[bytes], int]:
        assert packet.pts is not None and packet.time_base is not None
        timestamp = convert_timebase(packet.pts, packet.time_base, VIDEO_TIME_BASE)
        return packetize(nal_units(bytes(packet))), timestamp


def codec_parameters(payload_type: int) -> RTCRtpCodecParameters:
    """H.265 as aiortc describes a codec: 90 kHz, NACK, PLI and REMB feedback like its H.264. No
    fmtp: RFC 7798's defaults (Main profile, Main tier, level 3.1) are what the answer says."""
    return RTCRtpCodecParameters(
        mimeType=MIME, clockRate=90000, payloadType=payload_type,
        rtcpFeedback=[RTCRtcpFeedback(type="nack"), RTCRtcpFeedback(type="nack", parameter="pli"),
                      RTCRtcpFeedback(type="goog-remb")],
    )


def register() -> None:
    """Put H.265 (and its RTX) into aiortc's codec table and our payloader behind its senders.

    aiortc has no codec registry to extend: its table (`aiortc.codecs.CODECS`) and the encoder
    lookup that `rtcrtpsender` imported are module globals, so this changes them for the whole
    process. Safe to call again. Every Pantau session names the codecs it negotiates
    (setCodecPreferences), so H.265 is only ever answered where a session asks for it.
    """
    video = aiortc_codecs.CODECS["video"]
    if any(c.mimeType.lower() == MIME.lower() for c in video):
        return
    payload_type = max(c.payloadType for c in video if c.payloadType is not None) + 1
    video.append(codec_parameters(payload_type))
    video.append(RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=payload_type + 1,
                                       parameters={"apt": payload_type}))
    original: Callable[[RTCRtpCodecParameters], Encoder] = rtcrtpsender.get_encoder

    def get_encoder(codec: RTCRtpCodecParameters) -> Encoder:
        if codec.mimeType.lower() == MIME.lower():
            return H265Encoder()
        return original(codec)

    rtcrtpsender.get_encoder = get_encoder  # type: ignore[assignment]
