"""Pantau's error hierarchy: policy lives in class attributes, so callers ask the error."""

from __future__ import annotations


class PantauError(Exception):
    """Base of every error Pantau raises on purpose."""

    #: HTTP status the gateway answers with when this error reaches a route.
    status: int = 500
    #: Short, stable title for problem+json bodies.
    title: str = "Internal error"
    #: Whether retrying the same operation later may succeed.
    retriable: bool = False

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title

    def members(self) -> dict[str, str | int]:
        """Extension members for the problem+json body (RFC 9457 3.2): stable, machine-readable
        facts (a reason code) a client can put in its own words and language. None by default."""
        return {}


class ConfigError(PantauError):
    """The configuration is invalid; carries one line per problem."""

    status = 500
    title = "Invalid configuration"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class BadRequest(PantauError):
    status = 400
    title = "Bad request"


class Unauthorized(PantauError):
    status = 401
    title = "Unauthorized"


class Forbidden(PantauError):
    status = 403
    title = "Forbidden"


class NotFound(PantauError):
    status = 404
    title = "Not found"


class Conflict(PantauError):
    status = 409
    title = "Conflict"


class Gone(PantauError):
    """It existed and is deleted for good (an export's file after its keep time)."""

    status = 410
    title = "Gone"


class PayloadTooLarge(PantauError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(PantauError):
    status = 415
    title = "Unsupported media type"


class Unprocessable(PantauError):
    """Well-formed, but Pantau cannot do it (e.g. a codec WebRTC passthrough cannot carry)."""

    status = 422
    title = "Unprocessable request"


class TooManyRequests(PantauError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str = "", retry_after_s: float = 60.0) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class Unavailable(PantauError):
    status = 503
    title = "Service unavailable"
    retriable = True

    def __init__(self, detail: str = "", retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        #: Sent as Retry-After when set (a busy resource that frees up soon).
        self.retry_after_s = retry_after_s


class SourceError(PantauError):
    """A camera source failed to open or read; the source retries with backoff."""

    status = 502
    title = "Camera source failed"
    retriable = True


class SourceTimeout(SourceError):
    title = "Camera source timed out"


class SourceRefused(SourceError):
    """The source URL is not allowed (scheme, protocol); retrying cannot help."""

    title = "Camera source refused"
    retriable = False
