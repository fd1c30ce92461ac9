"""Emergency triggers from camera inputs: an ONVIF digital input (a panic button wired to a camera's
alarm input) named in a playbook's `onvif_inputs` going active fires the gate.

`cases/` does not know the camera events service (same layer): it says here what it needs, a feed
of events (`CameraEventFeed`) whose items look like `InputEvent`, and the composition root adapts
the events service to it. An input already active when the camera is subscribed (ONVIF's
"Initialized" state) is not a press: it would open a case at every resubscription.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from typing import Protocol

from cases.triggers import TriggerGate
from core.casesconfig import Playbook
from core.errors import PantauError
from onvif_adapters.topics import EventKind

log = logging.getLogger(__name__)


class InputEvent(Protocol):
    """What a camera event must tell (onvif_adapters.subscription.CameraEvent does)."""

    @property
    def camera(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def active(self) -> bool: ...
    @property
    def initial(self) -> bool: ...
    @property
    def source(self) -> Mapping[str, str]: ...
    @property
    def topic(self) -> str: ...


class CameraEventFeed(Protocol):
    """Live camera events: every event of `cameras` as it arrives, until the events service stops."""

    def follow(self, cameras: Collection[str]) -> AsyncIterator[InputEvent]: ...


class InputTriggers:
    """Fires the gate for each playbook whose `onvif_inputs` an active digital input matches."""

    def __init__(self, playbooks: Sequence[Playbook], gate: TriggerGate) -> None:
        self._gate = gate
        #: camera -> [(playbook, input source token or None for any)]
        self.inputs: dict[str, list[tuple[str, str | None]]] = {}
        for p in playbooks:
            for trigger in p.onvif_inputs:
                self.inputs.setdefault(trigger.camera, []).append((p.id, trigger.source))

    def playbooks_for(self, event: InputEvent) -> list[str]:
        """The playbooks `event` fires: a digital input of a named camera going active (not its
        state at subscription), from the named input if the playbook names one."""
        if event.kind != EventKind.DIGITAL_INPUT or not event.active or event.initial:
            return []
        tokens = set(event.source.values())
        fired = [pid for pid, source in self.inputs.get(event.camera, []) if source is None or source in tokens]
        return list(dict.fromkeys(fired))

    async def on_event(self, event: InputEvent) -> None:
        """Fire every playbook the event triggers; a failure is logged (there is no one to answer)."""
        for playbook in self.playbooks_for(event):
            details = {"camera": event.camera, "topic": event.topic,
                       **{f"input_{k}": v for k, v in list(event.source.items())[:4]}}
            try:
                await self._gate.fire(playbook, "onvif", details, client=f"camera:{event.camera}")
            except PantauError as exc:
                log.warning("camera %s: input trigger of playbook %s not handled: %s", event.camera, playbook,
                            exc.detail, extra={"camera": event.camera})
            except Exception:
                log.exception("camera %s: input trigger of playbook %s failed", event.camera, playbook,
                              extra={"camera": event.camera})

    async def run(self, feed: CameraEventFeed) -> None:
        """Follow the named cameras' events until the feed ends or the task is cancelled."""
        if not self.inputs:
            return
        async for event in feed.follow(frozenset(self.inputs)):
            await self.on_event(event)
