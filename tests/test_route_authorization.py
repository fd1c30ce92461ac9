"""Every route of the application and what guards it. A route that needs authorization is refused
by the policy against a running gateway (SQLite and PostgreSQL), and each refusal is a `decision`
entry with outcome `deny` in the access log, naming the policy action.

A route added without a row here fails `test_the_table_names_every_route`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.config import CameraConfig
from evidence.jobbook import JobOrder
from evidence.models import SnapshotSource
from policy.audit.records import Actor
from gateway.http.auth import ADMIN_ADDRESS_ROUTES
from policy.decision import Action
from gateway.http.webapp import build_app
from tests.gatewayutil import Client, make_settings, request_form, running_gateway
from tests.servicesbuilder import built_services
from tests.test_whep import Viewer

NOW = datetime.now(UTC).replace(microsecond=0)
START, END = NOW - timedelta(hours=3), NOW - timedelta(hours=2)
WINDOW = f"start={START.isoformat().replace('+00:00', 'Z')}&end={END.isoformat().replace('+00:00', 'Z')}"
WINDOW_BODY = {"start": START.isoformat(), "end": END.isoformat()}
PASSWORD = "password-123"
# Disabled cameras cost nothing to run. Viewers and supervisors see the lobby only.
CAMERAS = [
    CameraConfig(id="lobby", source="demo://pattern", groups=["indoor"], enabled=False),
    CameraConfig(id="gate", source="demo://pattern", groups=["gates"], enabled=False),
]
ACCESS = {"access": {"visibility": {"viewer": ["indoor"], "supervisor": ["indoor"], "operator": ["*"],
                                    "admin": ["*"], "auditor": ["*"]}}}
USERS = {"vera": "viewer", "omar": "operator", "sam": "supervisor", "audrey": "auditor"}


@dataclass(frozen=True)
class Open:
    """Anyone may call it, without a token."""

    why: str
    path: str | None = None  # what to call, where the route is a prefix


@dataclass(frozen=True)
class SignedIn:
    """Authentication only: any signed-in user; what it shows is filtered per camera, nothing refused."""

    why: str


@dataclass(frozen=True)
class Refusal:
    """`user` asks and is refused with `status`; `ids` fill the path's parameters."""

    user: str
    status: int
    query: str = ""
    ids: dict[str, str] = field(default_factory=dict)
    body: Callable[[], dict[str, Any]] | None = None  # request keyword arguments, fresh per call


@dataclass(frozen=True)
class Guarded:
    """The policy decides `action`; each refusal is logged."""

    action: Action
    refusals: tuple[Refusal, ...]


def guarded(action: Action, *refusals: Refusal) -> Guarded:
    return Guarded(action, refusals)


def vera(status: int = 403, query: str = "", **ids: str) -> Refusal:
    return Refusal("vera", status, query, ids)


def posting(user: str, status: int, body: Callable[[], dict[str, Any]], **ids: str) -> Refusal:
    return Refusal(user, status, ids=ids, body=body)


def hold_body(camera: str) -> Callable[[], dict[str, Any]]:
    return lambda: {"json": {"camera": camera, **WINDOW_BODY, "reason": "incident 17"}}


def bookmark_body(camera: str) -> Callable[[], dict[str, Any]]:
    return lambda: {"json": {"camera": camera, "start": WINDOW_BODY["start"], "note": "a red car"}}


def reason(text: str) -> Callable[[], dict[str, Any]]:
    return lambda: {"json": {"note": text, "reason": text}}


def NOTE() -> dict[str, Any]:  # noqa: N802 (a body like the others, named as a constant)
    return {"json": {"note": "seen"}}


PTZ_DENIED = guarded(Action.PTZ, vera())
ADMINISTER = guarded(Action.ADMINISTER, vera())
READ_LOG = guarded(Action.READ_ACCESS_LOG, vera())
READ_REQUESTS = guarded(Action.READ_REQUESTS, vera())
HIDDEN_CAMERA = guarded(Action.VIEW_CAMERA, vera(404, camera_id="gate"))
FILE_SHIFT = guarded(Action.FILE_SHIFT_RECORD, posting("vera", 403, lambda: {"json": {}}))
READ_SHIFTS = guarded(Action.READ_SHIFT_RECORDS, vera())
READ_HANDOVERS = guarded(Action.READ_HANDOVERS, vera())
READ_CASES = guarded(Action.READ_CASES, vera())
HANDLE_CASE = guarded(Action.HANDLE_CASE, posting("vera", 403, lambda: {"json": {}}))

