"""One WHEP session's record (its peer, tracks, owner, state) and what is said of it in the access log."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamTrack

from core.errors import BadRequest
from core.utctime import from_epoch
from policy.audit.entries import AccessAction, AccessEvent, Scalar
from webrtc.audiocodec import AudioChoice
from webrtc.audiotrack import HubAudioTrack
from webrtc.limits import Reservation
from webrtc.playback import Player
from webrtc.playbacksound import PlaybackSoundTrack
from webrtc.remotecandidates import CandidateBudget
from webrtc.transcodes import TranscodeLease
from webrtc.trickle import MAX_CANDIDATES, Fragment, add_candidates


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
    #: A live session's share of its camera's transcode (None: the camera's video untouched).
    lease: TranscodeLease | None = None
    #: The session's sound track and the codec it is sent in, when sound is served.
    sound: HubAudioTrack | PlaybackSoundTrack | None = None
    sound_codec: str | None = None
    #: Why the session must end (its owner's sign-in ended), or None while it may go on.
    still_valid: Callable[[], Awaitable[str | None]] | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""
    #: Its place under webrtc.max_sessions / max_sessions_per_user, given back when it closes.
    reservation: Reservation | None = None
    #: Remote candidates the viewer trickled (PATCH) so far.
    trickled: int = 0
    #: The viewer's candidates kept so far (offer and trickled) under the webrtc: rules; None: all.
    candidates: CandidateBudget | None = None

    def end(self, reason: str) -> None:
        """Ask the session's task to close it (first reason wins)."""
        if not self.ended.is_set():
            self.reason = reason
            self.ended.set()

    async def add_remote_candidates(self, fragment: Fragment) -> int:
        """The viewer's trickled candidates (WHEP PATCH) for this session's peer, those the webrtc:
        rules drop left out; how many were added."""
        if self.trickled + len(fragment.candidates) > MAX_CANDIDATES:
            raise BadRequest(f"at most {MAX_CANDIDATES} trickled candidates per session")
        sent = len(fragment.candidates)
        if self.candidates is not None:
            kept = self.candidates.screen(list(fragment.candidates), lambda t: t.candidate.ip)
            fragment = dataclasses.replace(fragment, candidates=tuple(kept),
                                           end=fragment.end and not self.candidates.dropped)
        added = await add_candidates(self.pc, fragment)
        self.trickled += sent
        return added

    def held_by(self, token: str) -> bool:
        """Whether `token` is the disposition token this playback was opened with."""
        expected = self.player.plan.token_sha256 if self.player is not None else None
        if expected is None:
            return False
        return hmac.compare_digest(expected, hashlib.sha256(token.encode()).hexdigest())


def prefer(pc: RTCPeerConnection, sender: RTCRtpSender, mimes: tuple[str, ...]) -> None:
    """Let `sender`'s transceiver negotiate only the codecs `mimes` (set before the offer is applied)."""
    transceiver = next(t for t in pc.getTransceivers() if t.sender is sender)
    assert sender.track is not None
    codecs = RTCRtpSender.getCapabilities(sender.track.kind).codecs
    transceiver.setCodecPreferences([c for c in codecs if c.mimeType in mimes])


def sound_details(choice: AudioChoice | None) -> dict[str, Scalar]:
    """What LIVE_START / PLAYBACK_START say of the sound: whether it is served, and in which codec."""
    return {"audio": choice is not None, "audio_codec": choice.name if choice else None}


def group_details(player: Player | None) -> dict[str, Scalar]:
    """What PLAYBACK_START / PLAYBACK_STOP say of a synchronized replay: its group id (none: nothing)."""
    return {"group": player.group.id} if player is not None and player.group is not None else {}


def offers_h264(sdp: str) -> bool:
    """Whether an SDP offer has a video section that lists H.264."""
    if not sdp.startswith("v=0") or "\nm=video " not in sdp.replace("\r\n", "\n"):
        return False
    return re.search(r"^a=rtpmap:\d+ H264/90000", sdp, re.IGNORECASE | re.MULTILINE) is not None


def stop_event(session: WhepSession, duration: float) -> AccessEvent:
    """LIVE_STOP or PLAYBACK_STOP for a session that lasted `duration` seconds."""
    details: dict[str, Scalar] = {"session": session.id, "duration_s": round(duration, 3)}
    if session.lease is not None:
        details["transcoded"] = True
    if session.sound is not None:
        details["audio_frames"] = session.sound.sent  # 20 ms each
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
        details={**details, **group_details(session.player), "frames": sent.frames, "bytes": sent.bytes, "seeks": sent.seeks,
                 "window_start": plan.start.isoformat(), "window_end": plan.end.isoformat()},
    )
