"""Liveness, readiness, health+json and Prometheus metrics."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from cluster.duty import duty_node
from cluster.overview import NodeState, NodeView, cluster_overview
from core.version import gateway_version
from gateway.http.auth import principal
from gateway.http.guard import authorize
from gateway.http.appkeys import SERVICES
from gateway.http.metrics import REGISTRY
from gateway.http.placement import owner_elsewhere
from gateway.http.views import health_checks, iso
from gateway.services import Services
from policy.decision import Action

HEALTH_JSON = "application/health+json"
routes = web.RouteTableDef()


async def _database_ms(services: Services) -> tuple[bool, float, str]:
    start = time.perf_counter()
    try:
        async with asyncio.timeout(2.0):
            async with services.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not ready"; say which
        return False, (time.perf_counter() - start) * 1000, type(exc).__name__
    return True, (time.perf_counter() - start) * 1000, ""


def _storage(services: Services) -> tuple[bool, int, str]:
    """(usable, free bytes, why not): the recorder's alarm, else the path itself."""
    path = services.settings.storage.path
    if services.recorder.storage_problem:
        return False, 0, services.recorder.storage_problem
    try:
        free = shutil.disk_usage(path).free
    except OSError as exc:
        return False, 0, f"storage path unusable: {exc.strerror}"
    if not os.access(path, os.W_OK):
        return False, free, "storage path is not writable"
    return True, free, ""


async def _nodes(services: Services, now: str | None) -> list[dict[str, Any]]:
    """One entry per registered node: its state, heartbeat age and held cameras (database clock)."""
    try:
        async with asyncio.timeout(2.0):
            views = await cluster_overview(services.db, services.settings.cluster.lease_s)
    except Exception as exc:  # the database check above says why; here only that the list is missing
        return [{"componentType": "system", "status": "warn", "time": now,
                 "output": f"node list unavailable: {type(exc).__name__}"}]
    return [_node_entry(view, now) for view in views]


async def _duty(services: Services, now: str | None) -> list[dict[str, Any]]:
    """Which node holds the cluster duty (runs the room's couriers, watches and trigger sources), as
    the database sees it: the same answer on every node."""
    try:
        async with asyncio.timeout(2.0):
            async with services.engine.connect() as conn:
                holder = await duty_node(conn)
    except Exception as exc:  # the database check says why; here only that the holder is unknown
        return [{"componentType": "system", "status": "warn", "time": now,
                 "output": f"duty holder unknown: {type(exc).__name__}"}]
    if holder is None:
        return [{"componentType": "system", "status": "warn", "time": now,
                 "output": "no node holds the cluster duty right now: alerts wait in the outbox"}]
    here = services.duty is not None and services.duty.holding
    return [{"componentId": holder, "componentType": "system", "status": "pass", "time": now,
             "output": f"held by node {holder}" + (" (this node)" if here else "")}]


def _node_entry(view: NodeView, now: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "componentId": view.node_id, "componentType": "system",
        "status": "warn" if view.state is NodeState.STALE else "pass",
        "time": now, "output": view.state.value,
        "cameras": [{"camera": lease.camera, "epoch": lease.epoch, "heldSeconds": round(lease.held_s, 1),
                     "renewedSecondsAgo": round(lease.renewed_s, 1)} for lease in view.leases],
    }
    if view.duty:
        entry["duty"] = True  # runs the room's couriers, watches and trigger sources (cluster:duty)
    if view.url:
        entry["links"] = {"self": view.url}
    if view.heartbeat_age_s != float("inf"):
        entry |= {"observedValue": round(view.heartbeat_age_s, 2), "observedUnit": "s"}
    return entry


@routes.get("/livez")
async def livez(request: web.Request) -> web.Response:
    """The process is alive and its loop answers."""
    return web.json_response({"status": "pass"}, content_type=HEALTH_JSON)


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready to serve: database and storage usable."""
    services = request.app[SERVICES]
    db_ok, _, db_why = await _database_ms(services)
    st_ok, _, st_why = await asyncio.to_thread(_storage, services)
    body: dict[str, Any] = {"status": "pass" if db_ok and st_ok else "fail"}
    notes = [n for n in (db_why and f"database: {db_why}", st_why and f"storage: {st_why}") if n]
    if notes:
        body["notes"] = notes
    return web.json_response(body, status=200 if db_ok and st_ok else 503, content_type=HEALTH_JSON)


async def _admin_only(request: web.Request) -> None:
    """Admin addresses pass (the auth middleware let them in); a token must be an admin role's."""
    if principal(request) is not None:
        await authorize(request, Action.ADMINISTER, log_allowed=False)


