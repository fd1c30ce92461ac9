"""The RTSP server's clients as the access log sees them: the connection's address, the account it
signed in with, and each session it played (`live_start` at PLAY, `live_stop` at TEARDOWN or when
the connection closes; `playback_start`/`playback_stop` for a replay). Called from GStreamer's threads; entries go to the gateway's loop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.utctime import format_utc, format_utc_or_none
from policy.audit.entries import AccessAction, AccessEvent, Scalar
from restream.gate import Viewer
from restream.replayfeed import ReplayFeeder
from restream.replayplan import ReplayPlan

log = logging.getLogger(__name__)

# GstRtspServer counts no bytes per client. What a client's live_stop says is the camera's
# compressed bytes fed into the shared media while it played: exact for a client that kept up,
# an upper bound for one that fell behind (RTP over TCP drops what a slow connection cannot take).
BYTES_COUNTED = "camera bytes fed to the shared media while the session played (GstRtspServer keeps no per-client count)"
# A replay's media is the client's own: its count is what was fed to that client.
REPLAY_BYTES_COUNTED = "recorded bytes fed to the session's own media"


@dataclass
class Playing:
    """One RTSP session being played."""

    session: str
    camera: str
    stream: str
    transport: str
    started: float
    bytes_at_start: int
    bytes_now: Callable[[], int]
    #: Who started it (the connection's sign-in is re-checked, and reset, on every request).
    viewer: Viewer | None = None
    #: A replay's feeder (playback_start/stop with its window); None for live (live_start/stop).
    replay: ReplayFeeder | None = None


@dataclass
class ClientState:
    """One RTSP connection."""

    address: str
    connected: float
    viewer: Viewer | None = None
    requests: int = 0
    #: Why the server is closing this connection (live_stop's reason), if it is.
    closing: str | None = None
    #: The replay planned at this connection's last DESCRIBE of a replay mount (its SETUP reuses it).
    replay_plan: ReplayPlan | None = None
    playing: dict[str, Playing] = field(default_factory=dict)


class ClientBook:
    """Every open RTSP connection, by its GstRtspServer.RTSPClient; thread-safe."""

    def __init__(self, record: Callable[[AccessEvent], None]) -> None:
        self._record = record
        self._clients: dict[object, ClientState] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._clients)

    def opened(self, client: object, address: str) -> ClientState:
        """A connection was accepted."""
        state = ClientState(address, time.monotonic())
        with self._lock:
            self._clients[client] = state  # keeps the Python wrapper alive, so lookups find it again
        return state

    def get(self, client: object) -> ClientState | None:
        """The connection's state (None once closed)."""
        with self._lock:
            return self._clients.get(client)

    def all(self) -> list[object]:
        """Every open connection."""
        with self._lock:
            return list(self._clients)

    def end(self, camera: str, reason: str) -> list[object]:
        """The connections playing `camera`, marked to be closed for `reason`."""
        with self._lock:
            ending = [c for c, s in self._clients.items() if any(p.camera == camera for p in s.playing.values())]
            for client in ending:
                self._clients[client].closing = reason
        return ending

    def idle(self, older_than_s: float) -> list[object]:
        """Connections open longer than `older_than_s` that never completed a request."""
        now = time.monotonic()
        with self._lock:
            return [c for c, s in self._clients.items() if s.requests == 0 and now - s.connected > older_than_s]

    def play(self, client: object, playing: Playing) -> None:
        """A session started playing: live_start (once per session; a PLAY after PAUSE is no new one)."""
        with self._lock:
            state = self._clients.get(client)
            if state is None or state.viewer is None or playing.session in state.playing:
                return
            viewer, address = state.viewer, state.address
            playing.viewer = viewer
            state.playing[playing.session] = playing
        details: dict[str, Scalar] = {"session": playing.session, "via": "rtsp", "transport": playing.transport,
                                      "stream": playing.stream}
        action = AccessAction.LIVE_START
        if playing.replay is not None:
            action = AccessAction.PLAYBACK_START
            details |= {"start": format_utc(playing.replay.window.start), "end": format_utc(playing.replay.window.end)}
        self._record(AccessEvent(
            action, actor=viewer.username, role=viewer.role, client=address, camera=playing.camera, details=details))
        log.info("rtsp: %s plays %s (%s) from %s", viewer.username, playing.camera, playing.transport, address,
                 extra={"camera": playing.camera, "session": playing.session[:8], "client": address})

    def stop(self, client: object, session: str, reason: str) -> None:
        """A session ended (TEARDOWN): live_stop."""
        with self._lock:
            state = self._clients.get(client)
            playing = state.playing.pop(session, None) if state is not None else None
        if state is not None and playing is not None:
            self._stopped(state, playing, reason)

    def closed(self, client: object, reason: str = "connection closed") -> None:
        """The connection closed: live_stop for every session still playing on it."""
        with self._lock:
            state = self._clients.pop(client, None)
        if state is not None:
            for playing in list(state.playing.values()):
                self._stopped(state, playing, state.closing or reason)

    def _stopped(self, state: ClientState, playing: Playing, reason: str) -> None:
        viewer = playing.viewer
        assert viewer is not None  # set by play(), which records nothing without one
        details: dict[str, Scalar] = {
            "session": playing.session, "via": "rtsp", "transport": playing.transport, "stream": playing.stream,
            "duration_s": round(time.monotonic() - playing.started, 3),
            "bytes": playing.bytes_now() - playing.bytes_at_start, "bytes_counted": BYTES_COUNTED,
        }
        action = AccessAction.LIVE_STOP
        if playing.replay is not None:
            action = AccessAction.PLAYBACK_STOP
            sent = playing.replay.sent
            details |= {"bytes": sent.bytes, "bytes_counted": REPLAY_BYTES_COUNTED, "frames": sent.frames,
                        "first": format_utc_or_none(sent.first), "last": format_utc_or_none(sent.last),
                        "reached_end": sent.ended}
        self._record(AccessEvent(
            action, actor=viewer.username, role=viewer.role, client=state.address,
            camera=playing.camera, reason=reason, details=details))
