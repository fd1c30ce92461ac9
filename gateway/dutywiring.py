"""The room's duties, part of the composition root: what must run once for the whole room, not once
per worker or node: the alert couriers (each alert delivered once), the desk's patrol watch and the
case watch (each alerts once), and the MQTT trigger source (each message opens a case once). The
camera-input triggers follow the camera event subscriptions instead (`start_input_triggers`).

A lone process (SQLite, or cluster off) runs them in the gateway's TaskGroup as it always did. With
several nodes, the first worker of every node runs a `DutyHolder` (cluster/duty.py): the one node that
holds the duty runs them, and another takes over when it stops, dies, is paused or is cut off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection

from camera_events.service import EventService
from cases.inputtriggers import InputTriggers
from cases.mqtttriggers import MqttTriggers
from cases.watch import CaseWatch
from cluster.duty import DutyHolder
from cluster.membership import Membership
from gateway.services import Services
from onvif_adapters.subscription import CameraEvent


class RoomDuties:
    """Starts the room's duties in a TaskGroup (`start`), afresh for every term of duty."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def start(self, tasks: asyncio.TaskGroup) -> None:
        services = self._services
        for courier in services.couriers:
            # Where the last holder left off: the cursor is in the database (at least once on a handover).
            await courier.prepare()
            tasks.create_task(courier.run(), name=f"alerts:{courier.sink.name}")
        tasks.create_task(services.desk.run(), name="desk")
        tasks.create_task(CaseWatch(services.db, services.clock, services.cases).run(), name="cases")
        cfg = services.settings.cases
        if cfg.trigger_broker is not None:
            # Its own task with its own reconnect loop: a broker that is away holds up nothing else.
            tasks.create_task(MqttTriggers(cfg.trigger_broker, cfg.playbooks, services.triggers).run(),
                              name="triggers:mqtt")


def start_input_triggers(tasks: asyncio.TaskGroup, services: Services) -> None:
    """The camera-input trigger source, beside the events service it reads: not a duty, since with
    several nodes each camera's events arrive only on the node holding its lease, so each input
    change opens its case once wherever it arrives."""
    playbooks = services.settings.cases.playbooks
    if any(p.onvif_inputs for p in playbooks):
        tasks.create_task(InputTriggers(playbooks, services.triggers).run(CameraEventFeed(services.events)),
                          name="triggers:onvif")


async def start_duties(tasks: asyncio.TaskGroup, services: Services, membership: Membership | None) -> None:
    """Run the room's duties in `tasks`: directly on a lone process, under the cluster duty (started
    only by a node's first worker) with several nodes."""
    duties = RoomDuties(services)
    if membership is None:
        await duties.start(tasks)
        return
    holder = DutyHolder(services.engine, membership.node_id, services.settings.cluster, duties.start)
    services.duty = holder
    tasks.create_task(holder.run(), name="cluster-duty")


class CameraEventFeed:
    """The events service as cases/inputtriggers.py reads it: cases/ does not import camera_events
    (the same layer), so the composition root hands it a feed."""

    def __init__(self, events: EventService) -> None:
        self._events = events

    async def follow(self, cameras: Collection[str]) -> AsyncIterator[CameraEvent]:
        """Every event of `cameras` as it arrives, until the events service stops."""
        with self._events.listen(lambda camera: camera in cameras) as listener:
            while (event := await listener.queue.get()) is not None:
                yield event
