"""WHEP live sessions: one owner for every peer connection, its hub subscription and its task."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from core.clock import Clock
from core.errors import BadRequest, Unavailable
from gateway.webrtc.hubtrack import HubVideoTrack
from policy.events import AccessAction, AccessEvent, AccessRecorder
from streams.hub import StreamHub

log = logging.getLogger(__name__)

SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
# A viewer whose ICE never completes (it vanished after the offer) is dropped after this.
CONNECT_TIMEOUT_S = 30.0
# Packets queued per viewer before the hub drops the oldest and restarts it at a
# keyframe: about 4 s of 30 fps video, so a short stall recovers without a jump.
VIEWER_QUEUE = 128
# WHEP sends H.264 untouched; RTX lets the viewer ask for lost packets again.
FORCED_CODECS = ("video/H264", "video/rtx")


@dataclass(eq=False)
class WhepSession:
    """One viewer's live session."""

    id: str
    camera: str
    owner: str
    role: str
    client: str | None
    pc: RTCPeerConnection
    track: HubVideoTrack
    started: float  # clock.monotonic()
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""

    def end(self, reason: str) -> None:
        """Ask the session's task to close it (first reason wins)."""
        if not self.ended.is_set():
            self.reason = reason
            self.ended.set()


def offers_h264(sdp: str) -> bool:
    """Whether an SDP offer has a video section that lists H.264."""
    if not sdp.startswith("v=0") or "\nm=video " not in sdp.replace("\r\n", "\n"):
        return False
    return re.search(r"^a=rtpmap:\d+ H264/90000", sdp, re.IGNORECASE | re.MULTILINE) is not None


class WhepSessions:
    """Owns every WHEP peer connection; `run()` (in the gateway's TaskGroup) closes them all on exit."""

    def __init__(self, access_log: AccessRecorder, clock: Clock) -> None:
        self._access_log = access_log
        self._clock = clock
        self._sessions: dict[str, WhepSession] = {}
        self._tasks: asyncio.TaskGroup | None = None
        #: Compressed video bytes and packets handed to viewers, per camera, since start.
        self.sent_bytes: Counter[str] = Counter()
        self.sent_packets: Counter[str] = Counter()

    async def run(self) -> None:
        """Serve sessions until cancelled; each session's task closes its peer on the way out."""
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            try:
                await asyncio.Event().wait()
            finally:
                self._tasks = None
                for session in list(self._sessions.values()):
                    session.end("gateway stopping")

    def viewers(self, camera: str) -> int:
        """Open sessions of one camera."""
        return sum(1 for s in self._sessions.values() if s.camera == camera)

    def get(self, session_id: str) -> WhepSession | None:
        """A session by id; None for unknown or malformed ids."""
        if not SESSION_ID.fullmatch(session_id):
            return None
        return self._sessions.get(session_id)

    async def open(
        self, camera: str, hub: StreamHub, offer: str, owner: str, role: str, client: str | None
    ) -> tuple[WhepSession, str]:
        """Negotiate a passthrough H.264 session for `offer`; returns it and the SDP answer."""
        if self._tasks is None:
            raise Unavailable("live sessions are not being served (starting or stopping)")
        if not offers_h264(offer):
            raise BadRequest("the offer has no H.264 video section; Pantau sends camera H.264 untouched")
        session_id = secrets.token_urlsafe(18)

        def sent(size: int) -> None:
            self.sent_bytes[camera] += size
            self.sent_packets[camera] += 1

        track = HubVideoTrack(hub.subscribe(f"whep:{session_id}", VIEWER_QUEUE), sent)
        # No STUN: aiortc's default asks a public server, which a gateway on a closed
        # network cannot reach and would wait for.
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            sender = pc.addTrack(track)
            transceiver = next(t for t in pc.getTransceivers() if t.sender is sender)
            codecs = RTCRtpSender.getCapabilities("video").codecs
            transceiver.setCodecPreferences([c for c in codecs if c.mimeType in FORCED_CODECS])
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
                answer = await pc.createAnswer()
            except Exception as exc:  # aiortc raises ValueError, KeyError, its own errors...
                log.info("camera %s: offer rejected: %r", camera, exc, extra={"camera": camera})
                raise BadRequest(f"the SDP offer could not be negotiated: {exc}") from exc
            if answer is None or " H264/90000" not in answer.sdp:
                raise BadRequest("the offer's video section has no H.264 mode Pantau can send")
            await pc.setLocalDescription(answer)  # gathers every candidate: aiortc never trickles
            # Logged before any media can flow, and before the session can end (LIVE_STOP).
            await self._access_log.record(
                AccessEvent(AccessAction.LIVE_START, actor=owner, role=role, client=client, camera=camera,
                            details={"session": session_id})
            )
            if self._tasks is None:
                raise Unavailable("the gateway is stopping")
        except BaseException:
            track.stop()
            await pc.close()
            raise
        session = WhepSession(
            session_id, camera, owner, role, client, pc, track, self._clock.monotonic()
        )

        @pc.on("connectionstatechange")
        def _state() -> None:
            state = pc.connectionState
            if state == "connected":
                session.connected.set()
            elif state in ("failed", "disconnected", "closed"):
                session.end(f"connection {state}")

        self._sessions[session_id] = session
        self._tasks.create_task(self._serve(session), name=f"whep:{camera}:{session_id[:8]}")
        log.info("camera %s: live session %s for %s", camera, session_id[:8], owner,
                 extra={"camera": camera, "session": session_id[:8]})
        return session, pc.localDescription.sdp

    async def close(self, session: WhepSession, reason: str) -> None:
        """End a session and wait until its peer is closed and LIVE_STOP is logged."""
        session.end(reason)
        await session.closed.wait()

    async def _serve(self, session: WhepSession) -> None:
        try:
            try:
                await asyncio.wait_for(session.connected.wait(), CONNECT_TIMEOUT_S)
            except TimeoutError:
                session.end("ICE did not connect")
            await session.ended.wait()
        finally:
            if not session.reason:
                session.reason = "gateway stopping"
            await self._finish(session)

    async def _finish(self, session: WhepSession) -> None:
        """Close the peer, leave the hub, log LIVE_STOP; completes even if cancelled meanwhile."""
        session.track.stop()
        cancelled = False
        # Cancelling an await on aiortc's close() cancels the future its own close task
        # resolves (InvalidStateError, peer half closed): let the close run to its end.
        closing = asyncio.ensure_future(session.pc.close())
        while not closing.done():
            try:
                await asyncio.shield(closing)
            except asyncio.CancelledError:
                cancelled = True
            except Exception:  # closing a half-dead peer must not stop the rest
                log.warning("camera %s: closing session %s failed", session.camera, session.id[:8],
                            exc_info=True)
        try:
            duration = max(0.0, self._clock.monotonic() - session.started)
            await self._access_log.record(
                AccessEvent(AccessAction.LIVE_STOP, actor=session.owner, role=session.role,
                            client=session.client, camera=session.camera, reason=session.reason,
                            details={"session": session.id, "duration_s": round(duration, 3)})
            )
            log.info("camera %s: live session %s ended after %.1f s: %s", session.camera,
                     session.id[:8], duration, session.reason,
                     extra={"camera": session.camera, "session": session.id[:8]})
        finally:
            self._sessions.pop(session.id, None)  # counted as a viewer until LIVE_STOP is written
            session.closed.set()
        if cancelled:
            raise asyncio.CancelledError
