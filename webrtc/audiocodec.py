"""Which codec a WHEP answer sends sound in: the camera's G.711 as it is when the viewer's offer
lists it, otherwise Opus (or G.711) made from the decoded sound; nothing when the offer has no
audio section that can receive."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Camera (FFmpeg) codecs that WebRTC carries as they are, by their RTP MIME type (RFC 3551).
PASSTHROUGH = {"pcm_alaw": "audio/PCMA", "pcm_mulaw": "audio/PCMU"}
#: What decoded sound is encoded to (by aiortc), best first: Opus (every browser), then G.711.
ENCODED = ("audio/opus", "audio/PCMA", "audio/PCMU")
#: The RTP clock of each codec aiortc sends (Opus is always 48 kHz on the wire, RFC 7587).
CLOCK_RATE = {"audio/opus": 48_000, "audio/PCMA": 8_000, "audio/PCMU": 8_000}

_RTPMAP = re.compile(r"^a=rtpmap:\d+ ([A-Za-z0-9_.-]+)/\d+", re.MULTILINE)
_DIRECTION = re.compile(r"^a=(sendonly|recvonly|sendrecv|inactive)\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class AudioChoice:
    """The sound of a session: the MIME type sent, and whether the camera's packets go as they are."""

    mime: str
    passthrough: bool

    @property
    def name(self) -> str:
        """The codec's name as SDP and the access log spell it ("PCMA", "opus")."""
        return self.mime.split("/", 1)[1]

    @property
    def clock_rate(self) -> int:
        """The codec's RTP clock (and the rate decoded sound is resampled to)."""
        return CLOCK_RATE[self.mime]


def offered_audio(offer: str) -> frozenset[str]:
    """The audio codecs (lower-case MIME types) of the offer's audio sections that can receive."""
    text = offer.replace("\r\n", "\n")
    found: set[str] = set()
    for section in text.split("\nm=")[1:]:
        head = section.split("\n", 1)[0].split()
        if not head or head[0] != "audio" or len(head) < 2 or head[1] == "0":
            continue  # another kind, or a rejected (port 0) section
        directions = _DIRECTION.findall(section)
        if directions and directions[-1] in ("sendonly", "inactive"):
            continue  # the viewer would not receive what we send
        found |= {f"audio/{name.lower()}" for name in _RTPMAP.findall(section)}
    return frozenset(found)


def choose_audio(offer: str, camera_codec: str | None) -> AudioChoice | None:
    """What to send `camera_codec` sound as to the offer's viewer; None when nothing fits (no
    sound from the camera, or no audio section the viewer receives in a codec aiortc sends)."""
    if camera_codec is None:
        return None
    offered = offered_audio(offer)
    same = PASSTHROUGH.get(camera_codec)
    if same is not None and same.lower() in offered:
        return AudioChoice(same, passthrough=True)
    for mime in ENCODED:
        if mime.lower() in offered:
            return AudioChoice(mime, passthrough=False)
    return None
