"""Export jobs over HTTP: create, list, read, cancel, download (evidence/ does the work).

A signed-in caller exports what `access.export` allows it on every camera (guard.authorize, each
refusal logged); a disposition token with copies left exports its own cameras and window, one copy
per job (DispositionService.redeem_copy). Jobs are read and cancelled by whom the policy says
(read_exports, cancel_export, owner = who asked) or by the token that created them. A decision
that withholds the sound (no_audio) gives a video-only MP4 and refuses a bundle whose sealed
segments hold sound (403, logged), since those cannot be altered. Downloads are
resumable (Range, web.FileResponse), counted and logged, 409 before the job is done, 410 after its
file is deleted; a signed link (`?link=`, gateway/http/linkbearer.py) opens them without a header.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from core.clock import Clock
from core.errors import BadRequest, Conflict, Forbidden, Gone, NotFound, Unauthorized
from evidence.exportjobs import ExportJobs
from core.forms import parse
from evidence.jobbook import JobOrder
from evidence.jobform import MAX_REASON, ExportForm
from evidence.jobwriter import BUNDLE, SOUND_REFUSAL
from evidence.models import ExportJob, JobState
from gateway.http.appkeys import SERVICES
from gateway.http.auth import disposition_token, signed_in
from gateway.http.body import read_json
from gateway.http.guard import authorize, decision_for
from gateway.http.linkbearer import allow_export_download, link_bearer
from gateway.http.params import query_limit
from gateway.http.views import iso
from policy.audit.entries import AccessAction, AccessEvent, Scalar
from policy.decision import Action, ObligationKind, Reason
from policy.dispositions.tokens import DispositionClaims, TokenRejected

routes = web.RouteTableDef()

MAX_BODY = 16 * 1024
# A disposition token's refusals that mean "this is no token of ours" (401), not "not allowed" (403).
_NOT_A_TOKEN = frozenset({Reason.TOKEN_MALFORMED, Reason.TOKEN_BAD_SIGNATURE, Reason.TOKEN_UNKNOWN})


def job_json(job: ExportJob, now: datetime) -> dict[str, Any]:
    """A job as the API shows it (the contract in the README and openapi.yaml)."""
    done = job.state == JobState.DONE.value
    if done:
        fraction = 1.0
    elif job.bytes_total:
        fraction = min(1.0, job.bytes_done / job.bytes_total)
    elif job.segments_total:
        fraction = min(1.0, job.segments_done / job.segments_total)
    else:
        fraction = 0.0
    eta: float | None = None
    if job.state == JobState.RUNNING.value and job.started_at is not None and job.bytes_done and job.bytes_total:
        elapsed = (now - job.started_at).total_seconds()
        if elapsed > 0:
            eta = round(max(0.0, job.bytes_total - job.bytes_done) / (job.bytes_done / elapsed), 1)
    result = None
    if done and job.result_name:
        result = {"name": job.result_name, "size": job.result_size, "sha256": job.result_sha256,
                  "manifest_sha256": job.manifest_sha256, "expires_at": iso(job.expires_at),
                  "download": f"/api/v1/exports/{job.id}/download"}
    return {
        "id": job.id, "state": job.state, "cameras": job.cameras.split(","), "start": iso(job.window_start),
        "end": iso(job.window_end), "formats": job.formats.split(","), "audio": job.audio, "reason": job.reason,
        "case_id": job.case_id,
        "request_id": job.request_id, "requested_by": job.requested_by, "via": job.via,
        "created_at": iso(job.created_at), "started_at": iso(job.started_at), "finished_at": iso(job.finished_at),
        "progress": {"bytes_done": job.bytes_done, "bytes_total": job.bytes_total,
                     "segments_done": job.segments_done, "segments_total": job.segments_total,
                     "fraction": round(fraction, 4), "eta_s": eta},
        "result": result, "error": job.error, "downloads": job.downloads,
    }


def _exports(request: web.Request) -> ExportJobs:
    return request.app[SERVICES].exports


def _clock(request: web.Request) -> Clock:
    return request.app[SERVICES].clock


def _owner(job: ExportJob) -> str:
    """The owner the policy compares with the caller: a token's job belongs to no user."""
    return job.requested_by if job.via == "user" else f"disposition:{job.token_id}"