ROUTES: dict[tuple[str, str], Open | SignedIn | Guarded] = {
    ("GET", "/livez"): Open("liveness"),
    ("GET", "/readyz"): Open("readiness"),
    ("GET", "/"): Open("the video wall's page; it signs in by itself"),
    ("GET", "/static"): Open("static files of the pages", "/static/pantau.css"),
    ("POST", "/api/v1/session"): Open("signing in"),
    ("GET", "/api/v1/openapi.json"): Open("the API's description"),
    ("GET", "/api/v1/access-log/public-key"): Open("the log's verifier key, public by design"),
    ("POST", "/api/v1/triggers/{playbook_id}"): Open(
        "a device presents the playbook's trigger key (X-Trigger-Key), not a session; the trigger gate checks "
        "it and logs each refusal (tests/cases/test_triggers.py)", "/api/v1/triggers/no-such-playbook"),
    ("POST", "/onvif/device_service"): Open(
        "ONVIF SOAP: the WS-UsernameToken in the message is the credential, checked by onvif_server, which logs "
        "each refusal and decides view_camera/live per camera (tests/onvif_server); off here, so 404"),
    ("POST", "/onvif/media_service"): Open("ONVIF SOAP, as the device service"),
    ("POST", "/onvif/ptz_service"): Open("ONVIF SOAP, as the device service; each command decides ptz"),
    ("GET", "/onvif/snapshot/{profile}"): Open(
        "the JPEG a GetSnapshotUri URL names: HTTP Digest (or Basic) with an integrator account, checked by "
        "onvif_server, which decides view_camera and logs; off here, so 404", "/onvif/snapshot/gate"),
    ("POST", "/onvif/search_service"): Open("ONVIF SOAP, as the device service; list_recordings per camera"),
    ("POST", "/onvif/replay_service"): Open("ONVIF SOAP, as the device service; list_recordings per camera"),
    ("POST", "/onvif/events_service"): Open(
        "ONVIF SOAP, as the device service; a subscription is its account's, messages filtered by view_camera"),
    ("DELETE", "/api/v1/session"): SignedIn("signing out one's own session"),
    ("GET", "/api/v1/session"): SignedIn("who the caller is (a person or an enrolled display)"),
    ("GET", "/api/v1/cameras"): SignedIn("the cameras the caller sees (view_camera per camera)"),
    ("GET", "/api/v1/events"): SignedIn("events of the cameras the caller sees (view_camera per camera)"),
    ("GET", "/api/v1/events/stream"): SignedIn("the same, live, with alerts filtered as below"),
    ("GET", "/api/v1/alerts"): SignedIn("alerts of the cameras the caller sees; about no camera: gateway_alerts"),
    ("GET", "/api/v1/dispositions/public-key"): SignedIn("the tokens' verifier key"),
    ("PATCH", "/whep/sessions/{session_id}"): Open(
        "trickle ICE: the unguessable session URL is the authority, as in MediaMTX (third-party WHEP players "
        "send no bearer); an unknown session is 404 (tests/test_whep_ice.py)"),
    ("OPTIONS", "/whep/live/{camera_id}"): Open(
        "WHEP OPTIONS: Accept-Post and the STUN servers; TURN credentials only with a bearer that stands"),
    ("OPTIONS", "/whep/playback/{camera_id}"): Open("the same for playback (a disposition token may view)"),
    ("GET", "/api/v1/webrtc/config"): SignedIn(
        "the pages' ICE servers with TURN credentials; a standing disposition token too (the external viewer)"),
    ("GET", "/health"): ADMINISTER,
    ("GET", "/metrics"): ADMINISTER,
    ("GET", "/api/v1/cameras/{camera_id}"): HIDDEN_CAMERA,
    ("GET", "/api/v1/cameras/{camera_id}/history"): HIDDEN_CAMERA,
    ("GET", "/api/v1/cameras/{camera_id}/snapshot.jpg"): HIDDEN_CAMERA,
    ("POST", "/api/v1/cameras"): ADMINISTER,
    ("GET", "/api/v1/displays"): ADMINISTER,
    ("POST", "/api/v1/displays"): guarded(
        Action.ADMINISTER, posting("vera", 403, lambda: {"json": {"name": "Wall 1"}}),
        posting("omar", 403, lambda: {"json": {"name": "Wall 1"}})),
    ("POST", "/api/v1/displays/{display_id}/revocation"): guarded(
        Action.ADMINISTER, posting("sam", 403, reason("stolen"))),
    ("PATCH", "/api/v1/cameras/{camera_id}"): ADMINISTER,
    ("GET", "/api/v1/retention-changes"): guarded(Action.READ_RETENTION_CHANGES, vera(), Refusal("omar", 403)),
    ("GET", "/api/v1/retention-changes/{change_id}"): guarded(Action.READ_RETENTION_CHANGES, vera()),
    ("POST", "/api/v1/retention-changes/{change_id}/approval"): guarded(
        Action.DECIDE_RETENTION, posting("vera", 403, NOTE), posting("audrey", 403, NOTE)),
    ("POST", "/api/v1/retention-changes/{change_id}/rejection"): guarded(
        Action.DECIDE_RETENTION, posting("omar", 403, NOTE)),
    ("POST", "/api/v1/retention-changes/{change_id}/withdrawal"): guarded(
        Action.WITHDRAW_RETENTION, posting("sam", 403, NOTE), posting("vera", 403, NOTE)),
    ("GET", "/api/v1/users"): ADMINISTER,
    ("PATCH", "/api/v1/users/{username}"): guarded(
        Action.ADMINISTER, posting("vera", 403, lambda: {"json": {"role": "admin"}}),
        posting("omar", 403, lambda: {"json": {"enabled": False}})),
    ("POST", "/api/v1/users/{username}/password"): guarded(
        Action.ADMINISTER, posting("sam", 403, lambda: {"json": {"password": "password-456"}})),
    ("GET", "/api/v1/cameras/{camera_id}/ptz"): PTZ_DENIED,
    ("POST", "/api/v1/cameras/{camera_id}/ptz/move"): PTZ_DENIED,
    ("POST", "/api/v1/cameras/{camera_id}/ptz/stop"): PTZ_DENIED,
    ("POST", "/api/v1/cameras/{camera_id}/ptz/home"): PTZ_DENIED,
    ("GET", "/api/v1/cameras/{camera_id}/ptz/presets"): PTZ_DENIED,
    ("POST", "/api/v1/cameras/{camera_id}/ptz/presets"): PTZ_DENIED,
    ("POST", "/api/v1/cameras/{camera_id}/ptz/presets/{token}/goto"): PTZ_DENIED,
    ("GET", "/api/v1/onvif/discover"): ADMINISTER,
    ("POST", "/api/v1/onvif/discover"): ADMINISTER,
    ("POST", "/api/v1/playback-requests"): guarded(
        Action.FILE_REQUEST, posting("vera", 403, lambda: {"data": request_form("lobby", START, END)})),
    ("GET", "/api/v1/playback-requests"): READ_REQUESTS,
    ("GET", "/api/v1/playback-requests/{request_id}"): READ_REQUESTS,
    ("GET", "/api/v1/playback-requests/{request_id}/letter"): READ_REQUESTS,
    ("POST", "/api/v1/playback-requests/{request_id}/approvals"): guarded(
        Action.APPROVE, posting("vera", 403, reason("ok"))),
    ("POST", "/api/v1/playback-requests/{request_id}/refusals"): guarded(
        Action.REFUSE, posting("vera", 403, reason("no"))),
    ("GET", "/api/v1/dispositions"): READ_REQUESTS,
    ("POST", "/api/v1/dispositions/check"): guarded(
        Action.READ_REQUESTS, posting("vera", 403, lambda: {"json": {"token": "x", "camera": "lobby", **WINDOW_BODY}})),
    ("GET", "/api/v1/dispositions/{token_id}"): READ_REQUESTS,
    ("POST", "/api/v1/dispositions/{token_id}/revocation"): guarded(
        Action.REVOKE, posting("omar", 403, reason("not mine to revoke"))),
    ("GET", "/api/v1/access-log"): READ_LOG,
    ("GET", "/api/v1/access-log/checkpoints"): READ_LOG,
    ("GET", "/api/v1/access-log/proofs/inclusion"): READ_LOG,
    ("GET", "/api/v1/access-log/proofs/consistency"): READ_LOG,
    ("GET", "/api/v1/access-log/export"): READ_LOG,
    ("GET", "/api/v1/recordings"): guarded(Action.LIST_RECORDINGS, vera(query=f"camera=lobby&{WINDOW}")),
    ("GET", "/api/v1/recordings/thumbnails"): guarded(
        Action.PLAYBACK, vera(query=f"camera=lobby&{WINDOW}&count=4")),
    ("GET", "/api/v1/review/events"): guarded(Action.LIST_RECORDINGS, vera(query=f"camera=lobby&{WINDOW}")),
    ("GET", "/api/v1/holds"): guarded(Action.READ_HOLDS, vera(), Refusal("sam", 404, "camera=gate")),
    ("POST", "/api/v1/holds"): guarded(
        Action.PLACE_HOLD, posting("vera", 403, hold_body("lobby")), posting("sam", 404, hold_body("gate"))),
    ("POST", "/api/v1/holds/{hold_id}/release"): guarded(
        Action.RELEASE_HOLD, posting("omar", 403, reason("closed")),
        posting("sam", 404, reason("closed"), hold_id="gate_hold")),
    ("GET", "/list"): guarded(Action.LIST_RECORDINGS, vera(query="path=lobby")),
    ("GET", "/get"): guarded(Action.EXPORT, vera(query=f"path=lobby&start={START.isoformat()[:19]}Z&duration=60")),
    ("POST", "/api/v1/links"): guarded(Action.EXPORT, posting("vera", 403, lambda: {"json": {
        "url": f"/get?path=lobby&start={START.isoformat()[:19]}Z&duration=60"}})),
    ("POST", "/whep/live/{camera_id}"): guarded(Action.LIVE, vera(404, camera_id="gate")),
    ("POST", "/whep/playback/{camera_id}"): guarded(Action.PLAYBACK, vera(query=WINDOW)),
    ("DELETE", "/whep/sessions/{session_id}"): guarded(Action.END_SESSION, vera(404)),
    ("POST", "/api/v1/shifts"): FILE_SHIFT,
    ("GET", "/api/v1/shifts/current"): guarded(Action.READ_DUTY),  # every role by default (the wall shows it)
    ("GET", "/api/v1/shifts"): READ_SHIFTS,
    ("GET", "/api/v1/shifts/{shift_id}"): READ_SHIFTS,
    ("POST", "/api/v1/shifts/{shift_id}/closure"): guarded(
        Action.CLOSE_SHIFT, posting("omar", 403, lambda: {"json": {"reason": "x"}})),
    ("GET", "/api/v1/equipment"): FILE_SHIFT,
    ("POST", "/api/v1/checks"): FILE_SHIFT,
    ("GET", "/api/v1/checks"): READ_SHIFTS,
    ("GET", "/api/v1/checks/{check_id}"): READ_SHIFTS,
    ("GET", "/api/v1/checks/{check_id}/pdf"): READ_SHIFTS,
    ("POST", "/api/v1/patrols"): FILE_SHIFT,
    ("GET", "/api/v1/patrols"): READ_SHIFTS,
    ("GET", "/api/v1/patrols/{patrol_id}"): READ_SHIFTS,
    ("GET", "/api/v1/patrols/{patrol_id}/pdf"): READ_SHIFTS,
    ("GET", "/api/v1/handovers/draft"): FILE_SHIFT,
    ("POST", "/api/v1/handovers"): FILE_SHIFT,
    ("GET", "/api/v1/handovers"): READ_HANDOVERS,
    ("GET", "/api/v1/handovers/{handover_id}"): READ_HANDOVERS,
    ("PUT", "/api/v1/handovers/{handover_id}"): READ_HANDOVERS,
    ("PATCH", "/api/v1/handovers/{handover_id}"): READ_HANDOVERS,
    ("DELETE", "/api/v1/handovers/{handover_id}"): READ_HANDOVERS,
    ("GET", "/api/v1/handovers/{handover_id}/pdf"): READ_HANDOVERS,
    ("POST", "/api/v1/handovers/{handover_id}/acceptance"): guarded(
        Action.ACCEPT_HANDOVER, posting("vera", 403, lambda: {"json": {}}), posting("omar", 403, lambda: {"json": {}})),
    ("POST", "/api/v1/cases"): guarded(Action.OPEN_CASE, posting("vera", 403, lambda: {"json": {}})),
    ("GET", "/api/v1/cases"): READ_CASES,
    ("GET", "/api/v1/cases/{case_id}"): READ_CASES,
    ("POST", "/api/v1/cases/{case_id}/acknowledgement"): HANDLE_CASE,
    ("POST", "/api/v1/cases/{case_id}/forwards"): HANDLE_CASE,
    ("POST", "/api/v1/cases/{case_id}/follow-ups"): HANDLE_CASE,
    ("POST", "/api/v1/cases/{case_id}/steps/{step_id}"): HANDLE_CASE,
    ("POST", "/api/v1/cases/{case_id}/resolution"): HANDLE_CASE,
    ("POST", "/api/v1/cases/{case_id}/amendments"): HANDLE_CASE,
    ("POST", "/api/v1/cases/{case_id}/closure"): guarded(
        Action.CLOSE_CASE, posting("vera", 403, lambda: {"json": {}}), posting("omar", 403, lambda: {"json": {}})),
    ("GET", "/api/v1/cases/{case_id}/berita-acara.pdf"): READ_CASES,
    ("GET", "/api/v1/cases/{case_id}/berita-acara.sig"): READ_CASES,
    ("GET", "/api/v1/playbooks"): READ_CASES,
    ("GET", "/api/v1/directory"): READ_CASES,
    ("GET", "/api/v1/complaints/report"): READ_CASES,
    ("GET", "/api/v1/cases/{case_id}/snapshots/{camera_id}.jpg"): READ_CASES,
    ("POST", "/api/v1/handovers/{handover_id}/amendments"): guarded(
        Action.FILE_SHIFT_RECORD, posting("vera", 403, lambda: {"json": {"text": "x"}})),
    ("POST", "/api/v1/exports"): guarded(
        Action.EXPORT, posting("vera", 403, lambda: {"json": {"cameras": ["lobby"], **WINDOW_BODY, "reason": "x"}})),
    ("GET", "/api/v1/exports"): guarded(Action.READ_EXPORTS, vera()),
    ("GET", "/api/v1/exports/{job_id}"): guarded(Action.READ_EXPORTS, vera()),
    ("POST", "/api/v1/exports/{job_id}/cancel"): guarded(
        Action.CANCEL_EXPORT, posting("omar", 403, lambda: {"json": {}})),
    ("GET", "/api/v1/exports/{job_id}/download"): guarded(Action.READ_EXPORTS, vera()),
    ("POST", "/api/v1/bookmarks"): guarded(
        Action.PLACE_BOOKMARK, posting("vera", 403, bookmark_body("lobby")), posting("sam", 404, bookmark_body("gate"))),
    ("GET", "/api/v1/bookmarks"): guarded(Action.READ_BOOKMARKS, vera(), Refusal("sam", 404, "camera=gate")),
    ("POST", "/api/v1/cameras/{camera_id}/snapshots"): guarded(Action.LIVE, vera(404, camera_id="gate")),
    ("GET", "/api/v1/snapshots"): guarded(Action.VIEW_CAMERA, vera(404, "camera=gate")),
    # The fixture's snapshot is a live one of the gate: viewing it is decided as watching the gate live.
    ("GET", "/api/v1/snapshots/{snapshot_id}"): guarded(Action.LIVE, vera(404)),
    ("POST", "/api/v1/cases/{case_id}/snapshots"): HANDLE_CASE,
}
# A camera hidden from the caller is a logged refusal as well, on the routes that name one.
EXTRA_REFUSALS = {
    ("GET", "/api/v1/recordings"): guarded(Action.VIEW_CAMERA, vera(404, f"camera=gate&{WINDOW}")),
    ("GET", "/api/v1/recordings/thumbnails"): guarded(Action.VIEW_CAMERA, vera(404, f"camera=gate&{WINDOW}&count=4")),
    ("GET", "/list"): guarded(Action.VIEW_CAMERA, vera(404, "path=gate")),
    ("GET", "/get"): guarded(Action.VIEW_CAMERA, vera(404, f"path=gate&start={START.isoformat()[:19]}Z&duration=60")),
    ("POST", "/api/v1/links"): guarded(Action.VIEW_CAMERA, posting("vera", 404, lambda: {"json": {
        "url": f"/get?path=gate&start={START.isoformat()[:19]}Z&duration=60"}})),
}


