"""streams.bitstream: Annex B NAL scanning, parameter sets and avcC, on hand-built and libx264 bytes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.bitstream import (
    START_CODE,
    avcc_to_annexb,
    extradata_to_annexb,
    nal_types,
    nal_units,
    parameter_sets,
    with_parameter_sets,
)
from tests.streams.h264 import encode

S3, S4 = b"\x00\x00\x01", START_CODE
# H.264 NAL units: header byte (nal_ref_idc, nal_unit_type) and a few payload bytes.
SPS = b"\x67\x64\x00\x0a\xac\xb4"  # type 7
SPS2 = b"\x67\x4d\x00\x28\xaa"  # type 7, a second SPS id
PPS = b"\x68\xeb\xe3\xcb"  # type 8
PPS2 = b"\x68\xee\x3c\x80"  # type 8
SEI = b"\x06\x05\x10\x80"  # type 6
# H.265 parameter sets: two-byte headers with nal_unit_type 32 (VPS), 33 (SPS), 34 (PPS).
VPS265 = b"\x40\x01\x0c\x01\xff\xff"
SPS265 = b"\x42\x01\x01\x01\x60\x00"
PPS265 = b"\x44\x01\xc1\x72\xb4"


def hvcc(nals: list[bytes]) -> bytes:
    """An HEVCDecoderConfigurationRecord: 22 fixed bytes, then one array per NAL unit."""
    out = bytearray(b"\x01" + bytes(20) + b"\x0f") + bytes([len(nals)])
    for nal in nals:
        out += bytes([0x80 | (nal[0] >> 1) & 0x3F]) + (1).to_bytes(2, "big") + len(nal).to_bytes(2, "big") + nal
    return bytes(out)
IDR = b"\x65\x88\x84\x00\x21"  # type 5
SLICE = b"\x41\x9a\x00\x33"  # type 1
AUD = b"\x09\xf0"  # type 9
# H.265 NAL units: the type sits in bits 1-6 of the first header byte, then a second header byte.
VPS = b"\x40\x01\x0c\x01"  # type 32
HSPS = b"\x42\x01\x01\x01"  # type 33
HPPS = b"\x44\x01\xc1\x72"  # type 34
HIDR = b"\x26\x01\xaf\x09"  # type 19 (IDR_W_RADL)


def annexb(*nals: bytes, start: bytes = S4) -> bytes:
    return b"".join(start + nal for nal in nals)


def avcc(sps: list[bytes], pps: list[bytes], tail: bytes = b"") -> bytes:
    """An AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1), 4-byte NAL lengths."""
    # Reserved bits are 1: 0xFC | lengthSizeMinusOne, 0xE0 | numOfSequenceParameterSets.
    out = bytes([1, 0x64, 0x00, 0x0A, 0xFF, 0xE0 | len(sps)])
    out += b"".join(len(n).to_bytes(2, "big") + n for n in sps)
    out += bytes([len(pps)]) + b"".join(len(n).to_bytes(2, "big") + n for n in pps)
    return out + tail


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (annexb(SPS, PPS, IDR), [SPS, PPS, IDR]),
        (annexb(SPS, PPS, IDR, start=S3), [SPS, PPS, IDR]),
        (S4 + SPS + S3 + PPS + S4 + IDR, [SPS, PPS, IDR]),  # both forms in one access unit
        (annexb(AUD, SLICE) + b"\x00\x00", [AUD, SLICE]),  # trailing_zero_8bits
        (b"\x00\x00" + annexb(SLICE), [SLICE]),  # leading_zero_8bits
        (b"\xff\xfe" + S3 + SLICE, [SLICE]),  # bytes before the first start code are no NAL unit
        (annexb(SLICE) + S3, [SLICE]),  # a start code at the very end starts nothing
        (S4 + S4 + IDR, [IDR]),  # an empty NAL unit is skipped
        (b"", []),
        (SLICE, []),  # no start code: not Annex B
    ],
)
def test_nal_units(data: bytes, expected: list[bytes]) -> None:
    assert list(nal_units(data)) == expected


@pytest.mark.parametrize(
    ("codec", "data", "expected"),
    [
        ("h264", annexb(AUD, SPS, PPS, SEI, IDR), {9, 7, 8, 6, 5}),
        ("h264", annexb(SLICE, start=S3), {1}),
        ("h264", b"", set()),
        ("hevc", annexb(VPS, HSPS, HPPS, HIDR), {32, 33, 34, 19}),
    ],
)
def test_nal_types(codec: str, data: bytes, expected: set[int]) -> None:
    assert nal_types(codec, data) == expected


@pytest.mark.parametrize(
    ("codec", "data", "expected"),
    [
        ("h264", annexb(SPS, PPS, IDR), annexb(SPS, PPS)),
        ("h264", annexb(AUD, SPS, PPS, SEI, IDR, start=S3), annexb(SPS, PPS)),  # written with 4-byte codes
        ("h264", annexb(SPS, SPS2, PPS, PPS2, IDR) + b"\x00", annexb(SPS, SPS2, PPS, PPS2)),
        ("h264", annexb(SLICE), None),
        ("h264", b"", None),
        ("hevc", annexb(VPS, HSPS, HPPS, HIDR, start=S3), annexb(VPS, HSPS, HPPS)),
        ("hevc", annexb(HIDR), None),
        # The H.264 rule would read 0x40 (VPS) as type 0 and 0x42 as type 2: none is a parameter set.
        ("h264", annexb(VPS, HSPS, HPPS), None),
        ("mjpeg", annexb(SPS, PPS), None),
    ],
)
def test_parameter_sets(codec: str, data: bytes, expected: bytes | None) -> None:
    assert parameter_sets(codec, data) == expected


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (avcc([SPS], [PPS]), annexb(SPS, PPS)),
        (avcc([SPS, SPS2], [PPS, PPS2]), annexb(SPS, SPS2, PPS, PPS2)),
        (avcc([SPS], [PPS, PPS2]), annexb(SPS, PPS, PPS2)),
        # High profiles append chroma_format and SPS extensions after the PPS: not ours to read.
        (avcc([SPS], [PPS], tail=b"\xfd\xf8\xf8\x00"), annexb(SPS, PPS)),
        (avcc([], []), None),
        (avcc([SPS], [PPS])[:-2], None),  # the PPS is cut short
        (avcc([SPS], [PPS])[:7], None),  # the SPS length is cut short
        (avcc([SPS], [PPS])[:-len(PPS) - 2], None),  # a PPS is counted, but nothing follows
        (avcc([SPS], [PPS])[:5], None),  # no numOfSequenceParameterSets
        (b"", None),
    ],
)
def test_avcc_to_annexb(record: bytes, expected: bytes | None) -> None:
    assert avcc_to_annexb(record) == expected


@pytest.mark.parametrize(
    ("codec", "extradata", "expected"),
    [
        ("h264", None, None),
        ("h264", b"", None),
        ("h264", annexb(SPS, PPS), annexb(SPS, PPS)),  # RTSP sprop-parameter-sets: kept
        ("h264", annexb(SPS, PPS, start=S3), annexb(SPS, PPS, start=S3)),
        ("h264", avcc([SPS, SPS2], [PPS]), annexb(SPS, SPS2, PPS)),
        ("h264", avcc([SPS], [PPS])[:-1], None),  # a broken avcC gives nothing rather than half a PPS
        # A record too short to be an hvcC is kept as given; a real one (a recording's) is converted.
        ("hevc", b"\x01\x01\x60\x00\x00\x00", b"\x01\x01\x60\x00\x00\x00"),
        ("hevc", hvcc([VPS265, SPS265, PPS265]), annexb(VPS265, SPS265, PPS265)),
        ("hevc", hvcc([VPS265, SPS265, PPS265])[:-1], None),
        ("aac", b"\x12\x10", b"\x12\x10"),
    ],
)
def test_extradata_to_annexb(codec: str, extradata: bytes | None, expected: bytes | None) -> None:
    assert extradata_to_annexb(codec, extradata) == expected


@pytest.mark.parametrize(
    ("access_unit", "sets", "expected"),
    [
        (annexb(IDR), annexb(SPS, PPS), annexb(SPS, PPS, IDR)),
        (annexb(SEI, IDR, start=S3), annexb(SPS, PPS), annexb(SPS, PPS) + annexb(SEI, IDR, start=S3)),
        (annexb(SPS, PPS, IDR), annexb(SPS2, PPS2), annexb(SPS, PPS, IDR)),  # has its own SPS
        (annexb(IDR), None, annexb(IDR)),
        (annexb(IDR), b"", annexb(IDR)),
    ],
)
def test_with_parameter_sets(access_unit: bytes, sets: bytes | None, expected: bytes) -> None:
    assert with_parameter_sets(access_unit, sets) == expected


def escaped(rbsp: bytes) -> bytes:
    """RBSP bytes as NAL payload: emulation_prevention_three_byte after 00 00 (H.264 7.4.1)."""
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


# A NAL unit: a header byte with forbidden_zero_bit 0, an escaped payload, rbsp_stop_one_bit.
nal_strategy = st.builds(lambda header, payload: bytes([header]) + escaped(payload + b"\x80"),
                         st.integers(1, 0x7F), st.binary(max_size=40))


@given(st.lists(st.tuples(nal_strategy, st.sampled_from([S3, S4])), max_size=8), st.integers(0, 3))
def test_any_annexb_stream_splits_into_its_nal_units(nals: list[tuple[bytes, bytes]], trailing: int) -> None:
    data = b"".join(start + nal for nal, start in nals) + b"\x00" * trailing
    assert list(nal_units(data)) == [nal for nal, _ in nals]


@given(st.lists(nal_strategy, max_size=31), st.lists(nal_strategy, max_size=5))
def test_any_avcc_gives_its_sets_in_order(sps: list[bytes], pps: list[bytes]) -> None:
    expected = annexb(*sps, *pps) or None
    assert avcc_to_annexb(avcc(sps, pps)) == expected


def test_libx264_avcc_and_in_band_parameter_sets_agree() -> None:
    # The same pictures to MP4 (avcC extradata) and to a raw .h264 stream (SPS/PPS in band).
    pictures = [np.full((64, 96, 3), 40 * i, np.uint8) for i in range(3)]
    in_mp4, _ = encode(pictures, container="mp4", gop=1)
    _, raw = encode(pictures, container="h264", gop=1)
    assert in_mp4.extradata is not None and in_mp4.extradata[0] == 1
    from_avcc = avcc_to_annexb(in_mp4.extradata)
    assert from_avcc is not None and nal_types("h264", from_avcc) == {7, 8}
    assert parameter_sets("h264", raw[0].data) == from_avcc
    assert extradata_to_annexb("h264", in_mp4.extradata) == from_avcc
    assert with_parameter_sets(raw[0].data, from_avcc) == raw[0].data  # the keyframe has its SPS
