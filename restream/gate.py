"""Who may read which RTSP mount: the Digest answer checked against the integrator account's device
secret, the camera's visibility decided by `policy.decide()`, and every refusal in the access log.
Runs on the gateway's event loop; restream/auth.py asks it from GStreamer's threads."""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from core.clock import Clock
from core.config import AccessConfig
from core.utctime import format_utc
from policy.audit.entries import AccessAction, AccessEvent, AccessRecorder
from policy.decision import Action, Context, ObligationKind, Reason, Resource, Subject, decide
from policy.identity.devicesecrets import DEVICE_ROLE
from policy.identity.throttle import DeviceSignIns, DeviceThrottle
from restream.digest import DigestAnswer, response_matches

log = logging.getLogger(__name__)


class Verdict(enum.IntEnum):
    """The RTSP status a check ends in."""

    OK = 200
    UNAUTHORIZED = 401
    FORBIDDEN = 403
    NOT_FOUND = 404
    BAD_REQUEST = 400
    UNAVAILABLE = 503


#: Why a replay the policy would allow is refused anyway.
WATERMARK_REFUSAL = "the policy asks for a watermark, which an untouched (not transcoded) RTSP replay cannot carry"


@dataclass(frozen=True, slots=True)
class ReplayVerdict:
    """A replay's answer: OK with whether sound may go along, or the refusal's status."""

    verdict: Verdict
    audio: bool = False


@dataclass(frozen=True, slots=True)
class Viewer:
    """An integrator account that answered the Digest challenge."""

    username: str
    role: str = DEVICE_ROLE



class RtspGate:
    """Sign-in and visibility for RTSP requests, logged like gateway/http/guard.py logs HTTP's."""

    def __init__(
        self, password_of: Callable[[str], Awaitable[str | None]], access: AccessConfig,
        groups_of: Callable[[str], frozenset[str] | None], clock: Clock, access_log: AccessRecorder,
        throttle: DeviceThrottle, refusals: DeviceSignIns,
    ) -> None:
        self._password_of = password_of
        self._access = access
        self._groups_of = groups_of
        self._clock = clock
        self._log = access_log
        self._throttle = throttle
        self._refusals = refusals

    async def sign_in(self, answer: DigestAnswer, method: str, client: str) -> Viewer | None:
        """The account when `answer` proves its password; else None, a failed sign-in (throttled per
        user and address and per address, logged once a minute per address with the count)."""
        name = answer.username
        if self._throttle.retry_after(name, client) > 0:
            await self._refusals.device_sign_in_refused("rtsp", name, client, "throttled after repeated failures")
            return None
        password = await self._password_of(name)
        if password is None or not response_matches(answer, method, password):
            self._throttle.failed(name, client)
            await self._refusals.device_sign_in_refused("rtsp", name, client, "unknown user or wrong password")
            return None
        self._throttle.succeeded(name, client)
        return Viewer(name)

    async def may_watch(self, viewer: Viewer, camera: str, path: str, client: str) -> Verdict:
        """`live` for the camera behind `path`: OK, or NOT_FOUND (unknown, or not the viewer's to
        see: answered alike) or FORBIDDEN; every refusal logged as a decision."""
        groups = self._groups_of(camera)
        resource = Resource(camera=camera, camera_groups=groups or frozenset())
        context = Context(now=self._clock.now(), client=client)
        decision = decide(self._access, Subject(viewer.username, viewer.role), Action.LIVE, resource, context)
        if decision.allowed and groups is not None:
            return Verdict.OK
        await self._log.record(AccessEvent(
            AccessAction.DECISION, actor=viewer.username, role=viewer.role, client=client, camera=camera,
            outcome="deny", reason=decision.text if not decision.allowed else "no such camera",
            details={"action": Action.LIVE.value, "route": path, "via": "rtsp"}))
        if groups is None or decision.reason in (Reason.NOT_VISIBLE, Reason.NO_CAMERA):
            return Verdict.NOT_FOUND
        return Verdict.FORBIDDEN

    async def may_replay(self, viewer: Viewer, camera: str, start: datetime, end: datetime, path: str,
                         client: str) -> ReplayVerdict:
        """`playback` of the camera's recording in [start, end), as WHEP playback decides it (an
        operator's own window, a supervisor's beyond; a window past a role's `max_age_h` needs a
        disposition, which RTSP cannot carry): OK, or NOT_FOUND (unknown or not visible: alike) or
        FORBIDDEN. Refusals are logged as decisions."""
        groups = self._groups_of(camera)
        resource = Resource(camera=camera, camera_groups=groups or frozenset(), start=start, end=end)
        context = Context(now=self._clock.now(), client=client)
        decision = decide(self._access, Subject(viewer.username, viewer.role), Action.PLAYBACK, resource, context)
        reason = decision.text if not decision.allowed else "no such camera"
        if decision.allowed and groups is not None:
            if decision.obligation(ObligationKind.WATERMARK) is None:
                return ReplayVerdict(Verdict.OK, audio=decision.obligation(ObligationKind.NO_AUDIO) is None)
            reason = WATERMARK_REFUSAL
        await self._log.record(AccessEvent(
            AccessAction.DECISION, actor=viewer.username, role=viewer.role, client=client, camera=camera,
            outcome="deny", reason=reason,
            details={"action": Action.PLAYBACK.value, "route": path, "via": "rtsp",
                     "start": format_utc(start), "end": format_utc(end)}))
        if groups is None or decision.reason in (Reason.NOT_VISIBLE, Reason.NO_CAMERA):
            return ReplayVerdict(Verdict.NOT_FOUND)
        return ReplayVerdict(Verdict.FORBIDDEN)
