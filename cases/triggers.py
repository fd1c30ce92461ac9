"""The trigger gate: the one place every emergency trigger passes (HTTP with a playbook's key, MQTT,
ONVIF digital inputs) on its way to the case book.

The rule (README, "Emergency triggers"):
- A trigger names a playbook and its source. One for a playbook that does not exist, or that does not
  take that source, is refused; every refusal is a `trigger_refused` entry, at most one a minute per
  client (its `count` is that refusal and those held back since the previous entry; held-back ones
  with no later refusal are written when the next minute has passed, or on stop).
- Triggers of a playbook come in bursts. The trigger that finds no burst open starts one and calls
  the book (`open_emergency`): one call in flight per playbook. Every trigger of that playbook that
  arrives while the burst is open joins it: it waits for that call's answer and returns the same
  case with created=False; the book is not called again. A burst closes QUIET_S after its last
  trigger, or MAX_BURST_S after its first however busy it is, and never before the book answered.
  The next trigger starts a new burst, and the book decides by the playbook's `dedup_s` whether it
  opens a case or adds a `triggered` event to the open one.
- A closed burst is one `trigger_received` entry: how many triggers it held (by source), from when to
  when, the first one's client, and the case.
- A book call that fails closes its burst at once: the triggers that joined it get the error as
  well (503, send again) and the next trigger calls the book again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from core.casesconfig import Playbook
from core.clock import Clock
from core.errors import NotFound, PantauError, Unauthorized, Unavailable
from policy.audit.entries import AccessAction, AccessEvent, AccessRecorder, Scalar

log = logging.getLogger(__name__)

TriggerSource = Literal["http", "mqtt", "onvif"]

#: A burst ends this long after its last trigger. A panic button's contact bounce, a device that
#: retries every second or two and an MQTT client that republishes are one burst; a second press
#: after a pause is a burst of its own, which the book records as `triggered` on the open case.
QUIET_S = 5.0
#: ... and this long after its first however busy it is, so a stuck input or a flood that never
#: stops still reaches the case (a `triggered` event) and the log (its count) once a minute.
MAX_BURST_S = 60.0
#: A client's refusals are logged at most once per this long: a flood of wrong keys must not fill the log.
REFUSAL_WINDOW_S = 60.0
#: Clients whose refusals are counted apart; beyond that many in a window the rest share one count,
#: so memory stays bounded when refusals come from many addresses.
MAX_CLIENTS = 4096
OTHER_CLIENTS = "(other clients)"
#: Longest note kept (an MQTT payload, an HTTP body's note); a location's limit is the case's field's.
NOTE_MAX_CHARS = 4096
LOCATION_MAX_CHARS = 500
DETAIL_MAX_CHARS = 256
MAX_DETAILS = 16
#: What a caller whose trigger joined a failed burst is told to wait before sending it again.
RETRY_AFTER_S = 1.0


class EmergencyOpener(Protocol):
    """What the gate calls: the case book (cases/book.py)."""

    async def open_emergency(
        self, playbook_id: str, source: str, details: Mapping[str, Scalar]
    ) -> tuple[dict[str, Any], bool]: ...


class TriggerFailed(Unavailable):
    """The book could not open (or join) the emergency; the trigger should be sent again."""

    title = "Trigger not handled"
    kind = "trigger-not-handled"


def takes(playbook: Playbook, source: TriggerSource) -> bool:
    """Whether the playbook is configured to be triggered from `source`."""
    if source == "http":
        return playbook.trigger_key is not None
    if source == "mqtt":
        return playbook.mqtt_topic is not None
    return bool(playbook.onvif_inputs)


def clean_details(details: Mapping[str, Scalar]) -> dict[str, Scalar]:
    """What a trigger tells about itself, cut to size: it is stored in the case and its log entry."""
    out: dict[str, Scalar] = {}
    for key, value in list(details.items())[:MAX_DETAILS]:
        if key == "source":  # the book's own field in a `triggered` event
            continue
        if isinstance(value, str):
            value = value[:{"note": NOTE_MAX_CHARS, "location": LOCATION_MAX_CHARS}.get(key, DETAIL_MAX_CHARS)]
        out[str(key)[:64]] = value
    return out


@dataclass
class _Burst:
    """Triggers of one playbook that share one book call."""

    playbook: str
    source: TriggerSource
    client: str | None
    camera: str | None
    started: float
    first_at: datetime
    last: float
    last_at: datetime
    counts: Counter[str] = field(default_factory=Counter)
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    case: dict[str, Any] | None = None
    created: bool = False
    failed: str | None = None  # why the book call failed

    def ends(self) -> float | None:
        """When it closes (monotonic); None while the book has not answered."""
        if not self.answered.is_set():
            return None
        if self.failed is not None:
            return self.started
        return min(self.last + QUIET_S, self.started + MAX_BURST_S)

    def open_at(self, now: float) -> bool:
        ends = self.ends()
        return ends is None or now < ends


@dataclass
class _Refusals:
    """One client's refusal window: opened by a logged refusal, counting those held back."""

    opened: float
    held: int = 0
    reason: str = ""
    playbook: str = ""
    source: str = ""


