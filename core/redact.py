"""Removing credentials from URLs before they reach a log, an error, the API or an alert."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# Last line of defence: user:password@ in any URL-looking text is masked, whoever wrote it.
_CREDENTIALS = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")


def redact_url(url: str) -> str:
    """Return `url` with any user:password replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"***@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def scrub(text: str) -> str:
    """Mask credentials in URLs anywhere inside `text`."""
    return _CREDENTIALS.sub(r"\1***@", text)
