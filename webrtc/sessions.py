"""WHEP sessions, live and playback: one owner for every peer connection, its source and its tasks."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable

from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from core.clock import Clock
from core.errors import BadRequest, Unavailable
from core.webrtcconfig import WebRtcConfig
from core.waiting import within
from webrtc import h265
from webrtc.audiocodec import AudioChoice, choose_audio
from webrtc.audiotrack import HubAudioTrack
from webrtc.hubtrack import HubVideoTrack
from webrtc.ice import IceNetwork
from webrtc.limits import RefusalBursts, Reservation, SessionCapReached, SessionLimits
from webrtc.lipsync import LipSync
from webrtc.playback import PlaybackPlan, PlaybackTrack, Player
from webrtc.playbackfeed import Recordings
from webrtc.playbackgroup import PlaybackGroups
from webrtc.playbacksound import PlaybackSoundTrack
from webrtc.remotecandidates import RemoteCandidates
from webrtc.session import SessionKind, WhepSession, group_details, offers_h264, prefer, sound_details, stop_event
from webrtc.transcodes import TranscodeLease, Transcodes
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
# WHEP sends the camera's video untouched (H.264; H.265 to a viewer that offers it); RTX lets the
# viewer ask for lost packets again. Keyed by FFmpeg codec name.
FORCED_CODECS = {"h264": ("video/H264", "video/rtx"), "hevc": (h265.MIME, "video/rtx")}
# The sound's subscription sees the video packets too (and skips them): room for ~3 s of both.
SOUND_QUEUE = 256


class WhepSessions:
    """Owns every WHEP peer connection, live and playback; `run()` (in the gateway's TaskGroup)
    closes them all on exit."""

    def __init__(self, access_log: AccessRecorder, clock: Clock, config: WebRtcConfig | None = None) -> None:
        self._access_log = access_log
        self._clock = clock
        h265.register()  # aiortc knows H.264 and VP8 only
        config = config or WebRtcConfig()
        #: STUN/TURN servers and the addresses offered (webrtc.ice_servers, interfaces, additional_hosts).
        self.network = IceNetwork(config)
        #: The viewers' candidates the peers may check (webrtc.allowed_networks, max_remote_candidates).
        self.remote_candidates = RemoteCandidates(config)
        #: Sessions open at once, in total and per user or disposition token.
        self.limits = SessionLimits(config.max_sessions, config.max_sessions_per_user)
        self._refusals = RefusalBursts()
        #: The wall's transcodes (cameras whose video browsers cannot play), run by `run()`.
        self.transcodes = Transcodes(config.max_transcodes, config.transcode_width, clock, VIEWER_QUEUE)
        self._sessions: dict[str, WhepSession] = {}
        self._tasks: asyncio.TaskGroup | None = None
        #: Compressed video bytes and packets handed to viewers, per camera, since start.
        self.sent_bytes: Counter[str] = Counter()
        self.sent_packets: Counter[str] = Counter()
        #: The same for recorded video handed to playback viewers.
        self.playback_sent_bytes: Counter[str] = Counter()
        self.playback_sent_packets: Counter[str] = Counter()
        #: Synchronized replays: playback sessions of one viewer sharing one clock (`?group=`).
        self.groups = PlaybackGroups()  # on the loop's clock, as players pace

    async def run(self) -> None:
        """Serve sessions until cancelled; each session's task closes its peer on the way out."""
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            tasks.create_task(self.transcodes.run(), name="whep:transcodes")
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

    async def end_owned_by(self, username: str, reason: str) -> int:
        """End every session a signed-in `username` opened, live and playback (their account was
        disabled), and wait until each stop is logged; how many. A disposition token's sessions
        (no role) are the token's, not the user's, and go on: the token is revoked on its own."""
        ending = [s for s in self._sessions.values() if s.owner == username and s.role is not None]
        for session in ending:
            session.end(reason)
        for session in ending:
            await session.closed.wait()
        return len(ending)

    def get(self, session_id: str) -> WhepSession | None:
        """A session by id; None for unknown or malformed ids."""
        if not SESSION_ID.fullmatch(session_id):
            return None
        return self._sessions.get(session_id)

    async def open(
        self, camera: str, hub: StreamHub, offer: str, owner: str, role: str, client: str | None,
        still_valid: Callable[[], Awaitable[str | None]] | None = None, holder: str | None = None,
        codec: str = "h264", transcode_from: str | None = None, audio: bool = False,
    ) -> tuple[WhepSession, str]:
        """Negotiate a passthrough session sending `codec` ("h264", or "hevc" to a viewer whose
        offer lists H.265) for `offer`; returns it and the SDP answer. With `transcode_from` (the
        codec the hub carries) it sends the camera's shared H.264 transcode instead.
        `holder` (default: `owner`) is whom it counts against under max_sessions_per_user.
        With `audio` (the decision allows sound) the camera's sound goes too, when the offer
        receives audio in a codec Pantau can send and the camera has sound."""
        if transcode_from is not None:
            codec = "h264"
        if self._tasks is None:
            raise Unavailable("live sessions are not being served (starting or stopping)")
        if codec == "h264" and not offers_h264(offer):
            raise BadRequest("the offer has no H.264 video section; Pantau sends camera H.264 untouched")
        if codec == "hevc" and not h265.offers_h265(offer):
            raise BadRequest("the offer has no H.265 video section for this H.265 camera")
        # Reserved before anything suspends (_reserve's first step): caps hold under a burst.
        reservation = await self._reserve(holder or owner, camera, client, role, SessionKind.LIVE)
        try:
            # Joined before negotiating: a refusal (the transcode cap) costs no peer connection.
            lease = self.transcodes.join(camera, hub, transcode_from) if transcode_from is not None else None
        except BaseException:
            reservation.release()
            raise
        try:
            heard = next((s.codec for s in hub.streams if s.kind == "audio"), None)
            choice = choose_audio(offer, heard) if audio else None
            return await self._open_live(camera, lease.hub if lease is not None else hub, offer, owner, role,
                                         client, still_valid, reservation, codec, lease,
                                         (hub, choice) if choice is not None else None)
        except BaseException:
            reservation.release()
            if lease is not None:
                lease.release()
            raise

    async def _open_live(
        self, camera: str, hub: StreamHub, offer: str, owner: str, role: str, client: str | None,
        still_valid: Callable[[], Awaitable[str | None]] | None, reservation: Reservation, codec: str,
        lease: TranscodeLease | None, sound_from: tuple[StreamHub, AudioChoice] | None,
    ) -> tuple[WhepSession, str]:
        session_id = secrets.token_urlsafe(18)

        def sent(size: int) -> None:
            self.sent_bytes[camera] += size
            self.sent_packets[camera] += 1

        choice = sound_from[1] if sound_from is not None else None
        details: dict[str, Scalar] = {"session": session_id, **sound_details(choice)}
        if lease is not None:
            details.update(transcoded=True, source_codec=lease.source_codec, transcode_width=self.transcodes.width)
        lipsync = LipSync() if sound_from is not None else None
        track = HubVideoTrack(hub.subscribe(f"whep:{session_id}", VIEWER_QUEUE), sent, codec, lipsync)
        # The sound comes from the camera's own hub, also when the picture is its transcode.
        sound = (HubAudioTrack(sound_from[0].subscribe(f"whep-sound:{session_id}", SOUND_QUEUE), sound_from[1],
                               lipsync) if sound_from is not None else None)
        budget = self.remote_candidates.budget(camera, session_id)
        pc, answer = await self._negotiate(camera, track, budget.screen_offer(offer), codec, sound, choice)
        try:
            await pc.setLocalDescription(answer)  # gathers every candidate: aiortc never trickles
            # Logged before any media can flow, and before the session can end (LIVE_STOP).
            await self._access_log.record(
                AccessEvent(AccessAction.LIVE_START, actor=owner, role=role, client=client, camera=camera,
                            details=details)
            )
            if self._tasks is None:
                raise Unavailable("the gateway is stopping")
        except BaseException:
            track.stop()
            if sound is not None:
                sound.stop()
            await pc.close()
            raise
        session = WhepSession(
            session_id, camera, owner, role, client, pc, track, self._clock.monotonic(), still_valid=still_valid,
            reservation=reservation, lease=lease, sound=sound, sound_codec=choice.name if choice else None,
            candidates=budget,
        )

        self._start(session)
        log.info("camera %s: live session %s for %s%s", camera, session_id[:8], owner,
                 f" (transcoded from {lease.source_codec})" if lease is not None else "",
                 extra={"camera": camera, "session": session_id[:8]})
        return session, self.network.answer(pc)

    async def _reserve(self, holder: str, camera: str, client: str | None, role: str | None,
                       kind: SessionKind) -> Reservation:
        """A place under the caps; a refusal is a `decision` deny in the access log, once per burst
        of one holder's refusals under one cap (RefusalBursts), then raised (503)."""
        try:
            return self.limits.reserve(holder)
        except SessionCapReached as refused:
            covered = self._refusals.entry_due(holder, refused.cap, self._clock.monotonic())
            if covered is not None:
                # A disposition token's holder is a hash of the token: name it by a prefix only.
                actor = holder[:22] if holder.startswith("token:") else holder
                log.warning("camera %s: refused a %s session of %s (%s), %d refusal(s) since the last entry",
                            camera, kind.value, actor, refused.cap.value, covered,
                            extra={"camera": camera, "client": client})
                await self._access_log.record(AccessEvent(
                    AccessAction.DECISION, actor=actor, role=role, client=client, camera=camera, outcome="deny",
                    reason=refused.detail,
                    details={"action": kind.value, "cap": refused.cap.value,
                             "refusals": covered},
                ))
            raise

    async def open_playback(
        self, camera: str, offer: str, recordings: Recordings, authorize: Callable[[], Awaitable[PlaybackPlan]],
        holder: str, group: str | None = None,
    ) -> tuple[WhepSession, str]:
        """Negotiate `offer`, then ask `authorize()` (it decides, and may use a disposition's view),
        then answer: media flows only after the decision. Returns the session and the SDP answer.
        `holder` (a user, or a disposition token) is whom it counts against under the caps, which
        are checked first: a refused session uses no view. With `group`, the session joins the
        holder's synchronized replay of that id (409 when the id is another holder's)."""
        if self._tasks is None:
            raise Unavailable("playback sessions are not being served (starting or stopping)")
        if not offers_h264(offer):
            raise BadRequest("the offer has no H.264 video section; Pantau sends recorded H.264 untouched")
        if group is not None:
            self.groups.check(group, holder)
        # Reserved before anything suspends (_reserve's first step): caps hold under a burst.
        reservation = await self._reserve(holder, camera, None, None, SessionKind.PLAYBACK)
        try:
            return await self._open_playback(camera, offer, recordings, authorize, reservation, holder, group)
        except BaseException:
            reservation.release()
            raise

    async def _open_playback(
        self, camera: str, offer: str, recordings: Recordings, authorize: Callable[[], Awaitable[PlaybackPlan]],
        reservation: Reservation, holder: str, group_id: str | None,
    ) -> tuple[WhepSession, str]:
        session_id = secrets.token_urlsafe(18)

        def sent(size: int) -> None:
            self.playback_sent_bytes[camera] += size
            self.playback_sent_packets[camera] += 1

        track = PlaybackTrack()
        # Recordings hold AAC (the recorder turns G.711 into it): the sound is decoded and re-encoded.
        choice = choose_audio(offer, "aac")
        sound = PlaybackSoundTrack(choice.clock_rate) if choice is not None else None
        budget = self.remote_candidates.budget(camera, session_id)
        pc, answer = await self._negotiate(camera, track, budget.screen_offer(offer), sound=sound, choice=choice)
        try:
            plan = await authorize()
            track.player = Player(plan, recordings, self._clock, sent, sound=sound is not None and plan.audio)
            if group_id is not None:
                # Checked again: another holder may have made the group while this one negotiated.
                track.player.join(self.groups.join(group_id, holder, track.player))
            if sound is not None and not plan.audio:
                # The allow says no sound: answer the offer's audio section as inactive.
                answer = await self._silence(pc, sound)
                sound, choice = None, None
            if sound is not None:
                sound.player = track.player
            await pc.setLocalDescription(answer)
            await self._access_log.record(
                AccessEvent(AccessAction.PLAYBACK_START, actor=plan.viewer, role=plan.role, client=plan.client,
                            camera=camera, start=plan.start, end=plan.end, token_id=plan.token_id,
                            request_id=plan.request_id,
                            details={"session": session_id, "max_rate": plan.max_rate,
                                     # Passthrough cannot burn text into the picture: the viewer's
                                     # player is told to overlay it (data channel "watermark").
                                     "watermark": "overlay" if plan.watermark else "none",
                                     **sound_details(choice), **group_details(track.player)})
            )
            if self._tasks is None:
                raise Unavailable("the gateway is stopping")
        except BaseException:
            if track.player is not None and track.player.group is not None:
                self.groups.leave(track.player.group, track.player)
            track.stop()
            if sound is not None:
                sound.stop()
            await pc.close()
            raise
        player = track.player
        session = WhepSession(session_id, camera, plan.viewer, plan.role, plan.client, pc, track,
                              self._clock.monotonic(), SessionKind.PLAYBACK, player, reservation=reservation,
                              sound=sound, sound_codec=choice.name if choice else None, candidates=budget)

        @pc.on("datachannel")
        def _channel(channel: RTCDataChannel) -> None:
            player.attach(channel)

        self._start(session)
        log.info("camera %s: playback session %s for %s, %s to %s", camera, session_id[:8], plan.viewer,
                 plan.start.isoformat(), plan.end.isoformat(), extra={"camera": camera, "session": session_id[:8]})
        return session, self.network.answer(pc)

    async def _negotiate(
        self, camera: str, track: MediaStreamTrack, offer: str, codec: str = "h264",
        sound: MediaStreamTrack | None = None, choice: AudioChoice | None = None,
    ) -> tuple[RTCPeerConnection, RTCSessionDescription]:
        """A peer sending `track` as `codec` (H.264 unless told), and `sound` in `choice`'s codec,
        with the offer applied and an answer made (not yet set)."""
        pc = RTCPeerConnection(self.network.configuration())
        try:
            prefer(pc, pc.addTrack(track), FORCED_CODECS[codec])
            if sound is not None and choice is not None:
                # Only the chosen codec: aiortc answers with the offer's first common codec, which
                # for a browser is Opus even when the camera's G.711 could go as it is.
                prefer(pc, pc.addTrack(sound), (choice.mime,))
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
                answer = await pc.createAnswer()
            except Exception as exc:  # aiortc raises ValueError, KeyError, its own errors...
                log.info("camera %s: offer rejected: %r", camera, exc, extra={"camera": camera})
                raise BadRequest(f"the SDP offer could not be negotiated: {exc}") from exc
            wanted = FORCED_CODECS[codec][0].split("/")[1]
            if answer is None or f" {wanted}/90000" not in answer.sdp:
                raise BadRequest(f"the offer's video section has no {wanted} mode Pantau can send")
            await self.network.gather(pc)  # only the configured interfaces' candidates
        except BaseException:
            track.stop()
            if sound is not None:
                sound.stop()
            await pc.close()
            raise
        return pc, answer

    @staticmethod
    async def _silence(pc: RTCPeerConnection, sound: PlaybackSoundTrack) -> RTCSessionDescription:
        """Answer again with the sound's transceiver inactive (nothing is sent on it)."""
        transceiver = next(t for t in pc.getTransceivers() if t.sender.track is sound)
        transceiver.direction = "inactive"
        sound.stop()
        answer = await pc.createAnswer()
        assert answer is not None
        return answer

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
                # Beside the wait for the end: a DELETE before ICE connects ends the session at once.
                connecting = tasks.create_task(self._connect_deadline(session))
                transcoding = (tasks.create_task(self._watch_transcode(session, session.lease))
                               if session.lease is not None else None)
                await session.ended.wait()
                for task in (playing, watching, connecting, transcoding):
                    if task is not None:
                        task.cancel()
        finally:
            if not session.reason:
                session.reason = "gateway stopping"
            await self._finish(session)

    @staticmethod
    async def _connect_deadline(session: WhepSession) -> None:
        """End the session if ICE has not connected within CONNECT_TIMEOUT_S."""
        if await within(session.connected.wait(), CONNECT_TIMEOUT_S) is None:
            session.end("ICE did not connect")

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

    @staticmethod
    async def _watch_transcode(session: WhepSession, lease: TranscodeLease) -> None:
        """End the session, saying why, if its camera's transcode fails."""
        await lease.failed.wait()
        session.end(f"transcoding failed: {lease.failure}")

    async def _play(self, session: WhepSession) -> None:
        assert session.player is not None
        try:
            await session.player.run(session.end)
        except Exception:  # one broken playback must not take the other sessions down
            log.exception("camera %s: playback session %s failed", session.camera, session.id[:8])
            session.end("playback failed")

    async def _finish(self, session: WhepSession) -> None:
        """Close the peer, leave the hub (and the transcode), log LIVE_STOP; completes even if
        cancelled meanwhile."""
        session.track.stop()
        if session.sound is not None:
            session.sound.stop()
        if session.player is not None and session.player.group is not None:
            self.groups.leave(session.player.group, session.player)
        if session.lease is not None:
            session.lease.release()
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
            await self._access_log.record(stop_event(session, duration))
            log.info("camera %s: %s session %s ended after %.1f s: %s", session.camera, session.kind,
                     session.id[:8], duration, session.reason,
                     extra={"camera": session.camera, "session": session.id[:8]})
        finally:
            self._sessions.pop(session.id, None)  # counted as a viewer until LIVE_STOP is written
            if session.reservation is not None:
                session.reservation.release()
            session.closed.set()
        if cancelled:
            raise asyncio.CancelledError
