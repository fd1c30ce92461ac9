"""WebRTC (WHEP): hub-fed passthrough live tracks (H.264, and H.265 with our RFC 7798 payloader), the wall's
shared H.264 transcodes (capped; refusals that say why), the cameras' sound (G.711 passed through, other
sound decoded for aiortc's Opus) sent in step with the picture, playback of recordings (and their sound)
paced with its control channel, the sessions that own peers, how viewers reach them (ICE servers,
offered addresses, trickled candidates) and how many run at once."""

from webrtc.livevideo import LiveVideo, Refusal, live_video
from webrtc.playback import PlaybackPlan
from webrtc.playbackplan import playback_plan
from webrtc.session import SessionKind
from webrtc.sessions import WhepSessions

__all__ = [
    "LiveVideo",
    "PlaybackPlan",
    "Refusal",
    "SessionKind",
    "WhepSessions",
    "live_video",
    "playback_plan",
]