async def served_routes(tmp_path: Path) -> set[tuple[str, str]]:
    """(method, path) of every route of the application; HEAD is the GET handler, so it is left out
    once its GET is there."""
    async with built_services(tmp_path) as services:
        app = build_app(services)
    routes = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource}
    heads = {path for method, path in routes if method == "HEAD"}
    assert heads <= {path for method, path in routes if method == "GET"}, "a HEAD route without its GET"
    return {(method, path) for method, path in routes if method != "HEAD"}


async def test_the_table_names_every_route(tmp_path: Path) -> None:
    assert set(ROUTES) == await served_routes(tmp_path)


@dataclass
class Fixture:
    """A running gateway with users, a hold on each camera, a filed request and a live session."""

    client: Client
    tokens: dict[str, str]
    ids: dict[str, str]
    seen: int = -1  # the last decision deny read from the log

    async def call(self, method: str, route: str, token: str | None, refusal: Refusal | None = None) -> int:
        """The status `method` on `route` answers; an error must be problem+json."""
        refusal = refusal or Refusal("", 0)
        path = route.format(**{**self.ids, **{k: self.ids.get(v, v) for k, v in refusal.ids.items()}})
        if refusal.query:
            path += "?" + refusal.query
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body = refusal.body() if refusal.body else {}
        async with self.client.http.request(method, self.client.url(path), headers=headers, **body) as resp:
            if resp.status in (401, 403, 404):
                assert resp.content_type == "application/problem+json", (method, path, resp.status)
            return resp.status

    async def new_denials(self) -> list[dict[str, Any]]:
        """Decision entries with outcome deny since the last call."""
        body = await self.client.get_json(
            f"/api/v1/access-log?after={self.seen}&action=decision&outcome=deny&limit=1000", self.tokens["admin"])
        entries = body["entries"]
        if entries:
            self.seen = entries[-1]["seq"]
        return [e["payload"] for e in entries]


