"""What can go wrong talking to an ONVIF device, as Pantau errors (policy in class attributes).

All are `SourceError`s: a camera whose ONVIF resolution fails this way goes offline with
the error's text as its reason and retries with backoff, like an RTSP failure.
"""

from __future__ import annotations

from core.errors import SourceError, SourceTimeout


class OnvifError(SourceError):
    """Base of every ONVIF failure; the message never carries credentials."""

    title = "ONVIF device failed"
    kind = "onvif-device-failed"


class OnvifAuthError(OnvifError):
    """The device refused the credentials (WS-Security or HTTP 401).

    Retriable: a camera's user may be created or unlocked later, and a lockout on the camera
    side is what the backoff is for.
    """

    title = "ONVIF device refused the credentials"
    kind = "onvif-credentials-refused"


class OnvifTimeout(OnvifError, SourceTimeout):
    """The device accepted the connection but did not answer in time."""

    title = "ONVIF device timed out"
    kind = "onvif-timeout"


class OnvifUnreachable(OnvifError):
    """No connection: refused, reset, no route, name not found."""

    title = "ONVIF device unreachable"
    kind = "onvif-unreachable"


class OnvifFault(OnvifError):
    """The device answered with a SOAP fault (other than an authentication one)."""

    title = "ONVIF device returned a SOAP fault"
    kind = "onvif-fault"


class OnvifMalformed(OnvifError):
    """The device's answer was not the SOAP/XML it should be."""

    title = "ONVIF device sent a malformed answer"
    kind = "onvif-malformed-answer"
