"""H.264 and H.265 bitstream helpers: Annex B NAL scanning, parameter sets, avcC to Annex B.

Only what passthrough and access-unit assembly need: nothing here parses an SPS, and of slice
data only the first bit of a slice header (is this the first slice of its picture).
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
H264_IDR = 5
# H.265 Table 7-1 nal_unit_type values.
HEVC_VPS = 32
HEVC_SPS = 33
HEVC_PPS = 34
# IRAP pictures (BLA, IDR, CRA and the reserved IRAP types): where a decoder may start.
HEVC_IRAP = range(16, 24)

# Non-VCL NAL unit types that begin a new access unit when they follow a picture's slices:
# H.264 7.4.1.2.3 (SEI, SPS, PPS, AUD, 14-18) and H.265 7.4.2.4.4 (VPS, SPS, PPS, AUD,
# prefix SEI, 41-44, 48-55). Everything else (end of sequence, filler, suffix SEI) stays.
AU_PREFIX_TYPES: dict[str, frozenset[int]] = {
    "h264": frozenset({6, 7, 8, 9, 14, 15, 16, 17, 18}),
    "hevc": frozenset({32, 33, 34, 35, 39, 41, 42, 43, 44, *range(48, 56)}),
}

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


def with_parameter_sets(access_unit: bytes, sets: bytes | None, codec: str = "h264") -> bytes:
    """An access unit with `sets` (Annex B SPS/PPS, H.265 also VPS) in front, unless it has an SPS
    already."""
    sps = HEVC_SPS if codec == "hevc" else H264_SPS
    if not sets or sps in nal_types(codec, access_unit):
        return access_unit
    return sets + access_unit


def is_vcl(codec: str, kind: int) -> bool:
    """Whether NAL unit type `kind` carries slice data (H.264 1-5, H.265 0-31)."""
    return kind < 32 if codec == "hevc" else 1 <= kind <= 5


def first_nal(data: bytes) -> bytes:
    """The first bytes of the first NAL unit of an Annex B packet (up to 3, header included); empty
    when the packet has no start code."""
    i = data.find(START_CODE_3)
    return data[i + 3:i + 6] if i != -1 else b""


def starts_picture(codec: str, nal: bytes) -> bool:
    """Whether `nal` (its first bytes) opens an access unit once the current one has slices: a
    prefix NAL unit (AUD, parameter sets, SEI...) or the first slice of a new picture."""
    if not nal:
        return False
    kind = nal_type(codec, nal[0])
    if kind in AU_PREFIX_TYPES.get(codec, ()):
        return True
    if not is_vcl(codec, kind):
        return False
    if codec == "hevc":
        # first_slice_segment_in_pic_flag: the first bit after the 2-byte header (H.265 7.3.6.1).
        return len(nal) > 2 and bool(nal[2] & 0x80)
    # first_mb_in_slice is ue(v), the first field after the 1-byte header (H.264 7.3.3); its
    # value is 0 exactly when its code starts with a 1 bit.
    return len(nal) > 1 and bool(nal[1] & 0x80)


def has_random_access(codec: str, data: bytes) -> bool:
    """Whether an Annex B access unit is an IDR picture (H.264) or an IRAP picture (H.265), told by
    its first slice: every slice of a picture has the same type (H.264 7.4.1.2.4, H.265 7.4.2.2),
    so the scan stops there instead of searching the whole picture for start codes."""
    for offset in nal_offsets(data):
        kind = nal_type(codec, data[offset])
        if is_vcl(codec, kind):
            return kind in HEVC_IRAP if codec == "hevc" else kind == H264_IDR
    return False


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


def hvcc_to_annexb(hvcc: bytes) -> bytes | None:
    """The VPS/SPS/PPS (and SEI) of an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1, an
    MP4's hvcC) as Annex B; None when it is cut short."""
    out = bytearray()
    try:
        pos = 22  # the fixed part, ending with lengthSizeMinusOne
        arrays = hvcc[pos]
        pos += 1
        for _ in range(arrays):
            count = int.from_bytes(hvcc[pos + 1:pos + 3], "big")  # after completeness/type
            pos += 3
            for _ in range(count):
                size = int.from_bytes(hvcc[pos:pos + 2], "big")
                if pos + 2 + size > len(hvcc):
                    return None
                out += START_CODE + hvcc[pos + 2:pos + 2 + size]
                pos += 2 + size
    except IndexError:
        return None
    return bytes(out) or None


def extradata_to_annexb(codec: str, extradata: bytes | None) -> bytes | None:
    """A stream's extradata with H.264 avcC and H.265 hvcC (an MP4's, so a recording's) turned into
    Annex B parameter sets; anything else as given."""
    if not extradata:
        return None
    if codec == "h264" and extradata[0] == AVCC_VERSION:
        return avcc_to_annexb(extradata)
    if codec == "hevc" and extradata[0] == 1 and len(extradata) > 22:  # configurationVersion 1: hvcC
        return hvcc_to_annexb(extradata)
    # Annex B already (RTSP sources give sprop-parameter-sets this way), or a form we keep.
    return extradata