def job_reader(request: web.Request) -> Callable[[ExportJob], bool]:
    """For the event stream: whether the signed-in caller may read a job (decided, not logged)."""
    who = signed_in(request)

    def may_read(job: ExportJob) -> bool:
        return decision_for(request, who, Action.READ_EXPORTS, owner=_owner(job)).allowed

    return may_read


# -- creating ---------------------------------------------------------------------------------


def _formats(form: ExportForm, available: frozenset[str]) -> tuple[str, ...]:
    missing = [f for f in form.format_set if f not in available]
    if missing:
        raise BadRequest(f"formats: {missing[0]} is not built yet on this gateway")
    return form.format_set


def _reason(form: ExportForm, default: str | None) -> str:
    reason = form.reason or (default or "").strip()
    if not reason:
        raise BadRequest("reason is required: why the footage is copied (logged, and in the manifest)")
    return reason[:MAX_REASON]


async def _user_order(request: web.Request, form: ExportForm, formats: tuple[str, ...]) -> JobOrder:
    """A signed-in caller's job: every camera must be allowed `export` over the window."""
    services = request.app[SERVICES]
    cameras, start, end = form.camera_ids, form.start, form.end
    if not cameras:
        raise BadRequest("cameras: name at least one camera")
    if start is None or end is None:
        raise BadRequest(f"{'start' if start is None else 'end'} is required (RFC 3339 with a zone)")
    reason = _reason(form, None)
    audio = True
    for camera_id in cameras:
        camera = services.cameras.get(camera_id)
        if camera is None:
            raise NotFound(f"no camera {camera_id!r}")
        # A camera the caller may not see answers like one that does not exist (logged), as /get does.
        who, decision = await authorize(request, Action.EXPORT, camera, start, end, hide_camera=True,
                                        not_found=f"no camera {camera_id!r}")
        if decision.obligation(ObligationKind.WATERMARK) is not None:
            # As GET /get: an obligation an untouched copy cannot meet is a refusal.
            await services.access_log.record(AccessEvent(
                AccessAction.EXPORT, actor=who.username, role=who.role, client=request.remote, camera=camera_id,
                start=start, end=end, outcome="deny", details={"route": request.path},
                reason="the policy asks for a watermark, which an untouched (not transcoded) copy cannot carry"))
            raise Forbidden("the policy asks for a watermark, which an untouched copy cannot carry; an "
                            f"administrator may set access.export.{who.role}.watermark to false")
        if not decision.audio:
            audio = False
            if BUNDLE in formats and await _holds_sound(request, (camera_id,), start, end):
                # The sealed originals cannot be altered: the no_audio obligation cannot be met.
                await services.access_log.record(AccessEvent(
                    AccessAction.EXPORT, actor=who.username, role=who.role, client=request.remote,
                    camera=camera_id, start=start, end=end, outcome="deny", reason=SOUND_REFUSAL.format(
                        cameras=camera_id), details={"route": request.path, "no_audio": True}))
                raise Forbidden(SOUND_REFUSAL.format(cameras=camera_id) + "; or an administrator may set "
                                f"access.export.{who.role}.audio to true")
    who = signed_in(request)
    return JobOrder(cameras, start, end, formats, reason, who.username, "user", request.remote or "", who.role,
                    form.case_id, form.request_id, audio=audio)


async def _holds_sound(request: web.Request, cameras: Sequence[str], start: datetime, end: datetime) -> bool:
    """Whether any sealed segment of `cameras` overlapping [start, end) has an audio track."""
    index = request.app[SERVICES].recorder.index
    for camera_id in cameras:
        if any(s.audio_codec for s in await index.segments(camera_id, start, end)):
            return True
    return False


