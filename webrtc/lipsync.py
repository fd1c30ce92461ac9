"""When a live session's packets leave, so the picture and the sound of one instant leave together.

A WebRTC receiver lines audio up with video through each stream's RTCP sender reports, and
aiortc's report pairs the RTP time of the last packet sent with the wall time it was *sent*. So
the streams are in sync at the viewer only if every packet is sent the same time after the
moment the camera stamped it. They do not come that way:

- arrival: the camera's video encoder takes a frame or two, an AAC encoder a 64 ms frame and its
  look-ahead (the test camera's AAC arrives ~0.1 s later than its video, relative to their
  timestamps; its G.711 ~40 ms earlier);
- sending: after a track hands a packet over, aiortc's sender still packetizes, encrypts and
  sends it (and encodes sound first, in a thread); on a busy machine the video sender, which does
  far more per packet, takes tens of milliseconds longer than the audio sender.

So per stream both are measured: the lag of arrival (arrival minus camera time, over a sliding
window; a quantile, so the odd late packet is sent late rather than holding all back) and the
sender's time (from handing a packet over to asking for the next, a median). Each packet is handed
over at its camera time plus the larger stream's total, minus its own sender's time: the early
stream waits for the late one (at most MAX_HOLD_S), the late one goes at once. Neither measure
depends on the waits themselves, so they do not feed on each other. The camera's timestamps of
its streams share one clock (RTSP's sender reports, which FFmpeg applies); when the totals are
further apart than MAX_SKEW_S they do not, and each stream simply goes at once.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

Kind = Literal["video", "audio"]

# Lags are measured over this much of each stream (by arrival time).
WINDOW_S = 4.0
# The lag that counts is this quantile of the window's.
QUANTILE = 0.9
# The estimates are recomputed this often (a sort of the window), not per packet.
REFRESH_S = 0.25
# A lag this far from the current estimate is a new timeline (reconnect, the camera's first
# sender report realigning FFmpeg's timestamps, a stall): the window starts over.
JUMP_S = 1.0
# A packet taken this long after it arrived (the hub's cached GOP on joining) is not measured.
FRESH_S = 0.5
# The sender's time is the median of this many hand-overs.
SENDS = 25
# Streams whose totals are this far apart are not on one clock: no syncing.
MAX_SKEW_S = 0.5
# The early stream waits at most this long for the late one.
MAX_HOLD_S = 0.3


class _Stream:
    """One stream's recent arrival lags and sender times, and their estimates."""

    def __init__(self) -> None:
        self.lags: deque[tuple[float, float]] = deque()  # (arrival, lag)
        self.sends: deque[float] = deque(maxlen=SENDS)
        self.lag: float | None = None
        self.send = 0.0
        self._refreshed = float("-inf")

    def add(self, received: float, lag: float) -> None:
        if self.lag is not None and abs(lag - self.lag) > JUMP_S:
            self.reset()
        lags = self.lags
        lags.append((received, lag))
        while lags and lags[0][0] < received - WINDOW_S:
            lags.popleft()
        if self.lag is None or received - self._refreshed >= REFRESH_S:
            ordered = sorted(value for _, value in lags)
            self.lag = ordered[min(len(ordered) - 1, int(QUANTILE * len(ordered)))]
            sends = sorted(self.sends)
            self.send = sends[len(sends) // 2] if sends else 0.0
            self._refreshed = received

    def total(self) -> float | None:
        return None if self.lag is None else self.lag + self.send

    def reset(self) -> None:
        self.lags.clear()
        self.lag = None
        self._refreshed = float("-inf")


class LipSync:
    """Hand-over times for one live session's audio and video packets (monotonic seconds)."""

    def __init__(self) -> None:
        self._streams: dict[Kind, _Stream] = {"video": _Stream(), "audio": _Stream()}

    def due(self, kind: Kind, at: float | None, received: float, now: float) -> float:
        """When to hand over the packet of camera time `at` (seconds, None if unstamped) that left
        the demuxer at `received` and that its track takes `now` (time.monotonic()): now or later."""
        mine = self._streams[kind]
        if at is None:
            return now
        if now - received <= FRESH_S:
            mine.add(received, received - at)
        total = mine.total()
        if total is None:
            return now
        other = self._streams["audio" if kind == "video" else "video"].total()
        if other is not None and abs(other - total) <= MAX_SKEW_S:
            total = max(total, other)
        return min(max(now, at + total - mine.send), now + MAX_HOLD_S)

    def sent(self, kind: Kind, seconds: float) -> None:
        """aiortc took `seconds` from taking a packet of `kind` to asking for the next one."""
        self._streams[kind].sends.append(seconds)

    def reset(self, kind: Kind) -> None:
        """The stream's timestamps start over (the camera reconnected)."""
        self._streams[kind].reset()
