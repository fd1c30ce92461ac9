"""KeyframeDecoder on real H.264: encoded with PyAV here, and from the GStreamer test camera."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import av
import numpy as np
import pytest

from streams import imagecheck
from streams.keyframe import KeyframeDecoder, decode_keyframe
from streams.packet import StreamInfo
from tests.fixtures_camera import CameraServer
from tests.streams.h264 import encode, media_packet, stream_info

W, H = 320, 240


def pictures(n: int = 12) -> list[np.ndarray]:
    """A bar moving right on a mid-grey background, BGR; picture i has the bar at 20 * i."""
    out = []
    for i in range(n):
        img = np.full((H, W, 3), 128, np.uint8)
        img[:, 20 * i : 20 * i + 20] = 255
        out.append(img)
    return out


def bar_position(gray: np.ndarray) -> int:
    """Column where the white bar starts."""
    return int(np.argmax(gray.mean(axis=0) > 200))


@pytest.mark.parametrize(
    ("container", "bframes"),
    [("mp4", 0), ("mp4", 3), ("h264", 0), ("h264", 3)],
    ids=["avcC-extradata", "avcC-extradata-bframes", "in-band-sps-pps", "in-band-sps-pps-bframes"],
)
def test_decodes_each_keyframe_on_its_own(container: str, bframes: int) -> None:
    info, packets = encode(pictures(), container=container, gop=4, bframes=bframes)
    assert (info.extradata is not None) is (container == "mp4")
    keyframes = [p for p in packets if p.is_keyframe]
    assert len(keyframes) == 3  # pictures 0, 4, 8
    decoder = KeyframeDecoder(info)
    # Newest first: each decode stands alone, nothing of the previous call leaks into it.
    for number, packet in zip((8, 4, 0), reversed(keyframes), strict=True):
        gray = decoder.decode_gray(packet)
        assert gray is not None and gray.shape == (H, W)
        assert bar_position(gray) == 20 * number
        # Full range: the background (128 in BGR) stays mid-grey, the bar white.
        assert abs(float(np.median(gray)) - 128) < 4
        bgr = decoder.decode_bgr(packet)
        assert bgr is not None and bgr.shape == (H, W, 3)


def test_non_keyframes_and_garbage_give_none() -> None:
    info, packets = encode(pictures(), container="mp4", gop=4)
    decoder = KeyframeDecoder(info)
    assert decoder.decode(packets[1]) is None
    garbage = dataclasses.replace(packets[0], data=b"\x00\x00\x00\x01\x65" + bytes(range(200)))
    assert decoder.decode(garbage) is None
    assert decoder.decode(packets[0]) is not None  # still usable afterwards


def test_shrinks_while_converting() -> None:
    info, packets = encode(pictures(), container="mp4")
    gray = KeyframeDecoder(info).decode_gray(packets[0], width=160)
    assert gray is not None and gray.shape == (120, 160)


def test_decode_keyframe_convenience_and_bad_stream() -> None:
    info, packets = encode(pictures(), container="h264")
    image = decode_keyframe(info, packets[0])
    assert image is not None and image.shape == (H, W, 3)
    with pytest.raises(ValueError):
        KeyframeDecoder(dataclasses.replace(info, kind="audio"))
    with pytest.raises(ValueError):
        KeyframeDecoder(dataclasses.replace(info, codec="no-such-codec"))


def test_keyframes_from_the_test_camera(camera_server: Callable[..., CameraServer]) -> None:
    server = camera_server({"black": "black", "bars": "smpte"})
    for mount, black in (("black", True), ("bars", False)):
        with av.open(server.url(mount), options={"rtsp_transport": "tcp"}, timeout=(5, 5)) as src:
            stream = src.streams.video[0]
            info: StreamInfo = stream_info(stream)
            keyframes = []
            for packet in src.demux(stream):
                if packet.is_keyframe:
                    keyframes.append(media_packet(packet))
                    if len(keyframes) == 2:
                        break
        decoder = KeyframeDecoder(info)
        for packet in keyframes:
            gray = decoder.decode_gray(packet, width=imagecheck.ANALYSIS_WIDTH)
            assert gray is not None and gray.shape == (90, 160)
            assert imagecheck.is_black(gray, 16.0) is black
        # In-band SPS/PPS alone (what the keyframe carries) are enough, too.
        alone = KeyframeDecoder(dataclasses.replace(info, extradata=None))
        assert alone.decode(keyframes[0]) is not None
