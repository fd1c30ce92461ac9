"""The shift desk over HTTP, part one: shifts (who is on duty), equipment, checks and patrols.
Every action is decided by the policy (R13-R16 in policy/decision.py) through guard.authorize."""

from __future__ import annotations

import asyncio

from aiohttp import web

from core.errors import BadRequest, Conflict
from core.forms import parse
from desk.forms import CheckForm, HandoverForm, PatrolForm, ShiftClosure
from gateway.http.body import read_json
from gateway.http.deskcommon import (
    actor, desk, language, open_shift, pdf_response, reads_everyones, visible_summaries,
)
from gateway.http.guard import authorize
from gateway.http.params import query_limit
from policy.decision import Action

routes = web.RouteTableDef()
MAX_FORM = 1024 * 1024  # a check of a few thousand cameras with remarks


@routes.post("/api/v1/shifts")
async def open_my_shift(request: web.Request) -> web.Response:
    """Sign on: open the caller's shift now (an empty body)."""
    who, _ = await authorize(request, Action.FILE_SHIFT_RECORD)
    # The server decides the time and the slot: an opening takes no fields.
    body = await read_json(request, 1024) if request.can_read_body else {}
    if body:
        raise BadRequest(f"unexpected field(s): {', '.join(sorted(body))}; send {{}}")
    shift = await desk(request).shifts.open(actor(request, who))
    return web.json_response(shift.as_json(), status=201)


@routes.get("/api/v1/shifts/current")
async def on_duty(request: web.Request) -> web.Response:
    """Who is on duty now, and the caller's own open shift."""
    who, _ = await authorize(request, Action.READ_DUTY, log_allowed=False)
    shifts = await desk(request).shifts.on_duty()
    mine = next((s for s in shifts if s.operator == who.username), None)
    return web.json_response({
        "on_duty": [{"shift_id": s.id, "operator": s.operator, "slot": s.slot, "opened_at": s.as_json()["opened_at"]}
                    for s in shifts],
        "mine": mine.as_json() if mine else None,
    })


@routes.get("/api/v1/shifts")
async def list_shifts(request: web.Request) -> web.Response:
    """Shifts, newest first (an operator's own; readers see everyone's); `?open=true` open ones."""
    who, _ = await authorize(request, Action.READ_SHIFT_RECORDS)
    operator = None if reads_everyones(request, who) else who.username
    shifts = await desk(request).shifts.list(operator=operator, open_only=request.query.get("open") == "true",
                                             limit=query_limit(request, 500))
    return web.json_response({"shifts": [s.as_json() for s in shifts]})


@routes.get("/api/v1/shifts/{shift_id}")
async def get_shift(request: web.Request) -> web.Response:
    """One shift."""
    shift = await desk(request).shifts.get(request.match_info["shift_id"])
    await authorize(request, Action.READ_SHIFT_RECORDS, owner=shift.operator)
    return web.json_response(shift.as_json())


@routes.post("/api/v1/shifts/{shift_id}/closure")
async def close_abandoned_shift(request: web.Request) -> web.Response:
    """Close another operator's abandoned shift: its handover is filed now, by the caller, with the
    reason; the shift's operator is named. An open shift otherwise stays on duty and keeps raising
    patrol.missed for ever."""
    shift = await desk(request).shifts.get(request.match_info["shift_id"])
    who, _ = await authorize(request, Action.CLOSE_SHIFT)
    form = parse(ShiftClosure, await read_json(request, 64 * 1024))
    if not shift.open:
        raise Conflict(f"shift {shift.id} already has its handover ({shift.handover_id})")
    if shift.operator == who.username:
        raise Conflict("this is your own shift: file its handover (POST /api/v1/handovers)")
    notes = f"{form.reason}\n\n{form.notes}".strip()
    handover = await desk(request).handovers.file(actor(request, who), shift, HandoverForm(notes=notes),
                                                  visible_summaries(request, who), closing_for=shift.operator)
    return web.json_response(handover, status=201)


