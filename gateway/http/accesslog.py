"""The access log over HTTP: entries, signed checkpoints, proofs, public key, export."""

from __future__ import annotations

import io
import json
from typing import Any

from aiohttp import web

from core.errors import BadRequest
from policy.audit.setup import key_path
from gateway.http.guard import authorize
from gateway.http.appkeys import SERVICES
from gateway.http.params import query_int
from policy.decision import Action
from policy.audit.entries import AccessAction, AccessEvent
from policy.audit.signingkey import load_key, public_key_text
from policy.audit.export import export_log
from policy.audit.reader import iter_entries, latest_checkpoint, read_checkpoints

routes = web.RouteTableDef()

# One request scans at most this many entries, so a filter that matches nothing cannot
# make the server read the whole log; the answer's `next` continues the scan.
SCAN_LIMIT = 10_000
EXPORT_LIMIT = 200_000


@routes.get("/api/v1/access-log")
async def list_entries(request: web.Request) -> web.Response:
    """Entries from `after` on, filtered by action, actor, camera or outcome."""
    await authorize(request, Action.READ_ACCESS_LOG, log_allowed=False)
    after = query_int(request, "after", -1, low=-1)
    limit = query_int(request, "limit", 100, low=1, high=1000)
    assert after is not None and limit is not None
    wanted = {k: request.query[k] for k in ("action", "actor", "camera", "outcome", "token_id", "request_id")
              if k in request.query}
    entries: list[dict[str, Any]] = []
    scanned = 0
    next_after: int | None = None
    engine = request.app[SERVICES].engine
    async with engine.connect() as conn:
        async for entry in iter_entries(conn, after + 1, after + 1 + SCAN_LIMIT):
            scanned += 1
            next_after = entry.seq
            payload = json.loads(entry.payload)
            if all(str(payload.get(k)) == v for k, v in wanted.items()):
                entries.append({**entry.to_json(), "payload": payload})
                if len(entries) >= limit:
                    break
        checkpoint = await latest_checkpoint(conn)
    more = scanned == SCAN_LIMIT or len(entries) >= limit
    return web.json_response(
        {
            "entries": entries,
            "next_after": next_after if more else None,
            "checkpoint": checkpoint.to_json() if checkpoint else None,
        }
    )


@routes.get("/api/v1/access-log/checkpoints")
async def checkpoints(request: web.Request) -> web.Response:
    """Signed checkpoints, newest first."""
    await authorize(request, Action.READ_ACCESS_LOG, log_allowed=False)
    limit = query_int(request, "limit", 100, low=1, high=10_000)
    async with request.app[SERVICES].engine.connect() as conn:
        stored = await read_checkpoints(conn)
    return web.json_response({"checkpoints": [c.to_json() for c in reversed(stored[-(limit or 1):])]})


@routes.get("/api/v1/access-log/proofs/inclusion")
async def proof_inclusion(request: web.Request) -> web.Response:
    """Audit path of entry `seq` in the tree of `size` entries (default: newest checkpoint)."""
    await authorize(request, Action.READ_ACCESS_LOG, log_allowed=False)
    seq = query_int(request, "seq", None)
    if seq is None:
        raise BadRequest("seq is required")
    size = query_int(request, "size", None, low=1)
    size, proof = await request.app[SERVICES].access_log.proofs.inclusion(seq, size)
    return web.json_response({"seq": seq, "size": size, "proof": [h.hex() for h in proof]})


@routes.get("/api/v1/access-log/proofs/consistency")
async def proof_consistency(request: web.Request) -> web.Response:
    """Consistency proof between the trees of `old` and `new` entries."""
    await authorize(request, Action.READ_ACCESS_LOG, log_allowed=False)
    old, new = query_int(request, "old", None, low=1), query_int(request, "new", None, low=1)
    if old is None or new is None or old > new:
        raise BadRequest("old and new are required, with old <= new")
    proof = await request.app[SERVICES].access_log.proofs.consistency(old, new)
    return web.json_response({"old": old, "new": new, "proof": [h.hex() for h in proof]})


@routes.get("/api/v1/access-log/public-key")
async def public_key(request: web.Request) -> web.Response:
    """The log's verifier key (signed-note vkey line) and PEM; public by design."""
    services = request.app[SERVICES]
    key = load_key(key_path(services.settings))
    return web.Response(text=public_key_text(key, services.access_log.origin), content_type="text/plain")


@routes.get("/api/v1/access-log/export")
async def export(request: web.Request) -> web.Response:
    """A slice with checkpoints and inclusion proofs, verifiable offline (`pantau verify-log --from-file`)."""
    who, _ = await authorize(request, Action.READ_ACCESS_LOG, log_allowed=False)
    first = query_int(request, "first", 0)
    stop = query_int(request, "stop", None)
    assert first is not None
    if stop is not None and stop - first > EXPORT_LIMIT:
        raise BadRequest(f"export at most {EXPORT_LIMIT} entries at a time")
    services = request.app[SERVICES]
    out = io.StringIO()
    count = await export_log(services.engine, out, first=first, stop=stop)
    if count > EXPORT_LIMIT:
        raise BadRequest(f"export at most {EXPORT_LIMIT} entries at a time; give first and stop")
    await services.access_log.record(
        AccessEvent(AccessAction.EXPORT, actor=who.username, role=who.role, client=request.remote,
                    details={"what": "access-log", "first": first, "stop": stop, "entries": count})
    )
    return web.Response(
        text=out.getvalue(), content_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="pantau-access-log.jsonl"'},
    )