@contextlib.contextmanager
def _no_token_is_401() -> Iterator[None]:
    """A bearer that is no disposition token of ours answers 401, like any unknown bearer."""
    try:
        yield
    except TokenRejected as refused:
        if refused.reason in _NOT_A_TOKEN:
            raise Unauthorized("the bearer token is unknown, expired or revoked") from refused
        raise


async def _token_order(request: web.Request, token: str, form: ExportForm, formats: tuple[str, ...]) -> JobOrder:
    """A disposition holder's job: one copy of the token used (403 with the policy's reason)."""
    service = request.app[SERVICES].dispositions
    client = request.remote or ""
    cameras, start, end = form.camera_ids, form.start, form.end
    with _no_token_is_401():
        keeps_audio = False
        if not cameras or BUNDLE in formats:
            checked = await service.check_token(token, client)
            cameras = cameras or checked.cameras
            # A bundle hands over the sealed segments as they are: if they hold sound, a decision
            # that withholds it refuses the copy (before one is used).
            keeps_audio = BUNDLE in formats and await _holds_sound(
                request, cameras, start or checked.start, end or checked.end)
        redemption = await service.redeem_copy(token, cameras, start, end, client, keeps_audio)
    claims = redemption.claims
    return JobOrder(cameras, redemption.start, redemption.end, formats, _reason(form, claims.purpose),
                    claims.grantee, "token", client, None, form.case_id, claims.request_id, claims.token_id,
                    audio=redemption.decision.audio)


@routes.post("/api/v1/exports")
async def create_export(request: web.Request) -> web.Response:
    """Queue an export job; 202 with the job and its Location."""
    services = request.app[SERVICES]
    exports = services.exports
    form = parse(ExportForm, await read_json(request, MAX_BODY))
    formats = _formats(form, exports.formats)
    token = disposition_token(request)
    order = await (_token_order(request, token, form, formats) if token is not None
                   else _user_order(request, form, formats))
    job = await exports.book.create(order)
    details: dict[str, Scalar] = {"job_id": job.id, "cameras": job.cameras, "formats": job.formats, "via": job.via,
                                  "case": job.case_id}
    await services.access_log.record(AccessEvent(
        AccessAction.EXPORT_JOB_CREATED, actor=order.requested_by, role=order.requester_role, client=request.remote,
        camera=order.cameras[0] if len(order.cameras) == 1 else None, start=order.start, end=order.end,
        reason=order.reason, token_id=order.token_id, request_id=order.request_id, details=details))
    exports.hub.publish(job)
    exports.runner.wake()
    return web.json_response(job_json(job, services.clock.now()), status=202,
                             headers={"Location": f"/api/v1/exports/{job.id}"})


# -- reading ----------------------------------------------------------------------------------


async def _token_claims(request: web.Request, token: str) -> DispositionClaims:
    with _no_token_is_401():
        return await request.app[SERVICES].dispositions.check_token(token, request.remote or "")


async def readable_job(request: web.Request, job_id: str, action: Action = Action.READ_EXPORTS) -> ExportJob:
    """The job, if the caller may read (or cancel) it: by the policy, by the token that made it, or
    (the download only) by a signed link. A token's foreign job answers 404, as a missing one."""
    job = await _exports(request).book.require(job_id)
    token = disposition_token(request)
    if token is not None:
        claims = await _token_claims(request, token)
        if job.via != "token" or job.token_id != claims.token_id:
            raise NotFound(f"no export job {job_id!r}")
        return job
    await authorize(request, action, owner=_owner(job), log_allowed=action is not Action.READ_EXPORTS)
    return job