@routes.get("/api/v1/equipment")
async def equipment(request: web.Request) -> web.Response:
    """The room's equipment with a fresh probe reading of each probed item."""
    await authorize(request, Action.FILE_SHIFT_RECORD, log_allowed=False)
    items, _ = await desk(request).equipment()
    return web.json_response({"equipment": items})


@routes.post("/api/v1/checks")
async def save_check(request: web.Request) -> web.Response:
    """Store the caller's check of every camera they see and of the room's equipment."""
    who, _ = await authorize(request, Action.FILE_SHIFT_RECORD)
    form = parse(CheckForm, await read_json(request, MAX_FORM))
    shift = await open_shift(request, who)
    cameras = visible_summaries(request, who)
    _, readings = await desk(request).equipment()
    check = await desk(request).checks.save(actor(request, who), shift, form, cameras, readings)
    return web.json_response(check, status=201)


@routes.get("/api/v1/checks")
async def list_checks(request: web.Request) -> web.Response:
    """Checks, newest first; `?shift=` one shift's."""
    who, _ = await authorize(request, Action.READ_SHIFT_RECORDS)
    operator = None if reads_everyones(request, who) else who.username
    checks = await desk(request).checks.list(operator, request.query.get("shift"), query_limit(request, 500))
    return web.json_response({"checks": checks})


@routes.get("/api/v1/checks/{check_id}")
async def get_check(request: web.Request) -> web.Response:
    """One check."""
    check = await desk(request).checks.get(request.match_info["check_id"])
    await authorize(request, Action.READ_SHIFT_RECORDS, owner=check["operator"])
    return web.json_response(check)


@routes.get("/api/v1/checks/{check_id}/pdf")
async def check_pdf(request: web.Request) -> web.Response:
    """A check, printed."""
    check = await desk(request).checks.get(request.match_info["check_id"])
    await authorize(request, Action.READ_SHIFT_RECORDS, owner=check["operator"])
    pdf = await asyncio.to_thread(desk(request).printer.check, check, language(request))
    return pdf_response(pdf, check, f"check-{check['id']}")


@routes.post("/api/v1/patrols")
async def record_patrol(request: web.Request) -> web.Response:
    """Store a patrol of the caller's open shift."""
    who, _ = await authorize(request, Action.FILE_SHIFT_RECORD)
    form = parse(PatrolForm, await read_json(request, MAX_FORM))
    shift = await open_shift(request, who)
    patrol = await desk(request).patrols.record(actor(request, who), shift, form, visible_summaries(request, who))
    return web.json_response(patrol, status=201)


@routes.get("/api/v1/patrols")
async def list_patrols(request: web.Request) -> web.Response:
    """Patrols, newest first; `?shift=` one shift's."""
    who, _ = await authorize(request, Action.READ_SHIFT_RECORDS)
    operator = None if reads_everyones(request, who) else who.username
    patrols = await desk(request).patrols.list(operator, request.query.get("shift"), query_limit(request, 500))
    return web.json_response({"patrols": patrols})


@routes.get("/api/v1/patrols/{patrol_id}")
async def get_patrol(request: web.Request) -> web.Response:
    """One patrol."""
    patrol = await desk(request).patrols.get(request.match_info["patrol_id"])
    await authorize(request, Action.READ_SHIFT_RECORDS, owner=patrol["operator"])
    return web.json_response(patrol)


@routes.get("/api/v1/patrols/{patrol_id}/pdf")
async def patrol_pdf(request: web.Request) -> web.Response:
    """A patrol, printed."""
    patrol = await desk(request).patrols.get(request.match_info["patrol_id"])
    await authorize(request, Action.READ_SHIFT_RECORDS, owner=patrol["operator"])
    pdf = await asyncio.to_thread(desk(request).printer.patrol, patrol, language(request))
    return pdf_response(pdf, patrol, f"patrol-{patrol['id']}")
