"""H.264 and H.265 bitstream helpers: Annex B NAL scanning, parameter sets, avcC to Annex B.

Only what passthrough needs: nothing here parses an SPS or touches slice data.
Spec references: ITU-T H.264 (Annex B byte stream, 7.3.1 NAL unit header, Table 7-1 types),
ITU-T H.265 (7.3.1.2 NAL unit header, Table 7-1 types), ISO/IEC 14496-15 (avcC).
"""

from __future__ import annotations

from collections.abc import Iterator

# start_code_prefix_one_3bytes (H.264 B.1.1); a leading zero_byte makes the 4-byte form.
START_CODE_3 = b"\x00\x00\x01"
# What we write in front of every NAL unit we emit: the 4-byte form, as x264 and cameras do.
START_CODE = b"\x00\x00\x00\x01"

# H.264 Table 7-1 nal_unit_type values.
H264_SPS = 7
H264_PPS = 8
# H.265 Table 7-1 nal_unit_type values.
HEVC_VPS = 32
HEVC_SPS = 33
HEVC_PPS = 34

# Parameter-set NAL unit types per codec (PyAV/FFmpeg codec names).
PARAMETER_SET_TYPES: dict[str, frozenset[int]] = {
    "h264": frozenset({H264_SPS, H264_PPS}),
    "hevc": frozenset({HEVC_VPS, HEVC_SPS, HEVC_PPS}),
}

# configurationVersion of an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1); an
# Annex B stream starts with a zero byte instead, so the first byte tells the two apart.
AVCC_VERSION = 1


def _start_codes(data: bytes) -> Iterator[int]:
    # Emulation prevention (H.264 7.4.1, H.265 7.4.2) keeps 00 00 01 out of NAL payloads,
    # so a plain search finds exactly the start codes.
    i = data.find(START_CODE_3)
    while i != -1:
        yield i
        i = data.find(START_CODE_3, i + 3)


def nal_offsets(data: bytes) -> Iterator[int]:
    """Where each NAL unit of an Annex B byte stream starts (after 3- or 4-byte start codes)."""
    return (i + 3 for i in _start_codes(data) if i + 3 < len(data))


def nal_units(data: bytes) -> Iterator[bytes]:
    """The NAL units of an Annex B byte stream, without start codes and trailing zero bytes."""
    start: int | None = None
    for i in [*_start_codes(data), len(data)]:
        if start is not None:
            # "The last byte of the NAL unit shall not be equal to 0x00" (H.264 7.4.1), so trailing
            # zeros are trailing_zero_8bits or the zero_byte of the next 4-byte start code (B.2).
            nal = data[start:i].rstrip(b"\x00")
            if nal:
                yield nal
        start = i + 3


def nal_type(codec: str, header: int) -> int:
    """nal_unit_type from the first byte of a NAL unit header of `codec` ("h264" or "hevc")."""
    if codec == "hevc":
        return (header >> 1) & 0x3F  # H.265 7.3.1.2: forbidden_zero_bit, then 6 bits of type
    return header & 0x1F  # H.264 7.3.1: forbidden_zero_bit, nal_ref_idc (2), then 5 bits of type


def nal_types(codec: str, data: bytes) -> set[int]:
    """The NAL unit types present in an Annex B access unit."""
    return {nal_type(codec, data[i]) for i in nal_offsets(data)}


def parameter_sets(codec: str, data: bytes) -> bytes | None:
    """The parameter-set NAL units (SPS/PPS, H.265 also VPS) of an Annex B access unit, as
    Annex B with 4-byte start codes; None when it has none or the codec is neither."""
    kinds = PARAMETER_SET_TYPES.get(codec)
    if kinds is None:
        return None
    out = bytearray()
    for nal in nal_units(data):
        if nal_type(codec, nal[0]) in kinds:
            out += START_CODE + nal
    return bytes(out) or None


def with_parameter_sets(access_unit: bytes, sets: bytes | None) -> bytes:
    """An H.264 access unit with `sets` (Annex B SPS/PPS) in front, unless it has an SPS already."""
    if not sets or H264_SPS in nal_types("h264", access_unit):
        return access_unit
    return sets + access_unit


def avcc_to_annexb(avcc: bytes) -> bytes | None:
    """The SPS and PPS of an avcC record (ISO/IEC 14496-15 5.3.3.1) as Annex B; None if malformed or empty."""
    out = bytearray()
    try:
        # Bytes 0-4: configurationVersion, profile, compatibility, level, lengthSizeMinusOne.
        pos = 5
        # numOfSequenceParameterSets (low 5 bits), then numOfPictureParameterSets (8 bits), each
        # followed by that many 16-bit big-endian lengths and NAL units.
        for count_mask in (0x1F, 0xFF):
            count = avcc[pos] & count_mask
            pos += 1
            for _ in range(count):
                size = int.from_bytes(avcc[pos:pos + 2], "big")
                if pos + 2 + size > len(avcc):  # the length, or the NAL unit, is cut short
                    return None
                out += START_CODE + avcc[pos + 2:pos + 2 + size]
                pos += 2 + size
    except IndexError:
        return None
    return bytes(out) or None


def extradata_to_annexb(codec: str, extradata: bytes | None) -> bytes | None:
    """A stream's extradata with H.264 avcC turned into Annex B SPS/PPS; anything else as given."""
    if not extradata:
        return None
    if codec == "h264" and extradata[0] == AVCC_VERSION:
        return avcc_to_annexb(extradata)
    # Annex B already (RTSP sources give sprop-parameter-sets this way), or a form we keep.
    return extradata
