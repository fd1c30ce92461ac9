"""The live stream: `GET /api/v1/events/stream`, server-sent events for the wall and dashboards.

Two event types, each only for cameras the caller may see:
- `event: camera-event`, data `{camera, kind, active, at, topic}`: ONVIF events as they come
  (`?camera=`, `?kind=` narrow them);
- `event: alert` with `id: SEQ`, data the alert's JSON (alerts/model.py): every alert the caller
  may receive (gateway/http/alerts.py; `?kinds=` narrows them). A client that reconnects sends
  `Last-Event-ID` (browsers do so by themselves) and first gets the alerts it missed, from the
  outbox (kept `alerts.keep_h`), then the live ones, none twice;
- `event: export`, data the export job's JSON (gateway/http/exports.py): on every change of state of
  a job the caller may read (read_exports), and about once a second while it runs.
A comment line every KEEPALIVE_S keeps proxies from closing the connection; the stream ends when
the client goes away, its sign-in ends, or the gateway stops.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from alerts.model import Alert
from alerts.outbox import Outbox
from gateway.http.alerts import alert_filter
from gateway.http.appkeys import SERVICES
from gateway.http.auth import sign_in_watch
from gateway.http.camera_events import event_json, event_kind, visible_cameras
from gateway.http.exports import job_json, job_reader
from evidence.models import ExportJob
from onvif_adapters.subscription import CameraEvent
from onvif_adapters.topics import EventKind

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
KEEPALIVE_S = 15.0
# At most this many missed alerts are replayed to a reconnecting client (then it goes on live).
MAX_REPLAY = 5000
KEEPALIVE: Any = object()  # no item within KEEPALIVE_S


def _last_event_id(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None  # not one of ours (a browser keeps whatever it saw last): start live
    return int(raw)


def _frame(kind: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()


@routes.get("/api/v1/events/stream")
async def stream_events(request: web.Request) -> web.StreamResponse:
    """Server-sent camera events and alerts of the cameras the caller may see."""
    services = request.app[SERVICES]
    visible = visible_cameras(request)
    camera = request.query.get("camera")
    kind = event_kind(request.query.get("kind"))
    wanted = (visible & {camera}) if camera is not None else visible
    wants_alert = alert_filter(request)
    resume_after = _last_event_id(request)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    still_signed_in = sign_in_watch(request)
    await response.prepare(request)
    # Bytes are on their way now: failures from here on are logged and end the stream
    # instead of becoming a problem+json answer.
    # Small: a client that reads slowly leaves the items in its listeners' bounded queues, which
    # drop their oldest, instead of here.
    merged: asyncio.Queue[CameraEvent | Alert | ExportJob | None] = asyncio.Queue(64)
    with services.events.listen(lambda camera_id: camera_id in wanted) as events, \
            services.alerts.listen(wants_alert) as alerts, services.exports.hub.listen(job_reader(request)) as jobs:
        async with asyncio.TaskGroup() as tasks:
            pumps = [tasks.create_task(_pump(events.queue, merged)), tasks.create_task(_pump(alerts.queue, merged)),
                     tasks.create_task(_pump(jobs.queue, merged))]
            try:
                await response.write(b": pantau events\n\n")
                sent = 0
                if resume_after is not None:
                    sent = await _replay(response, services.alerts.outbox, resume_after, wants_alert)
                await _live(response, merged, sent, kind, still_signed_in, services.clock.now)
            except (ConnectionResetError, ConnectionError):
                log.debug("events stream: client went away")
            finally:
                for pump in pumps:
                    pump.cancel()
    return response


async def _pump(source: asyncio.Queue[Any], merged: asyncio.Queue[CameraEvent | Alert | ExportJob | None]) -> None:
    """Move one listener's items into the stream's queue (None, the gateway stopping, too)."""
    while True:
        await merged.put(await source.get())


async def _replay(response: web.StreamResponse, outbox: Outbox, after: int, wants: Callable[[Alert], bool]) -> int:
    """The alerts after `after` this client missed; returns the last seq sent (or `after`)."""
    sent, last = 0, after
    while sent < MAX_REPLAY:
        batch = await outbox.after(last, 500)
        if not batch:
            break
        for alert in batch:
            last = alert.seq
            if wants(alert):
                await response.write(_frame("alert", alert.as_json(), alert.seq))
                sent += 1
    return last


async def _live(
    response: web.StreamResponse,
    merged: asyncio.Queue[CameraEvent | Alert | ExportJob | None],
    sent: int,
    kind: EventKind | None,
    still_signed_in: Callable[[], Awaitable[str | None]] | None,
    now: Callable[[], datetime],
) -> None:
    """Live items until the client, its sign-in or the gateway goes; alerts at or below `sent`
    (already replayed) are skipped."""
    loop = asyncio.get_running_loop()
    checked = loop.time()
    while True:
        item: CameraEvent | Alert | ExportJob | None
        try:
            async with asyncio.timeout(KEEPALIVE_S):
                item = await merged.get()
        except TimeoutError:
            await response.write(b": keepalive\n\n")
            item = KEEPALIVE
        if still_signed_in is not None and loop.time() - checked >= KEEPALIVE_S:
            # The stream outlives its request: it ends once the caller's sign-in does.
            checked = loop.time()
            if await still_signed_in() is not None:
                return
        if item is KEEPALIVE:
            continue
        if item is None:
            return  # the gateway is stopping
        if isinstance(item, ExportJob):
            await response.write(_frame("export", job_json(item, now())))
        elif isinstance(item, Alert):
            if item.seq > sent:
                sent = item.seq
                await response.write(_frame("alert", item.as_json(), item.seq))
        elif kind is None or item.kind is kind:
            await response.write(_frame("camera-event", event_json(item)))
