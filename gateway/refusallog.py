"""Refusals an anonymous caller can repeat at will, logged so that a flood cannot grow the logs.

- A bearer token that is not ours at all (no session or display token we know, no disposition token
  signed with our key) is refused with a plain 401 and a text-log line, at most one a minute per
  client address; the line carries how many were refused since the previous one. No access-log
  entry: nothing was accessed and nobody is named, and the access log is kept for ever.
- A throttled sign-in (the pair is locked out, or its address has its share of password checks in
  flight) is a `sign_in_failed` entry, at most one a minute per user and address; its
  `details.count` is that attempt and those held back since the previous entry. Held-back attempts
  with no later one are written when a second minute has passed, or on stop (as cases/triggers.py
  does for `trigger_refused`).

- A refused sign-in on the device protocols (RTSP Digest, ONVIF WS-UsernameToken or snapshot
  Digest: wrong credentials or throttled, policy/identity/throttle.py's DeviceSignIns) is a
  `sign_in_failed` entry at most once a minute per protocol and address; `details.count` counts
  those held back, and the entry names the last user name tried. A device retries a stale password
  for ever, and a Digest check costs nothing, so every failure is aggregated, not only throttled ones.

- A request for a host name the gateway does not answer for (gateway/http/hostcheck.py: DNS
  rebinding) is a text-log line at most once a minute per name, with the count and the last address.

A failed HTTP sign-in that was checked (right shape, wrong password) is not counted here: it is logged
each time, and the throttle ends it after `auth.max_failures`.
"""

from __future__ import annotations

import asyncio
import logging

from core.clock import Clock
from core.minutetally import MinuteTally
from policy.audit.entries import AccessAction, AccessEvent, AccessRecorder

log = logging.getLogger(__name__)

THROTTLED = "throttled after repeated failures"
BUSY = "too many password checks in flight from this address"


class RefusalLog:
    """The rate-limited record of bearer refusals (text log) and throttled sign-ins (access log)."""

    def __init__(self, access_log: AccessRecorder, clock: Clock) -> None:
        self._access_log = access_log
        self._bearers: MinuteTally[str] = MinuteTally(clock, "(other addresses)")
        self._throttled: MinuteTally[tuple[str, str]] = MinuteTally(clock, ("(other users)", "(other addresses)"))
        self._devices: MinuteTally[tuple[str, str]] = MinuteTally(clock, ("(other)", "(other addresses)"))
        self._hosts: MinuteTally[str] = MinuteTally(clock, "(other names)")

    def bearer_refused(self, address: str, reason: str) -> None:
        """A bearer token that is not ours: one warning line per address a minute, with the count."""
        noted = self._bearers.note(address, reason)
        if noted is not None:
            _warn_bearer(noted[0], noted[1], reason)

    def host_refused(self, name: str, address: str) -> None:
        """A request for a host name we do not answer for: one warning line per name a minute."""
        noted = self._hosts.note(name, "", address)
        if noted is not None:
            _warn_host(noted[0], noted[1], address)

    async def sign_in_throttled(self, username: str, address: str, reason: str = THROTTLED) -> None:
        """A sign-in refused before its password was checked: one entry per user and address a minute."""
        name = username[:64]
        noted = self._throttled.note((name.lower(), address), reason)
        if noted is None:
            return
        (user, client), count = noted
        log.warning("sign-in throttled: user=%r address=%s count=%d (%s)", name, client, count, reason)
        await self._access_log.record(_throttled(name if user == name.lower() else user, client, reason, count))

    async def device_sign_in_refused(self, via: str, username: str | None, address: str, reason: str) -> None:
        """An RTSP or ONVIF sign-in refused: one entry per protocol and address a minute, with the count."""
        name = (username or "")[:64]
        noted = self._devices.note((via, address), reason, name)
        if noted is None:
            return
        (protocol, client), count = noted
        await self._device_entry(protocol, client, name, reason, count)

    async def _device_entry(self, via: str, address: str, name: str, reason: str, count: int) -> None:
        log.warning("%s sign-in refused: user=%r address=%s count=%d (%s)", via, name, address, count, reason)
        await self._access_log.record(AccessEvent(
            AccessAction.SIGN_IN_FAILED, actor=name or None, client=address, outcome="deny", reason=reason,
            details={"via": via, "count": count}))

    async def write_due(self, stopping: bool = False) -> None:
        """Write the held-back counts that are due (`stopping`: all of them)."""
        for bearer in self._bearers.due(stopping):
            _warn_bearer(bearer.key, bearer.count, bearer.reason)
        for host in self._hosts.due(stopping):
            _warn_host(host.key, host.count, host.who)
        for held in self._throttled.due(stopping):
            user, address = held.key
            log.warning("sign-in throttled: user=%r address=%s count=%d (%s)", user, address, held.count, held.reason)
            await self._access_log.record(_throttled(user, address, held.reason, held.count))
        for device in self._devices.due(stopping):
            via, address = device.key
            await self._device_entry(via, address, device.who, device.reason, device.count)

    async def run(self) -> None:
        """Write held-back counts as they fall due until cancelled; on the way out, all of them
        (the access log outlives this task in gateway.app, so they are still signed)."""
        try:
            while True:
                await self.write_due()
                await asyncio.sleep(min(self._bearers.next_due(), self._throttled.next_due(),
                                        self._devices.next_due(), self._hosts.next_due()) + 0.05)
        finally:
            await self.write_due(stopping=True)


def _warn_bearer(address: str, count: int, reason: str) -> None:
    log.warning("refused %d bearer token(s) that are not ours from %s in the last minute (last: %s)",
                count, address, reason)


def _warn_host(name: str, count: int, address: str) -> None:
    log.warning("refused %d request(s) for the host name %r in the last minute (last from %s): not one of "
                "this gateway's names (server.allowed_hosts)", count, name, address)


def _throttled(user: str, address: str, reason: str, count: int) -> AccessEvent:
    return AccessEvent(AccessAction.SIGN_IN_FAILED, actor=user, client=address, outcome="deny", reason=reason,
                       details={"count": count})
