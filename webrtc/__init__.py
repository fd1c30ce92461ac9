"""WebRTC (WHEP): hub-fed passthrough live tracks, playback of recordings paced with its control channel, and the sessions that own peers."""

from webrtc.playback import PlaybackPlan
from webrtc.playbackplan import playback_plan
from webrtc.sessions import SessionKind, WhepSessions

__all__ = [
    "PlaybackPlan",
    "SessionKind",
    "WhepSessions",
    "playback_plan",
]