class TriggerGate:
    """Checks, collapses and logs every trigger, then calls the book (the rule is the module's docstring)."""

    def __init__(
        self, playbooks: Sequence[Playbook], opener: EmergencyOpener, access_log: AccessRecorder, clock: Clock
    ) -> None:
        self.playbooks = {p.id: p for p in playbooks}
        self._opener = opener
        self._log = access_log
        self._clock = clock
        self._bursts: dict[str, _Burst] = {}
        self._closed: deque[_Burst] = deque()
        self._refusals: dict[str, _Refusals] = {}
        self._wake = asyncio.Event()

    async def check_key(self, playbook_id: str, key: str | None, client: str | None) -> Playbook:
        """The playbook an HTTP trigger names if `key` is its trigger key: 404 when it does not exist
        or takes no HTTP trigger, 401 for a missing or wrong key; each refusal logged."""
        playbook = self.playbooks.get(playbook_id)
        if playbook is None or playbook.trigger_key is None:
            reason = f"no playbook {playbook_id[:64]!r} takes HTTP triggers"
            await self.refuse(playbook_id, "http", client, reason)
            raise NotFound(reason)
        if not key:
            reason = "no trigger key given"
        # Constant time: how much of a guess matched must not show in how long the answer takes; the
        # digests are compared so that not even the key's length does.
        elif not hmac.compare_digest(_digest(key), _digest(playbook.trigger_key)):
            reason = "wrong trigger key"
        else:
            return playbook
        await self.refuse(playbook_id, "http", client, reason)
        raise Unauthorized(reason)

    async def refuse(self, playbook_id: str, source: TriggerSource, client: str | None, reason: str) -> None:
        """Log a refusal as `trigger_refused`: at once if it is the client's first this minute, else
        held back and counted into the client's next entry."""
        now = self._clock.monotonic()
        key = client or "(unknown)"
        if key not in self._refusals and len(self._refusals) >= MAX_CLIENTS:
            key = OTHER_CLIENTS
        window = self._refusals.get(key)
        if window is not None and now - window.opened < REFUSAL_WINDOW_S:
            window.held += 1
            window.reason, window.playbook, window.source = reason, playbook_id[:64], source
            return
        held = window.held if window is not None else 0
        self._refusals[key] = _Refusals(opened=now)
        self._wake.set()
        log.info("refused a %s trigger of playbook %r from %s: %s", source, playbook_id[:64], key, reason)
        await self._log.record(_refusal(key, playbook_id[:64], source, reason, 1 + held))

    async def fire(
        self, playbook_id: str, source: TriggerSource, details: Mapping[str, Scalar], client: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Open the playbook's emergency, or join the burst (and so the case) under way: (case, created).
        404 for an unknown playbook or one that does not take `source`; 503 when the book failed."""
        playbook = self.playbooks.get(playbook_id)
        if playbook is None or not takes(playbook, source):
            reason = f"no playbook {playbook_id[:64]!r} takes {source} triggers"
            await self.refuse(playbook_id, source, client, reason)
            raise NotFound(reason)
        now, at = self._clock.monotonic(), self._clock.now()
        burst = self._bursts.get(playbook_id)
        if burst is not None and burst.open_at(now):
            burst.counts[source] += 1
            burst.last, burst.last_at = now, at
            await burst.answered.wait()
            if burst.failed is not None or burst.case is None:
                raise TriggerFailed(f"{burst.failed}; send the trigger again", retry_after_s=RETRY_AFTER_S)
            return burst.case, False
        if burst is not None:
            self._close(burst)
        details = clean_details(details)
        camera = details.get("camera")
        burst = _Burst(playbook_id, source, client, camera if isinstance(camera, str) else None, now, at, now, at)
        burst.counts[source] += 1
        self._bursts[playbook_id] = burst
        try:
            burst.case, burst.created = await self._opener.open_emergency(playbook_id, source, details)
        except PantauError as exc:
            burst.failed = f"the emergency could not be opened: {exc.detail}"
            raise TriggerFailed(f"{burst.failed}; send the trigger again", retry_after_s=RETRY_AFTER_S) from exc
        except asyncio.CancelledError:
            burst.failed = "the trigger that opened this burst was interrupted (the gateway is stopping)"
            raise
        except Exception as exc:
            # A database that is down, or a bug: the details are for the process log only.
            log.exception("playbook %s: the case book failed on a %s trigger", playbook_id, source)
            burst.failed = "the emergency could not be opened (see the gateway's log)"
            raise TriggerFailed(f"{burst.failed}; send the trigger again", retry_after_s=RETRY_AFTER_S) from exc
        finally:
            burst.answered.set()
            self._wake.set()
        log.info("playbook %s: a %s trigger %s case %s", playbook_id, source,
                 "opened" if burst.created else "joined", burst.case.get("id"))
        return burst.case, burst.created

    def _close(self, burst: _Burst) -> None:
        if self._bursts.get(burst.playbook) is burst:
            del self._bursts[burst.playbook]
        self._closed.append(burst)
        self._wake.set()

    async def run(self) -> None:
        """Write closed bursts and held-back refusals to the access log until cancelled; on the way
        out, whatever is still open."""
        try:
            while True:
                await self.write_due()
                self._wake.clear()
                delay = self._next_due()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
        finally:
            # The access log outlives this task (gateway.app), so this is still signed.
            await self.write_due(stopping=True)

    async def write_due(self, stopping: bool = False) -> None:
        """Write every burst and refusal window that has closed (`stopping`: every one answered)."""
        now = self._clock.monotonic()
        for burst in list(self._bursts.values()):
            ends = burst.ends()
            if ends is not None and (stopping or now >= ends):
                self._close(burst)
        entries = [_received(b) for b in self._closed]
        self._closed.clear()
        for key, window in list(self._refusals.items()):
            age = now - window.opened
            if window.held == 0 and (stopping or age >= REFUSAL_WINDOW_S):
                del self._refusals[key]
            # Held back until a second window passed without a refusal: one that came would have
            # carried the count (one entry a minute however long a flood lasts).
            elif window.held and (stopping or age >= 2 * REFUSAL_WINDOW_S):
                del self._refusals[key]
                entries.append(_refusal(key, window.playbook, window.source, window.reason, window.held))
        for entry in entries:
            try:
                await self._log.record(entry)
            except Exception:
                log.exception("could not write a %s entry to the access log", entry.action.value)

    def _next_due(self) -> float | None:
        """Seconds until write_due has something to do; None: nothing is waiting."""
        due: list[float] = []
        if self._closed:
            return 0.0
        for burst in self._bursts.values():
            ends = burst.ends()
            if ends is not None:
                due.append(ends)
        for window in self._refusals.values():
            due.append(window.opened + (2 if window.held else 1) * REFUSAL_WINDOW_S)
        return max(0.0, min(due) - self._clock.monotonic()) if due else None


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "replace")).digest()


def _received(burst: _Burst) -> AccessEvent:
    total = sum(burst.counts.values())
    case = burst.case or {}
    return AccessEvent(
        AccessAction.TRIGGER_RECEIVED, actor=f"trigger:{burst.source}", client=burst.client, camera=burst.camera,
        start=burst.first_at, end=burst.last_at, outcome="ok" if burst.failed is None else "error",
        reason=burst.failed or (f"{total} trigger(s) " + ("opened the case" if burst.created else "joined the case")),
        details={"playbook": burst.playbook, "count": total,
                 "sources": ",".join(f"{s}={n}" for s, n in sorted(burst.counts.items())),
                 "case": case.get("id"), "created": burst.created},
    )


def _refusal(client: str, playbook: str, source: str, reason: str, count: int) -> AccessEvent:
    return AccessEvent(
        AccessAction.TRIGGER_REFUSED, actor=f"trigger:{source}", client=client, outcome="deny", reason=reason,
        details={"playbook": playbook, "count": count},
    )