def _ingested_by(services: Services, camera_id: str) -> tuple[str, str] | None:
    """Several nodes: which node ingests a camera this node does not, and the state check's status
    (a warning while no node holds it: nobody records it); None when this one does."""
    if services.owners is None:
        return None
    here, owner = owner_elsewhere(services, camera_id)
    if here:
        return None
    if owner is None:
        return "no node holds its lease right now: nobody records it (every node at cluster.capacity?)", "warn"
    return f"ingested by node {owner.node_id} ({owner.url})", "pass"


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    """health+json: one check per camera, the database and storage."""
    await _admin_only(request)
    services = request.app[SERVICES]
    mono = services.clock.monotonic()
    now = iso(services.clock.now())
    checks: dict[str, list[dict[str, Any]]] = {}
    # Keys are component:measurement (the health+json draft); each camera is an entry with its
    # componentId under camera:state, camera:lastPacketAge and camera:PROBLEM.
    for cam in services.cameras.values():
        elsewhere = _ingested_by(services, cam.id)
        for check in health_checks(cam, mono):
            if elsewhere is not None and check["measurementName"] == "state":
                check["output"], check["status"] = elsewhere
            checks.setdefault(f"camera:{check['measurementName']}", []).append(check)
    db_ok, db_ms, db_why = await _database_ms(services)
    checks["database:responseTime"] = [
        {"componentType": "datastore", "status": "pass" if db_ok else "fail",
         "observedValue": round(db_ms, 2), "observedUnit": "ms", "time": now,
         **({"output": db_why} if db_why else {})}
    ]
    st_ok, free, st_why = await asyncio.to_thread(_storage, services)
    checks["storage:freeBytes"] = [
        {"componentType": "datastore", "status": "pass" if st_ok else "fail",
         "observedValue": free, "observedUnit": "bytes", "time": now,
         **({"output": st_why} if st_why else {})}
    ]
    storage = await asyncio.to_thread(services.recorder.storage_status)
    checks["recordings:bytesUsed"] = [
        {"componentType": "datastore", "status": "pass" if storage.state == "ok" else "fail",
         "observedValue": storage.bytes_used, "observedUnit": "bytes", "time": now,
         **({"output": storage.problem} if storage.problem else {})}
    ]
    checks["recordings:sealLatency"] = [
        {"componentType": "component", "status": "pass", "observedValue": storage.seal_latency_p99_s,
         "observedUnit": "s", "time": now, "output": "p99 over recent segments"}
    ]
    for camera_id, oldest in sorted(storage.oldest.items()):
        checks.setdefault("recordings:oldest", []).append(
            {"componentId": camera_id, "componentType": "camera", "status": "pass",
             "observedValue": iso(oldest), "time": now})
    cut_off = services.cluster_reach.problem if services.cluster_reach is not None else None
    uploads = services.recorder.upload_status()
    if uploads is not None:
        # A store that is away is a warning: segments wait on local disk, recording goes on.
        checks["objectStore:uploadBacklog"] = [
            {"componentType": "datastore", "status": "warn" if uploads.last_error else "pass",
             "observedValue": uploads.backlog, "observedUnit": "segments", "time": now,
             "output": f"{uploads.backlog_bytes} bytes wait to be uploaded"
             + (f"; {uploads.last_error}" if uploads.last_error else "")}
        ]
    if services.settings.cluster_enabled:
        checks["nodes:heartbeatAge"] = await _nodes(services, now)
        checks["cluster:duty"] = await _duty(services, now)
        # The lease keeper's own view: cut off from the database, this node records nothing.
        checks["cluster:database"] = [
            {"componentType": "datastore", "status": "fail" if cut_off else "pass", "time": now,
             **({"output": cut_off} if cut_off else {})}
        ]
    tampered = services.access_log.tampered
    checks["accessLog:integrity"] = [
        {"componentType": "datastore", "status": "fail" if tampered else "pass", "time": now,
         **({"output": f"access log tampered: {tampered}"} if tampered else {})}
    ]
    statuses = {c["status"] for entries in checks.values() for c in entries}
    if not (db_ok and st_ok) or tampered or cut_off:
        overall = "fail"
    elif statuses - {"pass"}:
        overall = "warn"
    else:
        overall = "pass"
    body = {
        "status": overall,
        "version": "1",
        "releaseId": gateway_version(),
        "serviceId": "pantau",
        "description": "Pantau CCTV gateway",
        # Which node answered: with several workers behind one port, each answers for itself.
        **({"nodeId": services.node_id} if services.node_id is not None else {}),
        "checks": checks,
    }
    return web.Response(
        text=json.dumps(body), status=503 if overall == "fail" else 200, content_type=HEALTH_JSON
    )


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition, `pantau_` prefix, base units."""
    await _admin_only(request)
    payload = generate_latest(request.app[REGISTRY])
    return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})
