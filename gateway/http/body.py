"""Reading request bodies with a size cap and a clear 4xx for anything malformed."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from core.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType


async def read_json(request: web.Request, max_bytes: int, types: tuple[str, ...] = ("application/json",)) -> dict[str, Any]:
    """The JSON object in the body; 415/413/400 for the wrong type, size or syntax."""
    if request.content_type not in types:
        raise UnsupportedMediaType(f"send {' or '.join(types)}")
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(f"body over {max_bytes} bytes")
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"body over {max_bytes} bytes")
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest("body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise BadRequest("body must be a JSON object")
    return value
