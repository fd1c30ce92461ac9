"""WHEP sessions, live and playback: one owner for every peer connection, its source and its tasks."""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import logging
import re
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from core.clock import Clock
from core.errors import BadRequest, Unavailable
from core.utctime import from_epoch
from webrtc.hubtrack import HubVideoTrack
from webrtc.playback import PlaybackPlan, PlaybackTrack, Player
from webrtc.playbackfeed import Recordings
from policy.audit.entries import AccessAction, AccessEvent, AccessRecorder, Scalar
from streams.hub import StreamHub

log = logging.getLogger(__name__)

SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
# A viewer whose ICE never completes (it vanished after the offer) is dropped after this.
CONNECT_TIMEOUT_S = 30.0
# A live viewer's sign-in is checked this often; signing out (or its expiry) ends the session.
SIGN_IN_CHECK_S = 5.0
# Packets queued per viewer before the hub drops the oldest and restarts it at a
# keyframe: about 4 s of 30 fps video, so a short stall recovers without a jump.
VIEWER_QUEUE = 128
# WHEP sends H.264 untouched; RTX lets the viewer ask for lost packets again.
FORCED_CODECS = ("video/H264", "video/rtx")


class SessionKind(enum.StrEnum):
    LIVE = "live"
    PLAYBACK = "playback"


@dataclass(eq=False)
class WhepSession:
    """One viewer's session: live from the hub, or playback of a recorded window."""

    id: str
    camera: str
    owner: str  # username, or a disposition's grantee
    role: str | None  # None for a disposition token holder
    client: str | None
    pc: RTCPeerConnection
    track: MediaStreamTrack
    started: float  # clock.monotonic()
    kind: SessionKind = SessionKind.LIVE
    player: Player | None = None
    #: Why the session must end (its owner's sign-in ended), or None while it may go on.
    still_valid: Callable[[], Awaitable[str | None]] | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""

    def end(self, reason: str) -> None:
        """Ask the session's task to close it (first reason wins)."""
        if not self.ended.is_set():
            self.reason = reason
            self.ended.set()

    def held_by(self, token: str) -> bool:
        """Whether `token` is the disposition token this playback was opened with."""
        expected = self.player.plan.token_sha256 if self.player is not None else None
        if expected is None:
            return False
        return hmac.compare_digest(expected, hashlib.sha256(token.encode()).hexdigest())


def offers_h264(sdp: str) -> bool:
    """Whether an SDP offer has a video section that lists H.264."""
    if not sdp.startswith("v=0") or "\nm=video " not in sdp.replace("\r\n", "\n"):
        return False
    return re.search(r"^a=rtpmap:\d+ H264/90000", sdp, re.IGNORECASE | re.MULTILINE) is not None


