"""Recordings over HTTP in MediaMTX's shape (its playback server: internal/playback), so tools that
know MediaMTX work: `GET /list` (spans) and `GET /get` (a download). `path` is the camera id.

Where Pantau differs from MediaMTX, and why:
- policy: the same decisions and access log as every other route; a download is an export.
- /get cuts to the window (first keyframe at or after `start`, nothing at or after
  start+duration; recorder/export.py); MediaMTX starts at the keyframe before `start`.
- `duration` is seconds only; MediaMTX's deprecated Go duration strings ("1h2m") are refused.
- the recorded sound goes along unless the decision says no_audio (ReplayRule.audio false): then
  the file is video only, and the log entry says `audio: false, no_audio: true`.
- times must be RFC 3339 with a zone (as MediaMTX's time.RFC3339); an unencoded "+" in the
  zone, which arrives as a space, is read as "+".
- errors are RFC 9457 problem+json instead of MediaMTX's {"status":"error","error":...}.
- a signed link (`&link=`, POST /api/v1/links; gateway/http/linkbearer.py) opens /get without an
  Authorization header, as the user who made it, decided again at use.
This module only does HTTP, policy and logging; spans and muxing live in recorder/.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from aiohttp import web

from core.config import CAMERA_ID
from core.errors import BadRequest, Forbidden, NotFound, Unauthorized, Unavailable
from gateway.http.auth import GET_ROUTE, disposition_token
from gateway.http.guard import authorize
from gateway.http.appkeys import SERVICES
from gateway.http.urls import handed_out
from gateway.http.linkbearer import link_bearer
from gateway.http.params import query_time, rfc3339
from gateway.http.views import iso
from policy.decision import Action, Decision, ObligationKind, Reason
from policy.audit.entries import AccessAction, AccessEvent, Scalar
from policy.dispositions.tokens import TokenRejected
from policy.identity.users import Principal
from recorder.export import ExportFormat
from recorder.export_spans import spans
from recorder.export_stream import Export
from streams.camera import Camera

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

# One download covers at most a day: an mp4 is staged on disk whole before it is sent.
MAX_GET_S = 24 * 3600.0
# A client that takes no bytes for this long has stalled; the download is aborted and logged.
WRITE_TIMEOUT_S = 60.0
# A disposition token's refusals that mean "this is no token of ours" (answered 401 like any
# unknown bearer) rather than "your token does not allow this" (403).
_NOT_A_TOKEN = frozenset({Reason.TOKEN_MALFORMED, Reason.TOKEN_BAD_SIGNATURE, Reason.TOKEN_UNKNOWN})


class DownloadSlots:
    """Bounds simultaneous downloads: each holds up to a segment in memory and a worker thread."""

    RETRY_AFTER_S = 10.0

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    @contextlib.contextmanager
    def take(self) -> Iterator[None]:
        """One slot for the duration of a download; 503 with Retry-After when all are taken."""
        if self.active >= self.limit:
            raise Unavailable(f"{self.limit} downloads are running (recording.max_downloads); try again shortly",
                              retry_after_s=self.RETRY_AFTER_S)
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1


DOWNLOADS = web.AppKey("downloads", DownloadSlots)


def _path(request: web.Request, query: Mapping[str, str] | None = None) -> str:
    """The camera id in `path` (of `query`, else the request's); anything else is refused without
    echoing it (it may be a probe)."""
    raw = (request.query if query is None else query).get("path")
    if not raw:
        raise BadRequest("path is required: the camera id")
    if not CAMERA_ID.fullmatch(raw):
        log.warning("%s: refused a path that is not a camera id (%d characters)", request.path, len(raw),
                    extra={"client": request.remote})
        raise BadRequest("path must be a camera id: lowercase letters, digits and dashes")
    return raw


def _duration(query: Mapping[str, str]) -> timedelta:
    raw = query.get("duration")
    if not raw:
        raise BadRequest("duration is required (seconds)")
    try:
        seconds = float(raw)
    except ValueError as exc:
        raise BadRequest("duration must be a number of seconds, e.g. 60 or 12.5") from exc
    if not math.isfinite(seconds) or seconds <= 0:
        raise BadRequest("duration must be a positive number of seconds")
    if seconds > MAX_GET_S:
        raise BadRequest(f"one download covers at most {MAX_GET_S:g} s")
    return timedelta(seconds=seconds)


def _format(query: Mapping[str, str]) -> ExportFormat:
    raw = query.get("format", "")
    if raw in ("", ExportFormat.FMP4):
        return ExportFormat.FMP4  # MediaMTX's default
    if raw == ExportFormat.MP4:
        return ExportFormat.MP4
    raise BadRequest("format must be fmp4 or mp4")


async def _visible_camera(request: web.Request, camera_id: str, as_user: Principal | None = None) -> Camera:
    """A camera the user may see; one they may not answers like one that does not exist (logged)."""
    camera = request.app[SERVICES].cameras.get(camera_id)
    if camera is None:
        raise NotFound(f"no camera {camera_id!r}")
    await authorize(request, Action.VIEW_CAMERA, camera, log_allowed=False, hide_camera=True,
                    not_found=f"no camera {camera_id!r}", as_user=as_user)
    return camera


@dataclass(frozen=True, slots=True)
class GetTarget:
    """What a /get query asks for."""

    camera_id: str
    start: datetime
    end: datetime
    fmt: ExportFormat


def get_target(request: web.Request, query: Mapping[str, str]) -> GetTarget:
    """The camera, window and format of a /get query (the request's, or a link's target); 400
    naming the parameter when one is wrong."""
    camera_id = _path(request, query)
    start = rfc3339(query.get("start"), "start")
    return GetTarget(camera_id, start, start + _duration(query), _format(query))


async def authorize_get(
    request: web.Request, target: GetTarget, as_user: Principal | None = None
) -> tuple[Camera, Principal, Decision]:
    """The checks of /get itself: the camera is visible and `Action.EXPORT` is allowed on it and
    the window (a refusal is logged and answered 404 or 403)."""
    camera = await _visible_camera(request, target.camera_id, as_user)
    who, decision = await authorize(request, Action.EXPORT, camera, target.start, target.end, as_user=as_user)
    return camera, who, decision


WATERMARK_REFUSAL = "the policy asks for a watermark, which an untouched (not transcoded) copy cannot carry"


async def _token_window(
    request: web.Request, token: str, camera_id: str, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """Redeem a disposition token for listing (no view used): the range clipped to its window."""
    service = request.app[SERVICES].dispositions
    redemption = await service.redeem(token, Action.LIST_RECORDINGS, camera_id, start, end, request.remote or "",
                                      count_view=False, clip=True)
    return redemption.start, redemption.end


def _seconds(value: float) -> str:
    """Seconds as MediaMTX writes them in its urls: no exponent, no trailing zeros."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


@routes.get("/list")
async def list_spans(request: web.Request) -> web.Response:
    """Spans of continuous recording of one camera (MediaMTX /list): start, duration, url."""
    camera_id = _path(request)
    start, end = query_time(request, "start", False), query_time(request, "end", False)
    if start is not None and end is not None and end <= start:
        raise BadRequest("end must be after start")
    token = disposition_token(request)
    if token is not None:
        start, end = await _token_window(request, token, camera_id, start, end)
        if camera_id not in request.app[SERVICES].cameras:
            raise NotFound(f"no camera {camera_id!r}")
    else:
        camera = await _visible_camera(request, camera_id)
        await authorize(request, Action.LIST_RECORDINGS, camera, start, end)
    # The stream /get reads: the main one, unless the camera records only its sub-stream.
    recorder = request.app[SERVICES].recorder
    found = spans(await recorder.index.segments(camera_id, start, end, recorder.stream_of(camera_id)), start, end)
    if not found:
        raise NotFound("no recordings in this range")  # as MediaMTX answers an empty list
    return web.json_response([
        {
            "start": iso(span.start),
            "duration": round(span.duration_s, 6),
            "url": handed_out(request, "/get", {"path": camera_id, "start": iso(span.start) or "",
                                                "duration": _seconds(span.duration_s)}),
        }
        for span in found
    ])


# No HEAD: it would run (and log) a whole export to send no bytes.
@routes.get("/get", allow_head=False)
async def get_recording(request: web.Request) -> web.StreamResponse:
    """A camera's recording from `start` for `duration` seconds as fMP4 or MP4 (an export)."""
    target = get_target(request, request.query)
    camera_id, start, end, fmt = target.camera_id, target.start, target.end, target.fmt
    # A signed link (?link=, no header) acts as the user who asked for it, decided again now.
    link = await link_bearer(request, GET_ROUTE)
    token = disposition_token(request)
    if link is not None and link.principal is None:
        raise Forbidden("a disposition token holder's link opens the download of an export job only")
    if token is not None and link is None:
        await _refuse_token_export(request, token, camera_id, start, end)
    camera, who, decision = await authorize_get(request, target, link.principal if link else None)
    services = request.app[SERVICES]
    base: dict[str, Any] = {"actor": who.username, "role": who.role, "client": request.remote, "camera": camera_id}
    requested: dict[str, Scalar] = {"route": request.path, "format": fmt.value,
                                    "requested_start": iso(start), "requested_end": iso(end)}
    if not decision.audio:
        requested["no_audio"] = True  # the policy withholds the sound: the file is video only
    if link is not None:
        requested["link"] = link.link_id
    if decision.obligation(ObligationKind.WATERMARK) is not None:
        # A burned-in watermark needs decoding and re-encoding, which Pantau never does: an
        # obligation the gateway cannot meet is a refusal, not a silent untouched copy.
        reason = WATERMARK_REFUSAL
        await services.access_log.record(AccessEvent(
            AccessAction.EXPORT, start=start, end=end, outcome="deny", reason=reason, details=requested, **base))
        raise Forbidden(f"{reason}; an administrator may set access.export.{who.role}.watermark to false")
    with request.app[DOWNLOADS].take():
        export = Export(request.app[SERVICES].recorder.reader, camera_id, start, end, fmt,
                        services.settings.data_dir / "export-tmp", audio=decision.audio)
        try:
            if not await export.prepare():
                raise NotFound("no recording in this range")
            return await _stream(request, export, base, requested)
        finally:
            await export.aclose()


async def _stream(
    request: web.Request, export: Export, base: dict[str, Any], requested: dict[str, Scalar]
) -> web.StreamResponse:
    """Send the file; log the export with what was actually written, or the failure."""
    services = request.app[SERVICES]
    first = export.written_range()
    stamp = first[0].strftime("%Y%m%dT%H%M%SZ") if first else "recording"
    response = web.StreamResponse(headers={
        "Content-Type": "video/mp4",
        "Accept-Ranges": "none",
        "Cache-Control": "no-store",
        "Content-Disposition": f'inline; filename="{base["camera"]}_{stamp}.mp4"',
    })
    if export.size is not None:
        response.content_length = export.size
    else:
        response.enable_chunked_encoding()
    digest = hashlib.sha256()
    sent = 0
    failure: BaseException | None = None
    try:
        await response.prepare(request)
        async with contextlib.aclosing(export.chunks()) as chunks:
            async for chunk in chunks:
                async with asyncio.timeout(WRITE_TIMEOUT_S):
                    await response.write(chunk)
                digest.update(chunk)
                sent += len(chunk)
        await response.write_eof()
    except (Exception, asyncio.CancelledError) as exc:  # client gone or stalled, a bad segment, shutdown
        failure = exc
    written = export.written_range()
    details: dict[str, Scalar] = {**requested, "bytes": sent, "sha256": digest.hexdigest(),
                                  "frames": export.cut.frames, "stopped": export.stop.value if export.stop else None,
                                  "audio": export.cut.audio_written}
    event = AccessEvent(
        AccessAction.EXPORT, start=written[0] if written else None, end=written[1] if written else None,
        outcome="ok" if failure is None else "error",
        reason="" if failure is None else f"download aborted: {type(failure).__name__}",
        details=details, **base,
    )
    await asyncio.shield(services.access_log.record(event))
    if failure is None:
        return response
    log.warning("camera %s: download aborted after %d bytes: %r", base["camera"], sent, failure,
                extra={"camera": base["camera"], "client": request.remote})
    if isinstance(failure, asyncio.CancelledError):
        raise failure
    # Bytes are out: no error response can follow. Drop the connection so the client sees a
    # truncated transfer instead of a complete-looking file (MediaMTX logs and closes too).
    if request.transport is not None:
        request.transport.abort()
    return response


async def _refuse_token_export(request: web.Request, token: str, camera_id: str, start: datetime,
                               end: datetime) -> NoReturn:
    """A disposition token on GET /get is answered 403, saying why: it authorizes replay, not
    copying. The refusal goes through the policy (redeem -> decide) and the access log like
    every other; a token that is no token at all is a 401."""
    service = request.app[SERVICES].dispositions
    if service is None:
        raise Unauthorized("the bearer token is unknown, expired or revoked")
    try:
        await service.redeem(token, Action.EXPORT, camera_id, start, end, request.remote or "", count_view=False)
    except TokenRejected as refused:
        if refused.reason in _NOT_A_TOKEN:
            raise Unauthorized("the bearer token is unknown, expired or revoked") from refused
    raise Forbidden(
        "a disposition token authorizes replay (WHEP playback, /list), not copying: "
        "downloads need a signed-in user whose role may export"
    )
