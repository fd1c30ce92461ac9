"""Emergency triggers over HTTP: a panic button's gateway (or any device) opens a playbook's
emergency with the playbook's key. No session: the key is the credential (auth.py lets the route
through), checked by the trigger gate, which logs every refusal and collapses floods."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from cases.triggers import LOCATION_MAX_CHARS, NOTE_MAX_CHARS
from core.errors import PantauError
from core.forms import Form, parse
from gateway.http.appkeys import SERVICES
from gateway.http.body import read_json

routes = web.RouteTableDef()

KEY_HEADER = "X-Trigger-Key"
#: A note and a location fit in this; a device sending more is misconfigured.
MAX_BODY = 4 * 1024


class TriggerBody(Form):
    """POST /api/v1/triggers/{playbook_id}: what the device may say, all optional."""

    note: str = Field("", max_length=NOTE_MAX_CHARS)
    location: str = Field("", max_length=LOCATION_MAX_CHARS)


@routes.post("/api/v1/triggers/{playbook_id}")
async def trigger(request: web.Request) -> web.Response:
    """Open the playbook's emergency, or join the one under way: 202 {"case", "created"}."""
    gate = request.app[SERVICES].triggers
    playbook_id, client = request.match_info["playbook_id"], request.remote
    await gate.check_key(playbook_id, request.headers.get(KEY_HEADER), client)
    try:
        body = parse(TriggerBody, await read_json(request, MAX_BODY)) if request.body_exists else TriggerBody()
    except PantauError as exc:
        await gate.refuse(playbook_id, "http", client, exc.detail)
        raise
    details = {k: v for k, v in body.model_dump().items() if v}
    case, created = await gate.fire(playbook_id, "http", details, client=client)
    # 202: the emergency is in the book; what the room does with it follows.
    return web.json_response({"case": case["id"], "created": created}, status=202)
