"""JSON shapes of cameras for the API and health documents (no secrets, ever)."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from datetime import datetime
from typing import Any

from core.utctime import format_utc_or_none
from streams.camera import Camera
from streams.feed import Feed
from streams.state import CameraState


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC, or None (JSON's null)."""
    return format_utc_or_none(value)


def camera_summary(camera: Camera, now_monotonic: float) -> dict[str, Any]:
    """A camera as listed by GET /api/v1/cameras."""
    status = camera.status
    stats = dataclasses.asdict(camera.stats.snapshot(now_monotonic))
    return {
        "id": camera.config.id,
        "name": camera.config.name or camera.config.id,
        "groups": list(camera.config.groups),
        "state": status.state.value,
        "reason": status.reason,
        "since": iso(status.since),
        "attempt": status.attempt,
        "next_retry_at": iso(status.next_retry_at),
        "problems": list(status.problems),
        "stats": stats,
        "substream": camera.sub is not None,
        "streams": {feed.name.value: stream_summary(feed, now_monotonic) for feed in camera.feeds},
    }


def stream_summary(feed: Feed, now_monotonic: float) -> dict[str, Any]:
    """One of a camera's streams as the wall needs it: whether it delivers, its codec and size."""
    snap = feed.stats.snapshot(now_monotonic)
    video = feed.video
    return {
        "up": feed.up,
        "codec": video.codec if video is not None else None,
        "width": video.width if video is not None else None,
        "height": video.height if video is not None else None,
        "fps": round(snap.fps, 2),
        "bitrate_bps": round(snap.bitrate_bps),
        **({} if feed.up or not feed.reason else {"reason": feed.reason}),
    }


def camera_detail(camera: Camera, now_monotonic: float, configured: Collection[str]) -> dict[str, Any]:
    """One camera with its source (credentials removed), health checks and viewers;
    `configured`: the ids of the config file's cameras (the others were added through the API)."""
    body = camera_summary(camera, now_monotonic)
    cfg = camera.config
    body.update(
        {
            "source": cfg.display_source,
            "substream_source": cfg.display_substream,
            "record_streams": cfg.record_streams,
            "transport": cfg.transport,
            "enabled": cfg.enabled,
            "record": cfg.record,
            "origin": "config" if cfg.id in configured else "api",
            "subscribers": camera.hub.subscriber_count,
            "checks": health_checks(camera, now_monotonic),
        }
    )
    return body


CHECK_STATUS = {
    CameraState.ONLINE: "pass",
    CameraState.DEGRADED: "warn",
    CameraState.CONNECTING: "warn",
    CameraState.OFFLINE: "fail",
    CameraState.DISABLED: "pass",
    # Ingested by another node (several nodes): that node's /health checks it.
    CameraState.REMOTE: "pass",
}


def health_checks(camera: Camera, now_monotonic: float) -> list[dict[str, Any]]:
    """health+json check objects for one camera, each naming its measurement (`state`,
    `lastPacketAge`, one per problem)."""
    status = camera.status
    stats = camera.stats.snapshot(now_monotonic)
    base = {"componentId": camera.config.id, "componentType": "camera", "time": iso(status.since)}
    checks: list[dict[str, Any]] = [
        {
            **base,
            "measurementName": "state",
            "status": CHECK_STATUS[status.state],
            "observedValue": status.state.value,
            **({"output": status.reason} if status.reason else {}),
        },
        {
            **base,
            "measurementName": "lastPacketAge",
            "status": CHECK_STATUS[status.state],
            "observedValue": stats.last_packet_age_s,
            "observedUnit": "s",
        },
    ]
    for problem in status.problems:
        checks.append({**base, "measurementName": problem, "status": "warn", "output": problem})
    return checks