@routes.get("/api/v1/exports")
async def list_exports(request: web.Request) -> web.Response:
    """Jobs newest first: all of them for reader roles, one's own for others, a token's own for it."""
    services = request.app[SERVICES]
    raw_state = request.query.get("state")
    try:
        state = JobState(raw_state) if raw_state else None
    except ValueError as exc:
        raise BadRequest(f"state must be one of {', '.join(s.value for s in JobState)}") from exc
    limit = query_limit(request, 500)
    book = services.exports.book
    token = disposition_token(request)
    if token is not None:
        claims = await _token_claims(request, token)
        jobs = await book.listing(state=state, token_id=claims.token_id, limit=limit)
    else:
        who, _ = await authorize(request, Action.READ_EXPORTS, log_allowed=False)
        everyone = who.role in services.settings.access.exports.reader_roles
        jobs = await book.listing(state=state, requested_by=None if everyone else who.username, limit=limit)
    now = services.clock.now()
    return web.json_response({"jobs": [job_json(job, now) for job in jobs]})


@routes.get("/api/v1/exports/{job_id}")
async def get_export(request: web.Request) -> web.Response:
    job = await readable_job(request, request.match_info["job_id"])
    return web.json_response(job_json(job, _clock(request).now()))


@routes.post("/api/v1/exports/{job_id}/cancel")
async def cancel_export(request: web.Request) -> web.Response:
    """Stop a job: a queued one at once, a running one at its next block (409 once finished)."""
    services = request.app[SERVICES]
    exports = services.exports
    job = await readable_job(request, request.match_info["job_id"], Action.CANCEL_EXPORT)
    job, stopped = await exports.book.request_cancel(job.id)
    exports.runner.cancel(job.id)
    who = None if disposition_token(request) is not None else signed_in(request)
    await services.access_log.record(AccessEvent(
        AccessAction.EXPORT_JOB_CANCELLED, actor=who.username if who else job.requested_by,
        role=who.role if who else None, client=request.remote, start=job.window_start, end=job.window_end,
        token_id=job.token_id, request_id=job.request_id, reason="cancelled by request",
        details={"job_id": job.id, "was": "queued" if stopped else "running", "requested_by": job.requested_by}))
    exports.hub.publish(job)
    return web.json_response(job_json(job, services.clock.now()))


@routes.get("/api/v1/exports/{job_id}/download", allow_head=False)
async def download_export(request: web.Request) -> web.StreamResponse:
    """The job's zip, resumable with Range; every request counted and logged with its range."""
    services = request.app[SERVICES]
    exports = services.exports
    link = await link_bearer(request, request.path)
    if link is not None:
        # A signed link (`?link=`) stands for whom it was made for, decided again now.
        job = await exports.book.require(request.match_info["job_id"])
        await allow_export_download(request, link, _owner(job), job.token_id)
        actor, role, via = link.actor, link.principal.role if link.principal else None, "link"
    else:
        job = await readable_job(request, request.match_info["job_id"])
        who = None if disposition_token(request) is not None else signed_in(request)
        actor, role = (who.username, who.role) if who else (job.requested_by, None)
        via = "user" if who else "token"
    if job.state == JobState.EXPIRED.value:
        raise Gone(f"export job {job.id}'s file was deleted at {iso(job.deleted_at)} (kept recording.export_keep_h)")
    if job.state != JobState.DONE.value or not job.result_name:
        raise Conflict(f"export job {job.id} is {job.state}; its file can be downloaded once it is done")
    path = exports.directory / job.result_name
    await exports.book.downloaded(job.id)
    await services.access_log.record(AccessEvent(
        AccessAction.EXPORT_DOWNLOADED, actor=actor, role=role, client=request.remote, start=job.window_start,
        end=job.window_end, token_id=job.token_id, request_id=job.request_id,
        details={"job_id": job.id, "range": request.headers.get("Range", ""), "size": job.result_size,
                 "sha256": job.result_sha256, "via": via}))
    return web.FileResponse(path, headers={
        "Content-Type": "application/zip", "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="{job.result_name}"',
    })
