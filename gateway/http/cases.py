"""Cases over HTTP: incidents, complaints and emergencies through one lifecycle, their berita acara,
the playbooks and the directory. Every action is decided by the policy (R17) through guard."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from cases.book import CaseBook
from cases.complaintsreport import as_csv, month_report, report_document
from cases.forms import Amendment, Closure, FollowUp, Forward, Note, OpenCase, Resolution
from core.errors import BadRequest, NotFound
from core.forms import parse
from gateway.http.appkeys import SERVICES
from gateway.http.body import read_json
from gateway.http.guard import authorize, decision_for
from gateway.http.params import query_limit
from policy.audit.records import Actor
from policy.decision import Action
from policy.identity.users import Principal
from reports import Letterhead, render
from streams.snapshot import keyframe_jpeg

routes = web.RouteTableDef()
MAX_FORM = 256 * 1024
STATES = ("opened", "acknowledged", "forwarded", "followed_up", "resolved", "closed")


def book(request: web.Request) -> CaseBook:
    """The case book the gateway built."""
    return request.app[SERVICES].cases


def _actor(request: web.Request, who: Principal) -> Actor:
    return Actor(who.username, who.role, request.remote)


def _visible(request: web.Request, who: Principal) -> dict[str, str]:
    services = request.app[SERVICES]
    return {c.id: c.config.name or c.id for c in list(services.cameras.values())
            if decision_for(request, who, Action.VIEW_CAMERA, c).allowed}


def _sees_reporter(request: web.Request, who: Principal) -> bool:
    return decision_for(request, who, Action.READ_REPORTER).allowed


@routes.post("/api/v1/cases")
async def open_case(request: web.Request) -> web.Response:
    """Raise an incident, file a complaint or open an emergency."""
    who, _ = await authorize(request, Action.OPEN_CASE)
    form = parse(OpenCase, await read_json(request, MAX_FORM))
    case = await book(request).open(_actor(request, who), form, _visible(request, who))
    if form.snapshot:
        await book(request).keep_snapshots(_actor(request, who), case["id"], await _pictures(request, case["cameras"]))
    return web.json_response(await _shown(request, who, case["id"]), status=201)


async def _pictures(request: web.Request, camera_ids: list[str]) -> dict[str, bytes]:
    """The latest keyframe of each camera as JPEG (a camera with no picture yet is left out)."""
    cameras = request.app[SERVICES].cameras
    pictures = {}
    for camera_id in camera_ids:
        camera = cameras.get(camera_id)
        jpeg = await keyframe_jpeg(camera.hub) if camera is not None else None
        if jpeg is not None:
            pictures[camera_id] = jpeg
    return pictures


@routes.get("/api/v1/cases/{case_id}/snapshots/{camera_id}.jpg")
async def case_snapshot(request: web.Request) -> web.Response:
    """The picture the server took of a camera when the case was opened."""
    await authorize(request, Action.READ_CASES)
    case = await book(request).get(request.match_info["case_id"])  # 404 for no such case
    camera_id = request.match_info["camera_id"]
    if camera_id not in case["cameras"]:
        raise NotFound(f"case {case['id']} has no camera {camera_id!r}")
    path = book(request).snapshot_path(case["id"], camera_id)
    try:
        jpeg = await asyncio.to_thread(path.read_bytes)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise NotFound("no such picture for this case") from exc
    return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})


@routes.get("/api/v1/cases")
async def list_cases(request: web.Request) -> web.Response:
    """Cases: open ones first (oldest first); `?state=open|closed|<state>`, `?kind=`."""
    who, _ = await authorize(request, Action.READ_CASES, log_allowed=False)
    raw = request.query.get("state")
    if raw is None:
        states = None
    elif raw == "open":
        states = [s for s in STATES if s != "closed"]
    elif raw in STATES:
        states = [raw]
    else:
        raise BadRequest(f"state must be open or one of {', '.join(STATES)}")
    kind = request.query.get("kind")
    if kind is not None and kind not in ("incident", "complaint", "emergency"):
        raise BadRequest("kind must be incident, complaint or emergency")
    cases = await book(request).find(states, kind, query_limit(request, 1000, 200), _sees_reporter(request, who))
    return web.json_response({"cases": cases})


async def _shown(request: web.Request, who: Principal, case_id: str) -> dict[str, Any]:
    """A case as this caller may see it; showing a complainant's personal data is logged."""
    case = await book(request).get(case_id)
    if case["reporter_hidden"] and _sees_reporter(request, who):
        await authorize(request, Action.READ_REPORTER)  # logged: who saw whose personal data
        case = await book(request).get(case_id, reporter=True)
    return case


@routes.get("/api/v1/cases/{case_id}")
async def get_case(request: web.Request) -> web.Response:
    """One case with its timeline, holds, steps and minutes."""
    who, _ = await authorize(request, Action.READ_CASES)
    return web.json_response(await _shown(request, who, request.match_info["case_id"]))


def _transition(path: str, action: Action, form_type: type[Any],
                step: Callable[[CaseBook, Actor, str, Any, web.Request], Awaitable[Any]]) -> None:
    async def handler(request: web.Request) -> web.Response:
        case_id = request.match_info["case_id"]
        await book(request).get(case_id)  # 404 before anything else
        who, _ = await authorize(request, action)
        form = parse(form_type, await read_json(request, MAX_FORM))
        await step(book(request), _actor(request, who), case_id, form, request)
        return web.json_response(await _shown(request, who, case_id), status=201)

    handler.__doc__ = f"POST {path}: a step of the case's lifecycle (policy action {action.value})."
    routes.post(path)(handler)


