"""Reading request bodies with a size cap and a clear 4xx for anything malformed.

Every route reads its body through here. `StreamReader.read(n)` returns what has arrived so far
(one TCP segment, one chunk), not n bytes: a body sent in pieces must be read to its end, and the
cap must hold however the body is framed (a chunked body has no Content-Length to check).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, StreamReader, web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_exceptions import HttpProcessingError

from core.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

READ_CHUNK = 64 * 1024


async def read_body(request: web.Request, max_bytes: int, what: str = "body") -> bytes:
    """The whole body, however many segments or chunks it came in; 413 as soon as it passes
    `max_bytes` (nothing more is read)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(f"{what} over {max_bytes} bytes")
    data = bytearray()
    while chunk := await request.content.read(READ_CHUNK):
        data += chunk
        if len(data) > max_bytes:
            raise PayloadTooLarge(f"{what} over {max_bytes} bytes")
    return bytes(data)


async def read_json(request: web.Request, max_bytes: int, types: tuple[str, ...] = ("application/json",)) -> dict[str, Any]:
    """The JSON object in the body; 415/413/400 for the wrong type, size or syntax."""
    if request.content_type not in types:
        raise UnsupportedMediaType(f"send {' or '.join(types)}")
    raw = await read_body(request, max_bytes)
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest("body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise BadRequest("body must be a JSON object")
    return value


@dataclass(frozen=True)
class FormLimits:
    """What a multipart form may hold: its total size, its parts, and each part's size."""

    max_bytes: int  # the whole body, boundaries and part headers included
    max_parts: int
    field_bytes: int  # one text field
    file_fields: dict[str, int]  # file part name -> its largest size
    text_fields: Collection[str]
    repeatable: dict[str, int]  # text field -> how often it may come (others come once)


@dataclass(frozen=True)
class Form:
    """A multipart form as read: each text field's values in order, each file's bytes."""

    fields: dict[str, list[str]]
    files: dict[str, bytes]


def _memory_stream(data: bytes) -> StreamReader:
    loop = asyncio.get_running_loop()
    # Its buffer limit above the data: a full buffer would ask the (absent) transport to pause.
    stream = StreamReader(BaseProtocol(loop), max(READ_CHUNK, len(data)), loop=loop)
    stream.feed_data(data)
    stream.feed_eof()
    return stream


async def _part(part: BodyPartReader, limit: int, name: str) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(READ_CHUNK):
        data += chunk
        if len(data) > limit:
            raise PayloadTooLarge(f"{name} is larger than {limit} bytes")
    return bytes(data)


async def read_form(request: web.Request, limits: FormLimits) -> Form:
    """A multipart/form-data body within `limits` (415 for another type, 413 past a size, 400 for
    too many parts, a repeated or unknown field, or malformed multipart). The body is read whole
    (capped) before it is parsed, so no framing gets around the cap; parsing stops at the first
    part over a limit."""
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType("send multipart/form-data")
    raw = await read_body(request, limits.max_bytes, "the form")
    fields: dict[str, list[str]] = {}
    files: dict[str, bytes] = {}
    parts = 0
    try:
        reader = MultipartReader(request.headers, _memory_stream(raw))
        while (part := await reader.next()) is not None:
            parts += 1
            if parts > limits.max_parts:
                raise BadRequest(f"a form has at most {limits.max_parts} parts")
            if not isinstance(part, BodyPartReader):
                raise BadRequest("nested multipart bodies are not accepted")
            name = str(part.name)
            if name in limits.file_fields:
                if name in files:
                    raise BadRequest(f"form field {name!r} sent twice")
                files[name] = await _part(part, limits.file_fields[name], name)
            elif name in limits.text_fields:
                values = fields.setdefault(name, [])
                if len(values) >= limits.repeatable.get(name, 1):
                    raise BadRequest(f"form field {name!r} sent too often")
                values.append((await _part(part, limits.field_bytes, name)).decode("utf-8").strip())
            else:
                raise BadRequest(f"unknown form field {name[:40]!r}")
    # aiohttp's errors for malformed multipart: a bad boundary or charset (ValueError, LookupError,
    # RuntimeError, AssertionError), bad part headers (HttpProcessingError: BadHttpMessage, LineTooLong).
    except (ValueError, LookupError, RuntimeError, AssertionError, HttpProcessingError) as exc:
        raise BadRequest("malformed multipart body") from exc
    return Form(fields, files)
