"""webrtc/h265.py: RFC 7798 packetization of real x265 access units, back through the depayloader
and PyAV's HEVC decoder; the registration in aiortc's codec table."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from aiortc import RTCRtpSender, rtcrtpsender

from streams.bitstream import START_CODE, nal_units
from webrtc import h265

TB = Fraction(1, 90000)


def hevc_access_units(frames: int, noise: bool) -> list[bytes]:
    """x265 access units (VPS/SPS/PPS in band); noise makes NAL units larger than one packet."""
    ctx = av.CodecContext.create("libx265", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 320, 192, "yuv420p"
    ctx.time_base, ctx.framerate = TB, Fraction(25, 1)
    ctx.options = {"preset": "ultrafast", "x265-params": "keyint=4:repeat-headers=1:log-level=error"}
    rng = np.random.default_rng(7)
    out: list[bytes] = []
    for i in range(frames):
        if noise:
            picture = rng.integers(0, 256, (192, 320, 3), dtype=np.uint8)
        else:
            picture = np.full((192, 320, 3), (i * 20) % 256, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = i * 3600, TB
        out += [bytes(p) for p in ctx.encode(frame)]
    out += [bytes(p) for p in ctx.encode(None)]
    return out


@pytest.mark.parametrize("noise", [False, True])
def test_access_units_survive_packetizing_and_decode(noise: bool) -> None:
    aus = hevc_access_units(6, noise)
    decoder = av.CodecContext.create("hevc", "r")
    decoded = 0
    kinds: set[int] = set()
    for au in aus:
        payloads = h265.packetize(nal_units(au))
        assert payloads and all(len(p) <= h265.PACKET_MAX for p in payloads)
        kinds |= {(p[0] >> 1) & 0x3F for p in payloads}
        rebuilt = b"".join(h265.depayload(p) for p in payloads)
        assert list(nal_units(rebuilt)) == list(nal_units(au))
        assert rebuilt.startswith(START_CODE)
        decoded += len(decoder.decode(av.Packet(rebuilt)))
    decoded += len(decoder.decode(None))
    assert decoded == len(aus)
    # VPS, SPS and PPS share one aggregation packet; x265's SEI and noisy slices need fragmentation
    # units; the small slices of a flat picture go alone.
    assert {h265.AP_TYPE, h265.FU_TYPE} <= kinds
    assert any(kind < 32 for kind in kinds) is not noise


def test_fragments_carry_start_and_end_bits_and_the_nal_header() -> None:
    nal = bytes([0x26, 0x01]) + bytes(range(256)) * 12  # an IDR_W_RADL slice (type 19), 3074 bytes
    payloads = h265.packetize([nal])
    assert len(payloads) == 3
    for i, p in enumerate(payloads):
        assert (p[0] >> 1) & 0x3F == h265.FU_TYPE and p[1] == 0x01
        assert p[2] & 0x3F == 19
        assert bool(p[2] & 0x80) == (i == 0) and bool(p[2] & 0x40) == (i == 2)
    assert b"".join(h265.depayload(p) for p in payloads) == START_CODE + nal


def test_bad_payloads_are_refused() -> None:
    with pytest.raises(ValueError):
        h265.depayload(b"\x60")
    with pytest.raises(ValueError):  # an aggregation packet whose size runs past its end
        h265.depayload(bytes([h265.AP_TYPE << 1, 1, 0, 50, 0x40, 1]))
    with pytest.raises(ValueError):
        h265.depayload(bytes([h265.PACI_TYPE << 1, 1, 0, 0]))


def test_offer_detection() -> None:
    assert h265.offers_h265("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 49\r\na=rtpmap:49 H265/90000\r\n")
    assert not h265.offers_h265("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\n")


def test_registration_puts_h265_in_aiortc_once() -> None:
    h265.register()
    h265.register()
    caps = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == h265.MIME]
    assert len(caps) == 1
    codec = h265.codec_parameters(103)
    assert isinstance(rtcrtpsender.get_encoder(codec), h265.H265Encoder)
    # H.264 still gets aiortc's own encoder.
    h264 = next(c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264")
    assert type(rtcrtpsender.get_encoder(h264)).__name__ == "H264Encoder"  # type: ignore[arg-type]