async def fixture(client: Client) -> Fixture:
    services = client.gateway.services
    assert services is not None and services.recorder is not None
    tokens = {"admin": await client.sign_in("admin", client.admin_password())}
    for name, role in USERS.items():
        await services.users.add(name, role, PASSWORD)
        tokens[name] = await client.sign_in(name, PASSWORD)
    async with client.http.post(client.url("/api/v1/holds"), json=hold_body("lobby")()["json"],
                                headers={"Authorization": f"Bearer {tokens['sam']}"}) as resp:
        assert resp.status == 201, await resp.text()
        lobby_hold = (await resp.json())["id"]
    gate_hold = (await services.recorder.holds.place("gate", START, END, "incident 18", "admin")).id
    async with client.http.post(client.url("/api/v1/playback-requests"), data=request_form("lobby", START, END),
                                headers={"Authorization": f"Bearer {tokens['omar']}"}) as resp:
        assert resp.status == 201, await resp.text()
        request_id = (await resp.json())["id"]
    display, _ = await services.displays.enrol("Lobby wall", "admin")
    change = await services.retention_changes.request("lobby", 30.0, 7.0, 7.0, "admin")
    snapshot = await services.snapshots.keep(Actor("admin", "admin"), "gate", b"\xff\xd8 not decoded here \xff\xd9",
                                             NOW, SnapshotSource.LIVE)
    ids = {"camera_id": "lobby", "token": "preset-1", "request_id": request_id, "token_id": "dsp_unknown",
           "hold_id": str(lobby_hold), "gate_hold": str(gate_hold), "display_id": display.id,
           **await shift_records(client, tokens["omar"]), "case_id": await a_case(client, tokens["omar"]),
           "step_id": "look", "job_id": await an_export(services), "snapshot_id": snapshot.id,
           "username": "vera", "change_id": change.id}
    return Fixture(client, tokens, ids)


