"""The shift desk over HTTP, part two: handovers. The outgoing operator files (the server fills in
what happened), the incoming one countersigns; a filed handover is never changed (409), a
correction is an amendment."""

from __future__ import annotations

from aiohttp import web

from core.errors import Conflict, Forbidden
from core.forms import parse
from desk.forms import AcceptanceForm, AmendmentForm, HandoverForm
from gateway.http.body import read_json
from gateway.http.deskcommon import actor, desk, language, open_shift, pdf_response, visible_summaries
from gateway.http.guard import authorize
from gateway.http.params import query_limit
from policy.decision import Action

routes = web.RouteTableDef()
MAX_FORM = 256 * 1024


@routes.get("/api/v1/handovers/draft")
async def draft(request: web.Request) -> web.Response:
    """What the caller's handover would say if filed now (nothing is stored)."""
    who, _ = await authorize(request, Action.FILE_SHIFT_RECORD, log_allowed=False)
    shift = await open_shift(request, who)
    content = await desk(request).handovers.draft(shift, visible_summaries(request, who))
    return web.json_response({"shift": shift.as_json(), "content": content})


@routes.post("/api/v1/handovers")
async def file_handover(request: web.Request) -> web.Response:
    """File the caller's handover; it closes their open shift. `shift_id`, if given, must be it."""
    who, _ = await authorize(request, Action.FILE_SHIFT_RECORD)
    body = await read_json(request, MAX_FORM)
    named = body.pop("shift_id", None)
    form = parse(HandoverForm, body)
    if named is not None:
        shift = await desk(request).shifts.get(str(named))
        if shift.operator != who.username:
            raise Forbidden(f"shift {shift.id} is {shift.operator}'s, not yours; only its operator files its handover")
        if not shift.open:
            raise Conflict(f"shift {shift.id} already has its handover ({shift.handover_id})")
    else:
        shift = await open_shift(request, who)
    handover = await desk(request).handovers.file(actor(request, who), shift, form, visible_summaries(request, who))
    return web.json_response(handover, status=201)


@routes.get("/api/v1/handovers")
async def list_handovers(request: web.Request) -> web.Response:
    """Handovers, newest first; `?pending=true` those waiting for a countersignature."""
    await authorize(request, Action.READ_HANDOVERS)
    raw = request.query.get("pending")
    pending = None if raw is None else raw == "true"
    handovers = await desk(request).handovers.list(pending=pending, operator=request.query.get("operator"),
                                                   limit=query_limit(request, 200, 50))
    return web.json_response({"handovers": handovers})


@routes.get("/api/v1/handovers/{handover_id}")
async def get_handover(request: web.Request) -> web.Response:
    """One handover with its acceptance and amendments."""
    await authorize(request, Action.READ_HANDOVERS)
    return web.json_response(await desk(request).handovers.get(request.match_info["handover_id"]))


@routes.route("PUT", "/api/v1/handovers/{handover_id}")
@routes.route("PATCH", "/api/v1/handovers/{handover_id}")
@routes.route("DELETE", "/api/v1/handovers/{handover_id}")
async def change_handover(request: web.Request) -> web.Response:
    """Refused: a filed handover is a signed record (SOP step 8: nothing is changed or deleted)."""
    await authorize(request, Action.READ_HANDOVERS)
    handover = await desk(request).handovers.get(request.match_info["handover_id"])
    state = "accepted" if handover["acceptance"] else "filed"
    raise Conflict(f"handover {handover['id']} is {state} and is never changed or deleted; "
                   f"add an amendment (POST /api/v1/handovers/{handover['id']}/amendments)")


@routes.post("/api/v1/handovers/{handover_id}/acceptance")
async def accept(request: web.Request) -> web.Response:
    """Countersign a handover (the incoming operator), with objections if any."""
    handover = await desk(request).handovers.get(request.match_info["handover_id"])
    who, _ = await authorize(request, Action.ACCEPT_HANDOVER, owner=handover["operator"])
    form = parse(AcceptanceForm, await read_json(request, MAX_FORM))
    accepted = await desk(request).handovers.accept(actor(request, who), handover["id"], form)
    return web.json_response(accepted, status=201)


@routes.post("/api/v1/handovers/{handover_id}/amendments")
async def amend(request: web.Request) -> web.Response:
    """Add an amendment: a new record linked to the handover."""
    who, _ = await authorize(request, Action.FILE_SHIFT_RECORD)
    form = parse(AmendmentForm, await read_json(request, MAX_FORM))
    amendment = await desk(request).handovers.amend(actor(request, who), request.match_info["handover_id"], form)
    return web.json_response(amendment, status=201)


@routes.get("/api/v1/handovers/{handover_id}/pdf")
async def handover_pdf(request: web.Request) -> web.Response:
    """A handover, printed; as accepted, byte for byte, when it is accepted and unamended."""
    await authorize(request, Action.READ_HANDOVERS)
    pdf, handover = await desk(request).handovers.pdf(request.match_info["handover_id"], language(request))
    return pdf_response(pdf, handover, f"handover-{handover['id']}")
