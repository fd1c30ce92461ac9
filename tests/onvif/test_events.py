"""ONVIF events against the SOAP replay device: subscription, renewal, loss, Unsubscribe, topics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from core.clock import SystemClock
from core.config import CameraConfig, EventsConfig, HealthConfig
from camera_events.service import EventService
from onvif_adapters.client import OnvifClient
from onvif_adapters.subscription import CameraEvent, EventSubscriber, SubscriptionSettings
from onvif_adapters.topics import EventKind
from streams.camera import Camera
from tests.fixtures_camera import SilentCamera
from tests.onvif.soap_replay import EventDevice

# Short enough that renewal and loss happen within a test, long enough for a loaded machine (4 s: a
# renewal held up a second or two still comes before the device drops the subscription).
FAST = SubscriptionSettings(termination_s=4.0, pull_timeout_s=1.0, retry_initial_s=0.2, retry_max_s=1.0)


@pytest.fixture
async def device() -> AsyncIterator[EventDevice]:
    async with EventDevice() as dev:
        yield dev
    assert dev.problems == []


class Collected:
    def __init__(self) -> None:
        self.events: list[CameraEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: CameraEvent) -> None:
        self.events.append(event)
        self._changed.set()

    async def until(self, count: int, within: float = 10.0) -> list[CameraEvent]:
        async with asyncio.timeout(within):
            while len(self.events) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.events


def subscriber(dev: EventDevice, emit: Collected) -> EventSubscriber:
    return EventSubscriber(
        "gate", lambda: OnvifClient(dev.host, dev.port, dev.user, dev.password, timeout_s=5.0),
        SystemClock(), emit, FAST,
    )


async def test_subscribes_renews_before_expiry_and_unsubscribes_on_stop(device: EventDevice) -> None:
    events = Collected()
    sub = subscriber(device, events)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(sub.run())
        # Three renewals of a 4 s subscription: well past its first expiry, still the same one.
        await device.wait_for(lambda: device.renewed >= 3, within=15)
        assert device.created == 1 and device.live == 1 and device.faults == 0
        device.push("tamper")
        (event,) = await events.until(1)
        assert (event.camera, event.kind, event.active) == ("gate", EventKind.TAMPER, True)
        assert event.topic == "tns1:RuleEngine/CellMotionDetector/Tamper"
        assert event.source["Rule"] == "MyTamperDetectorRule" and event.data == {"IsTamper": "true"}
        task.cancel()
    assert device.live == 0 and device.unsubscribed == 1
    assert sub.renewals >= 3


async def test_resubscribes_after_the_camera_forgets_the_subscription(device: EventDevice) -> None:
    events = Collected()
    sub = subscriber(device, events)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(sub.run())
        await device.wait_for(lambda: device.created == 1 and sub.state == "subscribed")
        device.reboot()  # the camera restarted: our subscription is unknown to it now
        await device.wait_for(lambda: device.created == 2 and device.live == 1, within=15)
        assert device.faults >= 1
        device.push("motion")
        (event,) = await events.until(1)
        assert event.kind is EventKind.MOTION and event.active
        task.cancel()
    # Nothing left behind on the camera: the lost one is gone, the new one unsubscribed.
    assert device.live == 0 and device.unsubscribed == 1


async def test_a_change_made_while_unsubscribed_arrives_as_the_next_subscriptions_initial_state(
    device: EventDevice,
) -> None:
    events = Collected()
    sub = subscriber(device, events)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(sub.run())
        await device.wait_for(lambda: sub.state == "subscribed")
        device.push("tamper", "true")
        await events.until(1)
        device.reboot()  # our subscription is gone ...
        device.push("tamper", "false")  # ... when the tamper clears: no subscription hears it
        cleared = (await events.until(2, within=15))[1]
        task.cancel()
    assert (cleared.kind, cleared.active, cleared.initial) == (EventKind.TAMPER, False, True)
    assert device.created == 2


async def test_topics_map_to_kinds_and_unknown_ones_are_kept(device: EventDevice) -> None:
    events = Collected()
    sub = subscriber(device, events)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(sub.run())
        await device.wait_for(lambda: sub.state == "subscribed")
        device.push("video_loss", "true")
        device.push("digital_input", "false")
        device.push("motion", "false")
        device.push("other", "1")
        got = await events.until(4)
        task.cancel()
    assert [(e.kind, e.active) for e in got] == [
        (EventKind.VIDEO_LOSS, True),
        (EventKind.DIGITAL_INPUT, False),
        (EventKind.MOTION, False),
        (EventKind.OTHER, True),
    ]
    assert got[3].topic == "tnsaxis:CameraApplicationPlatform/VMD/Camera1Profile1"
    assert got[0].source == {"Source": "VideoSource_1"}


async def test_a_camera_without_an_event_service_ends_quietly(onvif_device: object) -> None:
    from tests.fixtures_onvif import OnvifDevice

    assert callable(onvif_device)
    dev: OnvifDevice = onvif_device()  # ipycam: device, media, PTZ; no events
    sub = EventSubscriber(
        "ptz-cam", lambda: OnvifClient(dev.host, dev.port, dev.user, dev.password, timeout_s=5.0),
        SystemClock(), Collected(), FAST,
    )
    async with asyncio.timeout(10):
        await sub.run()
    assert sub.state == "no event service"


async def test_a_hanging_camera_delays_no_other_and_a_non_onvif_camera_gets_no_subscription(
    device: EventDevice, silent_camera: SilentCamera
) -> None:
    clock = SystemClock()
    health = HealthConfig()
    cameras = {
        cid: Camera(CameraConfig(id=cid, source="rtsp://127.0.0.1:9/x"), health, 16, clock)
        for cid in ("good", "silent", "plain")
    }
    factories: dict[str, Callable[[], OnvifClient]] = {
        "good": lambda: OnvifClient(device.host, device.port, device.user, device.password, timeout_s=5.0),
        # Accepts the connection, never answers: every call runs into the client's timeout.
        "silent": lambda: OnvifClient("127.0.0.1", silent_camera.port, "admin", "x", timeout_s=3.0),
    }
    settings = EventsConfig(subscription_s=2, pull_timeout_s=1, retry_initial_s=0.2, retry_max_s=1)
    service = EventService(settings, clock, cameras, lambda cam: factories.get(cam.id))
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(service.run())
        await device.wait_for(lambda: device.live == 1)
        with service.listen(lambda camera_id: True) as listener:
            device.push("video_loss")
            event = await asyncio.wait_for(listener.queue.get(), 5)
        assert event is not None
        assert (event.camera, event.kind, event.active) == ("good", EventKind.VIDEO_LOSS, True)
        assert set(service.subscribers) == {"good", "silent"}  # "plain" is not an ONVIF camera
        assert service.subscribers["silent"].state != "subscribed"
        task.cancel()
    assert device.live == 0


async def test_several_nodes_subscribe_a_camera_only_on_the_node_that_holds_its_lease(device: EventDevice) -> None:
    """Several nodes: a camera's events are subscribed by the node that ingests it (`here`), so the
    shared event store gets each event once; the subscription follows the lease as the keeper moves it
    (gateway/clusterwiring.py FleetIngest calls camera_added / camera_removed)."""
    clock = SystemClock()
    cameras = {cid: Camera(CameraConfig(id=cid, source="rtsp://127.0.0.1:9/x"), HealthConfig(), 16, clock)
               for cid in ("mine", "theirs")}
    held = {"mine"}
    settings = EventsConfig(subscription_s=2, pull_timeout_s=1, retry_initial_s=0.2, retry_max_s=1)
    service = EventService(settings, clock, cameras,
                           lambda cam: lambda: OnvifClient(device.host, device.port, device.user, device.password,
                                                           timeout_s=5.0),
                           here=held.__contains__)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(service.run())
        await device.wait_for(lambda: device.live == 1)
        assert set(service.subscribers) == {"mine"}
        held.add("theirs")  # this node takes the other camera's lease
        service.camera_added(cameras["theirs"])
        await device.wait_for(lambda: device.live == 2)
        held.discard("mine")  # and loses its first: unsubscribed before its sources close
        await service.camera_removed(cameras["mine"])
        assert set(service.subscribers) == {"theirs"}
        await device.wait_for(lambda: device.live == 1)
        task.cancel()
    assert device.live == 0
