"""HealthMonitor: sampling rules on crafted packets, and problems seen on the real test camera."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable

import cv2
import numpy as np

from core.clock import ManualClock, SystemClock
from core.config import HealthConfig
from streams.health import UNDECODABLE, UNDECODABLE_AFTER, HealthMonitor
from streams.hub import StreamHub
from streams.packet import MediaPacket, StreamInfo
from tests.fixtures_camera import CameraServer
from tests.streams.h264 import RtspFeeder, encode
from tests.streams.test_imagecheck import scene

INTERVAL = 0.5


async def until(predicate: Callable[[], bool], limit_s: float = 5.0) -> None:
    """Wait (polling the loop) until `predicate()` holds."""
    async with asyncio.timeout(limit_s):
        # Polling: the predicates read plain counters of the code under test, no event exists.
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(monitor: HealthMonitor, hub: StreamHub) -> AsyncIterator[asyncio.Task[None]]:
    """The monitor's run() as a task, subscribed, cancelled on exit."""
    task = asyncio.create_task(monitor.run())
    try:
        await until(lambda: hub.subscriber_count == 1)
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert hub.subscriber_count == 0


def keyframes(pictures: list[np.ndarray]) -> tuple[StreamInfo, list[MediaPacket]]:
    """Every picture as its own keyframe."""
    info, packets = encode([cv2.cvtColor(p, cv2.COLOR_GRAY2BGR) for p in pictures], gop=1)
    assert all(p.is_keyframe for p in packets)
    return info, packets


# --- sampling rules, on a ManualClock --------------------------------------------------------


async def test_one_keyframe_per_interval_and_stream_changes() -> None:
    clock = ManualClock()
    hub = StreamHub("cam", 64)
    reports: list[tuple[str, ...]] = []
    monitor = HealthMonitor("cam", hub, HealthConfig(sample_interval_s=INTERVAL, frozen_samples=3, reference_after_samples=2), clock, reports.append)
    info, (good, good2, black) = keyframes([scene(1), scene(1), np.zeros((360, 640), np.uint8)])
    async with running(monitor, hub):
        hub.set_streams((info,))
        hub.publish(good)
        await until(lambda: monitor.samples == 1)
        # Within the interval every keyframe is passed over, the black one too.
        for packet in (good2, black, black):
            hub.publish(packet)
        await until(lambda: monitor.keyframes == 4)
        assert monitor.samples == 1
        clock.advance(INTERVAL)
        hub.publish(good)
        await until(lambda: monitor.samples == 2)
        assert reports == []
        assert monitor.checker.reference is not None  # reference_after_samples = 2

        # Reconnect, same size: the reference stays, the first keyframe is sampled at once.
        reference = monitor.checker.reference
        hub.set_streams((info,))
        hub.publish(black)
        await until(lambda: monitor.samples == 3)
        assert reports == [("black",)]
        assert monitor.checker.reference is reference

        # Camera gone: no picture, no image problem.
        hub.set_streams((), "stalled")
        await until(lambda: len(reports) == 2)
        assert reports[-1] == ()

        # Back with another resolution: a new reference will be learned.
        hub.set_streams((dataclasses.replace(info, width=1280, height=720),))
        await until(lambda: monitor.checker.reference is None)


async def test_undecodable_keyframes_are_counted_not_fatal() -> None:
    hub = StreamHub("cam", 64)
    reports: list[tuple[str, ...]] = []
    monitor = HealthMonitor(
        "cam", hub, HealthConfig(sample_interval_s=INTERVAL, frozen_samples=3, reference_after_samples=2), ManualClock(), reports.append
    )
    info, (good,) = keyframes([scene(1)])
    async with running(monitor, hub) as task:
        hub.set_streams((dataclasses.replace(info, codec="no-such-codec"),))  # no decoder: ignored
        hub.publish(good)
        hub.set_streams((info,))
        hub.publish(dataclasses.replace(good, data=b"\x00\x00\x00\x01\x65" + bytes(100)))
        await until(lambda: monitor.decode_failures == 1)
        assert not task.done()
    assert reports == [] and monitor.samples == 0


