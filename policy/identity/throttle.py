"""Sign-in throttling: too many failures for one (user, address) pair locks that pair out; many
failures across the gateway (a password spray) raise `security.signin_burst`. The device protocols
(RTSP, ONVIF) are throttled per address besides (DeviceThrottle)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from core.alerting import AlertKind, Discard, Notice, Publisher
from core.clock import Clock


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class LoginThrottle:
    """Counts failures per key in a sliding window; pure logic over an injected clock."""

    # Bound on tracked keys, so a spray of random names cannot grow memory without limit.
    MAX_KEYS = 100_000

    def __init__(
        self,
        clock: Clock,
        max_failures: int,
        window_s: float,
        lockout_s: float,
        *,
        burst: int = 10,
        burst_window_s: float = 60.0,
        alerts: Publisher | None = None,
    ) -> None:
        self._clock = clock
        self._max = max_failures
        self._window = window_s
        self._lockout = lockout_s
        self._records: dict[tuple[str, str], _Record] = {}
        self._burst = burst
        self._burst_window = burst_window_s
        self._all: deque[float] = deque()
        self._burst_alerted_at: float | None = None
        self._alerts = alerts or Discard()

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until this pair may try again; 0 when it may try now."""
        rec = self._records.get((username.lower(), address))
        if rec is None:
            return 0.0
        return max(0.0, rec.locked_until - self._clock.monotonic())

    def failed(self, username: str, address: str) -> None:
        """Record a failed sign-in."""
        key = (username.lower(), address)
        now = self._clock.monotonic()
        rec = self._records.get(key)
        if rec is None:
            if len(self._records) >= self.MAX_KEYS:
                self._evict(now)
            rec = self._records[key] = _Record()
        rec.failures.append(now)
        while rec.failures and rec.failures[0] <= now - self._window:
            rec.failures.popleft()
        if len(rec.failures) >= self._max:
            rec.locked_until = now + self._lockout
            rec.failures.clear()
        self._count_burst(now, username, address)

    def _count_burst(self, now: float, username: str, address: str) -> None:
        """Every failure, whoever: `burst` within the window is one alert (then one per window)."""
        self._all.append(now)
        while self._all and self._all[0] <= now - self._burst_window:
            self._all.popleft()
        if len(self._all) < self._burst:
            return
        if self._burst_alerted_at is not None and now - self._burst_alerted_at < self._burst_window:
            return
        self._burst_alerted_at = now
        self._alerts.publish(Notice(AlertKind.SIGNIN_BURST, None, {
            "failures": len(self._all), "window_s": int(self._burst_window),
            "username": username[:64], "client": address,
        }))

    def succeeded(self, username: str, address: str) -> None:
        """Forget failures after a good sign-in."""
        self._records.pop((username.lower(), address), None)

    def _evict(self, now: float) -> None:
        stale = [
            k
            for k, r in self._records.items()
            if r.locked_until <= now and (not r.failures or r.failures[-1] <= now - self._window)
        ]
        for key in stale:
            del self._records[key]
        if len(self._records) >= self.MAX_KEYS:  # still full: drop the oldest entries
            for key in list(self._records)[: self.MAX_KEYS // 10]:
                del self._records[key]


class DeviceSignIns(Protocol):
    """Where RTSP and ONVIF report a refused sign-in (wrong credentials or throttled): a device
    retries a stale password for ever, so the record is kept to one entry a minute per protocol
    and address, with the count (gateway/refusallog.py, as for HTTP's throttled sign-ins)."""

    async def device_sign_in_refused(self, via: str, username: str | None, address: str, reason: str) -> None: ...


class DeviceThrottle:
    """The sign-in throttle of the device protocols (RTSP Digest, ONVIF WS-UsernameToken and
    snapshot Digest): the gateway's throttle per user and address (shared with HTTP sign-ins, so a
    failure anywhere counts everywhere, with its burst alert), and besides it one per address
    whatever the name, so an address cannot try name after name. A device is one address with one
    account; HTTP is not throttled per address (a city's NAT puts many people behind one)."""

    #: The name the per-address throttle files every failure under.
    ANY = "\x00any"

    def __init__(self, per_user: LoginThrottle, per_address: LoginThrottle) -> None:
        self._per_user = per_user
        self._per_address = per_address

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until `username` may try again from `address`; 0 when it may try now."""
        return max(self._per_user.retry_after(username, address), self._per_address.retry_after(self.ANY, address))

    def failed(self, username: str, address: str) -> None:
        """Record a failed sign-in on both."""
        self._per_user.failed(username, address)
        self._per_address.failed(self.ANY, address)

    def succeeded(self, username: str, address: str) -> None:
        """Forget the pair's and the address's failures after a good sign-in."""
        self._per_user.succeeded(username, address)
        self._per_address.succeeded(self.ANY, address)
