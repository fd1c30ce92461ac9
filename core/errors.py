"""Pantau's error hierarchy: policy lives in class attributes, so callers ask the error."""

from __future__ import annotations


#: Every problem type is this and the error's `kind` (README "Problem types" lists them).
PROBLEM_TYPE = "urn:pantau:problem:"


class PantauError(Exception):
    """Base of every error Pantau raises on purpose."""

    #: HTTP status the gateway answers with when this error reaches a route.
    status: int = 500
    #: The problem type's last part (`urn:pantau:problem:internal-error`): stable, for clients to branch on.
    kind = "internal-error"
    #: Short, stable title for problem+json bodies.
    title: str = "Internal error"
    #: Whether retrying the same operation later may succeed.
    retriable: bool = False
    #: Whether the HTTP layer writes a text-log line for each refusal. False where the raiser
    #: logs it itself, rate-limited (refusals an anonymous caller can repeat at will).
    logged_each: bool = True

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title

    @classmethod
    def problem_type(cls) -> str:
        """The problem+json `type` of this error (RFC 9457 3.1.1)."""
        return PROBLEM_TYPE + cls.kind

    def members(self) -> dict[str, str | int]:
        """Extension members for the problem+json body (RFC 9457 3.2): stable, machine-readable
        facts (a reason code) a client can put in its own words and language. None by default."""
        return {}


class ConfigError(PantauError):
    """The configuration is invalid; carries one line per problem."""

    status = 500
    kind = "invalid-configuration"
    title = "Invalid configuration"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class BadRequest(PantauError):
    status = 400
    kind = "bad-request"
    title = "Bad request"


class Unauthorized(PantauError):
    status = 401
    kind = "unauthorized"
    title = "Unauthorized"


class UnknownBearer(Unauthorized):
    """A bearer token that is not ours (unknown, expired, revoked, or not signed with our key);
    logged once a minute per address by gateway/refusallog.py, not per request."""

    kind = "unauthorized"  # to a client, it is any other 401
    logged_each = False


class Forbidden(PantauError):
    status = 403
    kind = "forbidden"
    title = "Forbidden"


class NotFound(PantauError):
    status = 404
    kind = "not-found"
    title = "Not found"


class Conflict(PantauError):
    status = 409
    kind = "conflict"
    title = "Conflict"


class Gone(PantauError):
    """It existed and is deleted for good (an export's file after its keep time)."""

    status = 410
    kind = "gone"
    title = "Gone"


class PayloadTooLarge(PantauError):
    status = 413
    kind = "too-large"
    title = "Payload too large"


class UnsupportedMediaType(PantauError):
    status = 415
    kind = "unsupported-media-type"
    title = "Unsupported media type"


class Unprocessable(PantauError):
    """Well-formed, but Pantau cannot do it (e.g. a codec WebRTC passthrough cannot carry)."""

    status = 422
    kind = "unprocessable"
    title = "Unprocessable request"


class DestinationRefused(Unprocessable):
    """An address the gateway will not connect to (core/destinations.py): link-local (cloud metadata),
    unspecified, multicast, reserved, or outside `onboarding.allowed_networks`."""

    kind = "destination-refused"
    title = "Destination refused"


class TooManyRequests(PantauError):
    status = 429
    kind = "too-many-requests"
    title = "Too many requests"

    def __init__(self, detail: str = "", retry_after_s: float = 60.0) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class SignInThrottled(TooManyRequests):
    """A sign-in refused before its password was checked; logged once a minute per user and
    address by gateway/refusallog.py, not per request."""

    kind = "too-many-requests"  # to a client, it is any other 429
    logged_each = False


class Unavailable(PantauError):
    status = 503
    kind = "unavailable"
    title = "Service unavailable"
    retriable = True

    def __init__(self, detail: str = "", retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        #: Sent as Retry-After when set (a busy resource that frees up soon).
        self.retry_after_s = retry_after_s


class SourceError(PantauError):
    """A camera source failed to open or read; the source retries with backoff."""

    status = 502
    kind = "camera-source-failed"
    title = "Camera source failed"
    retriable = True


class SourceTimeout(SourceError):
    title = "Camera source timed out"
    kind = "camera-source-timeout"


class SourceRefused(SourceError):
    """The source URL is not allowed (scheme, protocol); retrying cannot help."""

    title = "Camera source refused"
    kind = "camera-source-refused"
    retriable = False