async def test_a_picture_that_keeps_failing_to_decode_is_a_problem() -> None:
    """Five sampled keyframes in a row that do not decode (a camera sending garbage): the problem
    `undecodable`; a good one clears it."""
    hub = StreamHub("cam", 64)
    reports: list[tuple[str, ...]] = []
    monitor = HealthMonitor(
        "cam", hub, HealthConfig(sample_interval_s=INTERVAL, frozen_samples=3, reference_after_samples=2), ManualClock(), reports.append
    )
    info, (good,) = keyframes([scene(1)])
    garbage = dataclasses.replace(good, data=b"\x00\x00\x00\x01\x65" + bytes(100))
    async with running(monitor, hub):
        hub.set_streams((info,))
        for n in range(1, UNDECODABLE_AFTER):
            hub.publish(garbage)  # a failed sample tries the next keyframe at once
            await until(lambda n=n: monitor.decode_failures == n)  # type: ignore[misc]
        assert reports == []  # four in a row: a P-frame flagged as a keyframe now and then is no problem
        hub.publish(garbage)
        await until(lambda: reports == [(UNDECODABLE,)])
        hub.publish(good)
        await until(lambda: reports == [(UNDECODABLE,), ()])


# --- end to end on the GStreamer test camera -------------------------------------------------

MOUNTS = {"ball": "ball", "smpte": "smpte", "black": "black", "snow": "snow", "blur": "blur"}


class Watched:
    """One monitored camera fed from a test-camera mount."""

    def __init__(self, server: CameraServer, mount: str) -> None:
        loop = asyncio.get_running_loop()
        self.hub = StreamHub(mount, 64)
        self.reports: list[tuple[str, ...]] = []
        config = HealthConfig(sample_interval_s=INTERVAL, frozen_samples=3, reference_after_samples=2)
        self.monitor = HealthMonitor(mount, self.hub, config, SystemClock(), self.reports.append)
        self.server = server
        self.feeder = RtspFeeder(
            server.url(mount), self.hub.set_streams, self.hub.publish, loop.call_soon_threadsafe
        )

    def seen(self, problem: str) -> bool:
        return any(problem in r for r in self.reports)

    def switch(self, mount: str) -> None:
        self.feeder.switch(self.server.url(mount))


async def test_problems_on_the_test_camera(camera_server: Callable[..., CameraServer]) -> None:
    server = camera_server(MOUNTS)
    cams = {
        name: Watched(server, mount)
        for name, mount in [
            ("ball", "ball"),
            ("smpte", "smpte"),
            ("black", "black"),
            ("blur", "blur"),
            ("moved", "ball"),
            ("covered", "ball"),
        ]
    }
    async with contextlib.AsyncExitStack() as stack:
        for cam in cams.values():
            await stack.enter_async_context(running(cam.monitor, cam.hub))
            cam.feeder.start()
            stack.callback(cam.feeder.stop)

        async def expect(name: str, problem: str) -> None:
            cam = cams[name]
            await until(lambda: cam.seen(problem), limit_s=20)

        async def switch_after_reference(name: str, mount: str) -> None:
            cam = cams[name]
            await until(lambda: cam.monitor.checker.reference is not None, limit_s=20)
            cam.switch(mount)

        # The camera sends a keyframe every 2 s (GOP 50 at 25 fps), so with a 0.5 s interval
        # every keyframe is sampled: frozen needs 3 samples, the reference 2.
        await asyncio.gather(
            expect("smpte", "frozen"),
            expect("black", "black"),
            expect("blur", "blurred"),
            switch_after_reference("moved", "snow"),
            switch_after_reference("covered", "black"),
        )
        await asyncio.gather(expect("moved", "scene_changed"), expect("covered", "black"))
        await until(lambda: cams["ball"].monitor.samples >= 4, limit_s=20)

    for cam in cams.values():
        assert cam.feeder.error is None, cam.feeder.error
    assert cams["ball"].reports == []
    assert cams["smpte"].reports == [("frozen",)]
    assert cams["black"].reports == [("black",)]
    # The blurred ball is huge: some samples are all white, i.e. blank, not blurred.
    assert set(cams["blur"].reports[0]) <= {"blank", "blurred"}
    assert cams["moved"].reports == [("scene_changed",)]
    assert cams["covered"].reports == [("black",)]
    for name, cam in cams.items():
        # x264 scene cuts on snow come as P-frames flagged keyframe: those cannot decode.
        if name != "moved":
            assert cam.monitor.decode_failures == 0, name
        # At most one decode per keyframe, never one per frame.
        assert 0 < cam.monitor.samples + cam.monitor.decode_failures <= cam.monitor.keyframes