_transition("/api/v1/cases/{case_id}/acknowledgement", Action.HANDLE_CASE, Note,
            lambda b, a, c, f, r: b.acknowledge(a, c, f))
_transition("/api/v1/cases/{case_id}/forwards", Action.HANDLE_CASE, Forward, lambda b, a, c, f, r: b.forward(a, c, f))
_transition("/api/v1/cases/{case_id}/follow-ups", Action.HANDLE_CASE, FollowUp,
            lambda b, a, c, f, r: b.follow_up(a, c, f))
_transition("/api/v1/cases/{case_id}/steps/{step_id}", Action.HANDLE_CASE, Note,
            lambda b, a, c, f, r: b.step_done(a, c, r.match_info["step_id"], f))
_transition("/api/v1/cases/{case_id}/resolution", Action.HANDLE_CASE, Resolution,
            lambda b, a, c, f, r: b.resolve(a, c, f))
_transition("/api/v1/cases/{case_id}/closure", Action.CLOSE_CASE, Closure, lambda b, a, c, f, r: b.close(a, c, f))
_transition("/api/v1/cases/{case_id}/amendments", Action.HANDLE_CASE, Amendment, lambda b, a, c, f, r: b.amend(a, c, f))


@routes.get("/api/v1/cases/{case_id}/berita-acara.pdf")
async def minutes_pdf(request: web.Request) -> web.Response:
    """The berita acara as signed at closing, byte for byte."""
    await authorize(request, Action.READ_CASES)
    row = await book(request).minutes(request.match_info["case_id"])
    digest = base64.b64encode(hashlib.sha256(row.pdf).digest()).decode()
    safe = row.number.replace("/", "-")
    return web.Response(body=row.pdf, content_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="berita-acara-{safe}.pdf"', "Repr-Digest": f"sha-256=:{digest}:",
        "X-Signature-Key-Id": row.key_id, "Cache-Control": "no-store"})


@routes.get("/api/v1/cases/{case_id}/berita-acara.sig")
async def minutes_signature(request: web.Request) -> web.Response:
    """The detached Ed25519 signature over the PDF's bytes (base64), for `pantau verify-berita-acara`."""
    await authorize(request, Action.READ_CASES)
    row = await book(request).minutes(request.match_info["case_id"])
    safe = row.number.replace("/", "-")
    return web.Response(text=row.signature + "\n", content_type="text/plain", headers={
        "Content-Disposition": f'attachment; filename="berita-acara-{safe}.sig"', "X-Signature-Key-Id": row.key_id})


@routes.get("/api/v1/playbooks")
async def playbooks(request: web.Request) -> web.Response:
    """The emergency playbooks: their cameras (groups resolved), steps and escalation time."""
    await authorize(request, Action.READ_CASES, log_allowed=False)
    b = book(request)
    contacts = {c.id: c.model_dump() for c in b.config.directory}
    return web.json_response({"playbooks": [
        {"id": p.id, "name_id": p.name_id, "name_en": p.name_en or p.name_id, "cameras": b.playbook_cameras(p),
         "escalate_after_s": p.escalate_after_s, "http_trigger": p.trigger_key is not None,
         "steps": [{"id": s.id, "text_id": s.text_id, "text_en": s.text_en or s.text_id,
                    "contact": contacts.get(s.contact) if s.contact else None} for s in p.steps]}
        for p in b.config.playbooks], "ack_timeout_s": b.config.ack_timeout_s, "categories": b.config.categories})


@routes.get("/api/v1/directory")
async def directory(request: web.Request) -> web.Response:
    """The agencies and officers cases are forwarded to."""
    await authorize(request, Action.READ_CASES, log_allowed=False)
    return web.json_response({"contacts": [c.model_dump() for c in book(request).config.directory]})




@routes.get("/api/v1/complaints/report")
async def complaints_report(request: web.Request) -> web.Response:
    """The month's complaints: per complaint and per category, with the times to forward and to
    resolve; `?month=YYYY-MM` (default this month), `?format=csv|pdf|json`, `?lang=id|en` for PDF.
    No personal data: reporters are never in it."""
    await authorize(request, Action.READ_CASES)
    services = request.app[SERVICES]
    zone = services.settings.desk.zone
    raw = request.query.get("month") or services.clock.now().astimezone(zone).strftime("%Y-%m")
    try:
        year, month = (int(p) for p in raw.split("-"))
        if not 1 <= month <= 12 or not 2000 <= year <= 9999:
            raise ValueError
    except ValueError as exc:
        raise BadRequest("month must be YYYY-MM") from exc
    fmt = request.query.get("format", "json")
    lang = request.query.get("lang", services.settings.desk.language)
    if fmt not in ("json", "csv", "pdf") or lang not in ("id", "en"):
        raise BadRequest("format must be json, csv or pdf; lang id or en")
    async with services.db() as session:
        report = await month_report(session, year, month, zone)
    name = f"pengaduan-{year:04d}-{month:02d}"
    if fmt == "csv":
        return web.Response(text=as_csv(report), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if fmt == "pdf":
        letterhead = Letterhead(services.settings.desk.room_name, services.settings.desk.room_subtitle,
                                services.settings.desk.logo)
        pdf = await asyncio.to_thread(render, report_document(report, lang, zone), letterhead)
        return web.Response(body=pdf, content_type="application/pdf",
                            headers={"Content-Disposition": f'inline; filename="{name}.pdf"'})
    return web.json_response(report)