async def an_export(services: Any) -> str:
    """A supervisor's export job (it fails at once: nothing is recorded); its id."""
    job = await services.exports.book.create(JobOrder(("lobby",), START, END, ("bundle",), "incident 17", "sam", "user",
                                                      requester_role="supervisor"))
    return str(job.id)


async def shift_records(client: Client, operator: str) -> dict[str, str]:
    """An operator's shift with a check and a patrol, handed over: the ids of each."""
    ids: dict[str, str] = {}
    now = datetime.now(UTC)
    patrol = {"started_at": (now - timedelta(seconds=5)).isoformat(), "ended_at": now.isoformat(),
              "cameras": [{"camera": "lobby", "shown_s": 4, "acknowledged": True}]}
    for key, path, body in [("shift_id", "/api/v1/shifts", {}), ("check_id", "/api/v1/checks", {}),
                            ("patrol_id", "/api/v1/patrols", patrol), ("handover_id", "/api/v1/handovers", {})]:
        async with client.http.post(client.url(path), json=body, headers={"Authorization": f"Bearer {operator}"}) as resp:
            assert resp.status == 201, await resp.text()
            ids[key] = (await resp.json())["id"]
    return ids


async def a_case(client: Client, operator: str) -> str:
    """An operator's incident on the lobby camera: its id."""
    async with client.http.post(client.url("/api/v1/cases"), json={"kind": "incident", "title": "t", "cameras": ["lobby"]},
                                headers={"Authorization": f"Bearer {operator}"}) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["id"])


