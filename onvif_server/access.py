"""Which cameras an integrator account sees through ONVIF: every answer that shows a camera asks
`policy.decide()` (view_camera to list it, live to hand out its stream), and what was shown or
refused goes to the access log."""

from __future__ import annotations

from collections.abc import Mapping

from core.clock import Clock
from core.config import AccessConfig
from core.minutetally import MinuteTally
from onvif_server.calls import Call, Caller
from policy.audit.entries import AccessAction, AccessEvent, AccessRecorder
from policy.decision import Action, Context, Decision, Resource, Subject, decide
from streams.camera import Camera


#: A client sending bodies we refuse to parse gets one access-log entry a minute (with a count), so a
#: flood of garbage cannot flood the signed log (core/minutetally.py); failed credentials go to the
#: gateway's refusal log (policy/identity/throttle.py DeviceSignIns), aggregated the same way.


class OnvifAccess:
    """Policy decisions and their log entries for ONVIF calls."""

    def __init__(self, rules: AccessConfig, clock: Clock, cameras: Mapping[str, Camera],
                 access_log: AccessRecorder) -> None:
        self._rules = rules
        self._clock = clock
        self._cameras = cameras
        self._log = access_log
        self._refusals: MinuteTally[str] = MinuteTally(clock, "(other addresses)")

    def decision(self, call: Call, caller: Caller, action: Action, camera: Camera) -> Decision:
        """The pure decision for one camera (nothing logged)."""
        resource = Resource(camera=camera.config.id, camera_groups=frozenset(camera.config.groups))
        context = Context(now=self._clock.now(), client=call.client)
        return decide(self._rules, Subject(caller.username, caller.role), action, resource, context)

    def in_scope(self, call: Call) -> list[Camera]:
        """The cameras this device shows before policy: all, or the per-camera device's own one."""
        if call.camera is not None:
            camera = self._cameras.get(call.camera)
            return [camera] if camera is not None else []
        return sorted(self._cameras.values(), key=lambda c: c.config.id)

    async def visible(self, call: Call, caller: Caller, operation: str) -> list[Camera]:
        """The cameras the caller may see (view_camera), in id order; one log entry naming what was
        shown and what was hidden."""
        shown: list[Camera] = []
        hidden: list[str] = []
        for camera in self.in_scope(call):
            if self.decision(call, caller, Action.VIEW_CAMERA, camera).allowed:
                shown.append(camera)
            else:
                hidden.append(camera.config.id)
        await self._log.record(AccessEvent(
            AccessAction.DECISION, actor=caller.username, role=caller.role, client=call.client,
            outcome="allow", reason=f"ONVIF {operation}: {len(shown)} camera(s) shown, {len(hidden)} hidden by policy",
            details={"action": Action.VIEW_CAMERA.value, "route": f"onvif:{call.service.value}",
                     "operation": operation, "shown": ",".join(c.config.id for c in shown)[:2000],
                     "hidden": ",".join(hidden)[:2000]}))
        return shown

    async def authorize(self, call: Call, caller: Caller, action: Action, camera: Camera, operation: str,
                        **details: str) -> bool:
        """Decide `action` on `camera` and log the outcome (allowed or not)."""
        decision = self.decision(call, caller, action, camera)
        await self._log.record(AccessEvent(
            AccessAction.DECISION, actor=caller.username, role=caller.role, client=call.client,
            camera=camera.config.id, outcome="allow" if decision.allowed else "deny", reason=decision.text,
            details={"action": action.value, "route": f"onvif:{call.service.value}", "operation": operation,
                     **details}))
        return decision.allowed

    async def refused(self, call: Call, reason: str) -> None:
        """A body we would not parse: at most one entry a minute per client, counting the others."""
        noted = self._refusals.note(call.client, reason)
        if noted is None:
            return
        client, count = noted
        await self._log.record(AccessEvent(
            AccessAction.DECISION, client=client, outcome="deny", reason=reason,
            details={"route": f"onvif:{call.service.value}", "via": "onvif", "count": count}))
