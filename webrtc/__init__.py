"""WebRTC (WHEP) live viewing: hub-fed passthrough tracks and the sessions that own peers."""