async def test_every_refusal_is_a_logged_policy_decision(tmp_path: Path, db_url: str) -> None:
    async with running_gateway(make_settings(tmp_path, db_url, CAMERAS, **ACCESS)) as client:
        f = await fixture(client)
        viewer = Viewer()  # omar watches the lobby: the session vera may not end
        try:
            await viewer.connect(client, "lobby", f.tokens["omar"])
            f.ids["session_id"] = viewer.location.rsplit("/", 1)[1]
            await f.new_denials()
            for (method, route), guard in [*ROUTES.items(), *EXTRA_REFUSALS.items()]:
                if not isinstance(guard, Guarded):
                    continue
                for refusal in guard.refusals:
                    status = await f.call(method, route, f.tokens[refusal.user], refusal)
                    assert status == refusal.status, (method, route, refusal.user, status)
                    logged = [(d["actor"], d["details"]["action"]) for d in await f.new_denials()]
                    assert (refusal.user, guard.action.value) in logged, (method, route, logged)
            # Nothing was changed by the refusals: both holds stand, the session goes on.
            services = client.gateway.services
            assert services is not None and services.webrtc is not None
            assert services.webrtc.viewers("lobby") == 1
            standing = await services.displays.get(f.ids["display_id"])
            assert standing is not None and standing.revoked_at is None
            assert [d.name for d in await services.displays.list()] == ["Lobby wall"]
            held = await client.get_json("/api/v1/holds?active=true", f.tokens["admin"])
            # (the fixture's incident on the lobby holds its recordings too)
            assert sorted(h["camera"] for h in held["holds"]) == ["gate", "lobby", "lobby"]
            # A supervisor lists the holds of the cameras it sees only.
            seen = await client.get_json("/api/v1/holds", f.tokens["sam"])
            assert [h["camera"] for h in seen["holds"]] == ["lobby", "lobby"]
        finally:
            await viewer.close()


async def test_without_a_token_only_open_routes_answer(tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'pantau.db'}"
    async with running_gateway(make_settings(tmp_path, db_url, CAMERAS, **ACCESS)) as client:
        f = Fixture(client, {}, {"camera_id": "lobby", "token": "p", "request_id": "req_x", "token_id": "dsp_x",
                                 "hold_id": "1", "session_id": "A" * 24, "shift_id": "s", "check_id": "c",
                                 "patrol_id": "p", "handover_id": "h", "display_id": "d", "case_id": "c",
                                 "step_id": "s", "job_id": "exp_x", "snapshot_id": "snap-x",
                                 "username": "vera", "change_id": "ret_x"})
        for (method, route), guard in ROUTES.items():
            path = guard.path if isinstance(guard, Open) and guard.path else route
            status = await f.call(method, path, None)
            if isinstance(guard, Open) or (method, route) in ADMIN_ADDRESS_ROUTES:  # 127.0.0.1 is an admin host
                assert status != 401, (method, route, status)
            else:
                assert status == 401, (method, route, status)
