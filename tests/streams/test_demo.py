"""The demo:// camera: URL parsing, real-time pacing, decodable keyframes, snapshots."""

from __future__ import annotations

import asyncio
import time

import cv2
import numpy as np
import pytest

from core.config import CameraConfig
from core.errors import SourceRefused
from streams.demo import DemoSource, parse_demo_url
from streams.keyframe import decode_keyframe
from streams.packet import MediaPacket, StreamChange
from streams.snapshot import keyframe_jpeg
from streams.state import CameraState
from tests.streams.camera_helpers import make_camera, running, wait_until


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("demo://pattern", ("pattern", 640, 360, 25)),
        ("demo://pattern?size=1280x720&fps=30", ("pattern", 1280, 720, 30)),
        ("demo://frozen?fps=5", ("frozen", 640, 360, 5)),
        ("demo://", ("pattern", 640, 360, 25)),
    ],
)
def test_parse(url: str, expected: tuple[str, int, int, int]) -> None:
    assert parse_demo_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "demo://nope",
        "demo://pattern?size=641x360",
        "demo://pattern?size=big",
        "demo://pattern?fps=0",
        "demo://pattern?size=99999x2",
    ],
)
def test_parse_refuses(url: str) -> None:
    with pytest.raises(SourceRefused):
        parse_demo_url(url)


def test_source_paces_in_real_time_and_every_keyframe_decodes_alone() -> None:
    source = DemoSource(CameraConfig(id="d", source="demo://pattern?size=320x240&fps=50"))
    (info,) = source.open()
    assert (info.codec, info.width, info.height) == ("h264", 320, 240)
    assert info.extradata is not None and info.extradata.startswith(b"\x00\x00\x00\x01\x67")
    start = time.monotonic()
    packets = [source.read() for _ in range(101)]
    elapsed = time.monotonic() - start
    source.close()
    assert 1.8 < elapsed < 2.6  # 100 frame periods at 50 fps
    assert all(p is not None for p in packets)
    keys = [i for i, p in enumerate(packets) if p and p.is_keyframe]
    assert keys == [0, 50, 100]
    assert [p.pts for p in packets[:3] if p] == [0, 1800, 3600]
    for i in keys:
        image = decode_keyframe(info, packets[i])  # type: ignore[arg-type]
        assert image is not None
        assert image.shape == (240, 320, 3)
    # The pattern moves: two keyframes differ.
    a = decode_keyframe(info, packets[0])  # type: ignore[arg-type]
    b = decode_keyframe(info, packets[50])  # type: ignore[arg-type]
    assert a is not None and b is not None and float(np.abs(a.astype(int) - b.astype(int)).mean()) > 5


async def test_demo_camera_online_and_snapshot() -> None:
    camera, statuses = make_camera("demo://pattern", cam_id="demo")
    async with running(camera):
        await wait_until(lambda: camera.status.state == CameraState.ONLINE, 5, "online")
        await wait_until(lambda: camera.hub.latest_keyframe() is not None, 2, "keyframe")
        async with camera.hub.subscribe("viewer") as sub:
            change = await asyncio.wait_for(sub.get(), 1)
            assert isinstance(change, StreamChange)
            first = await asyncio.wait_for(sub.get(), 1)
            assert isinstance(first, MediaPacket) and first.is_keyframe
            assert decode_keyframe(change.streams[0], first) is not None
        jpeg = await keyframe_jpeg(camera.hub, quality=70)
        assert jpeg is not None and jpeg[:2] == b"\xff\xd8"
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape == (360, 640, 3)
    assert statuses[-1].state == CameraState.ONLINE


async def test_snapshot_none_without_keyframe() -> None:
    camera, _ = make_camera("demo://pattern", cam_id="idle")
    assert await keyframe_jpeg(camera.hub) is None