class WhepSessions:
    """Owns every WHEP peer connection, live and playback; `run()` (in the gateway's TaskGroup)
    closes them all on exit."""

    def __init__(self, access_log: AccessRecorder, clock: Clock) -> None:
        self._access_log = access_log
        self._clock = clock
        self._sessions: dict[str, WhepSession] = {}
        self._tasks: asyncio.TaskGroup | None = None
        #: Compressed video bytes and packets handed to viewers, per camera, since start.
        self.sent_bytes: Counter[str] = Counter()
        self.sent_packets: Counter[str] = Counter()
        #: The same for recorded video handed to playback viewers.
        self.playback_sent_bytes: Counter[str] = Counter()
        self.playback_sent_packets: Counter[str] = Counter()

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

    def viewers(self, camera: str, kind: SessionKind = SessionKind.LIVE) -> int:
        """Open sessions of one camera (live, or playback)."""
        return sum(1 for s in self._sessions.values() if s.camera == camera and s.kind is kind)

    async def end_live(self, camera: str, reason: str) -> None:
        """End every live session of `camera` (its source is going away) and wait until each
        LIVE_STOP is logged. Playback sessions read recordings and go on."""
        ending = [s for s in self._sessions.values() if s.camera == camera and s.kind is SessionKind.LIVE]
        for session in ending:
            session.end(reason)
        for session in ending:
            await session.closed.wait()

    def get(self, session_id: str) -> WhepSession | None:
        """A session by id; None for unknown or malformed ids."""
        if not SESSION_ID.fullmatch(session_id):
            return None
        return self._sessions.get(session_id)

    async def open(
        self, camera: str, hub: StreamHub, offer: str, owner: str, role: str, client: str | None,
        still_valid: Callable[[], Awaitable[str | None]] | None = None,
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
        pc, answer = await self._negotiate(camera, track, offer)
        try:
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
            session_id, camera, owner, role, client, pc, track, self._clock.monotonic(), still_valid=still_valid
        )

        self._start(session)
        log.info("camera %s: live session %s for %s", camera, session_id[:8], owner,
                 extra={"camera": camera, "session": session_id[:8]})
        return session, pc.localDescription.sdp

    async def open_playback(
        self, camera: str, offer: str, recordings: Recordings, authorize: Callable[[], Awaitable[PlaybackPlan]]
    ) -> tuple[WhepSession, str]:
        """Negotiate `offer`, then ask `authorize()` (it decides, and may use a disposition's view),
        then answer: media flows only after the decision. Returns the session and the SDP answer."""
        if self._tasks is None:
            raise Unavailable("playback sessions are not being served (starting or stopping)")
        if not offers_h264(offer):
            raise BadRequest("the offer has no H.264 video section; Pantau sends recorded H.264 untouched")
        session_id = secrets.token_urlsafe(18)

        def sent(size: int) -> None:
            self.playback_sent_bytes[camera] += size
            self.playback_sent_packets[camera] += 1

        track = PlaybackTrack()
        pc, answer = await self._negotiate(camera, track, offer)
        try:
            plan = await authorize()
            track.player = Player(plan, recordings, self._clock, sent)
            await pc.setLocalDescription(answer)
            await self._access_log.record(
                AccessEvent(AccessAction.PLAYBACK_START, actor=plan.viewer, role=plan.role, client=plan.client,
                            camera=camera, start=plan.start, end=plan.end, token_id=plan.token_id,
                            request_id=plan.request_id,
                            details={"session": session_id, "max_rate": plan.max_rate,
                                     # Passthrough cannot burn text into the picture: the viewer's
                                     # player is told to overlay it (data channel "watermark").
                                     "watermark": "overlay" if plan.watermark else "none"})
            )
            if self._tasks is None:
                raise Unavailable("the gateway is stopping")
        except BaseException:
            track.stop()
            await pc.close()
            raise
        player = track.player
        session = WhepSession(session_id, camera, plan.viewer, plan.role, plan.client, pc, track,
                              self._clock.monotonic(), SessionKind.PLAYBACK, player)

        @pc.on("datachannel")
        def _channel(channel: RTCDataChannel) -> None:
            player.attach(channel)

        self._start(session)
        log.info("camera %s: playback session %s for %s, %s to %s", camera, session_id[:8], plan.viewer,
                 plan.start.isoformat(), plan.end.isoformat(), extra={"camera": camera, "session": session_id[:8]})
        return session, pc.localDescription.sdp

    async def _negotiate(
        self, camera: str, track: MediaStreamTrack, offer: str
    ) -> tuple[RTCPeerConnection, RTCSessionDescription]:
        """A peer sending `track` as H.264 with the offer applied and an answer made (not yet set)."""
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
        except BaseException:
            track.stop()
            await pc.close()
            raise
        return pc, answer

    def _start(self, session: WhepSession) -> None:
        assert self._tasks is not None
        pc = session.pc

        @pc.on("connectionstatechange")
        def _state() -> None:
            state = pc.connectionState
            if state == "connected":
                session.connected.set()
            elif state in ("failed", "disconnected", "closed"):
                session.end(f"connection {state}")

        self._sessions[session.id] = session
        self._tasks.create_task(self._serve(session), name=f"whep:{session.kind}:{session.camera}:{session.id[:8]}")

    async def close(self, session: WhepSession, reason: str) -> None:
        """End a session and wait until its peer is closed and LIVE_STOP / PLAYBACK_STOP is logged."""
        session.end(reason)
        await session.closed.wait()

    async def _serve(self, session: WhepSession) -> None:
        try:
            async with asyncio.TaskGroup() as tasks:
                # A playback reads ahead while ICE connects, so its first frame is ready at once.
                playing = tasks.create_task(self._play(session)) if session.player is not None else None
                watching = tasks.create_task(self._watch(session)) if session.still_valid is not None else None
                try:
                    await asyncio.wait_for(session.connected.wait(), CONNECT_TIMEOUT_S)
                except TimeoutError:
                    session.end("ICE did not connect")
                await session.ended.wait()
                for task in (playing, watching):
                    if task is not None:
                        task.cancel()
        finally:
            if not session.reason:
                session.reason = "gateway stopping"
            await self._finish(session)

    async def _watch(self, session: WhepSession) -> None:
        """End the session once its owner's sign-in no longer stands."""
        assert session.still_valid is not None
        while True:
            await asyncio.sleep(SIGN_IN_CHECK_S)
            try:
                reason = await session.still_valid()
            except Exception:  # the database may be briefly unreachable: ask again next time
                log.warning("camera %s: could not check session %s's sign-in", session.camera,
                            session.id[:8], exc_info=True)
                continue
            if reason is not None:
                session.end(reason)
                return

    async def _play(self, session: WhepSession) -> None:
        assert session.player is not None
        try:
            await session.player.run(session.end)
        except Exception:  # one broken playback must not take the other sessions down
            log.exception("camera %s: playback session %s failed", session.camera, session.id[:8])
            session.end("playback failed")

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
            await self._access_log.record(self._stop_event(session, duration))
            log.info("camera %s: %s session %s ended after %.1f s: %s", session.camera, session.kind,
                     session.id[:8], duration, session.reason,
                     extra={"camera": session.camera, "session": session.id[:8]})
        finally:
            self._sessions.pop(session.id, None)  # counted as a viewer until LIVE_STOP is written
            session.closed.set()
        if cancelled:
            raise asyncio.CancelledError

    @staticmethod
    def _stop_event(session: WhepSession, duration: float) -> AccessEvent:
        details: dict[str, Scalar] = {"session": session.id, "duration_s": round(duration, 3)}
        if session.player is None:
            return AccessEvent(AccessAction.LIVE_STOP, actor=session.owner, role=session.role,
                               client=session.client, camera=session.camera, reason=session.reason,
                               details=details)
        plan, sent = session.player.plan, session.player.sent
        # start/end: the times of the first and last frame actually sent (none: no range).
        return AccessEvent(
            AccessAction.PLAYBACK_STOP, actor=session.owner, role=session.role, client=session.client,
            camera=session.camera, reason=session.reason,
            start=from_epoch(sent.first) if sent.first is not None else None,
            end=from_epoch(sent.last) if sent.last is not None else None,
            token_id=plan.token_id, request_id=plan.request_id,
            details={**details, "frames": sent.frames, "bytes": sent.bytes, "seeks": sent.seeks,
                     "window_start": plan.start.isoformat(), "window_end": plan.end.isoformat()},
        )
