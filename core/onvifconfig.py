"""The ONVIF client side's config: devices (discovery, onvif:// sources, their clocks and snapshots)
and their events (sections `onvif` and `events`)."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from core.configbase import Strict


class OnvifConfig(Strict):
    """ONVIF devices: discovery, onvif:// sources, their clocks and snapshots (onvif_adapters/)."""

    timeout_s: float = Field(10.0, gt=0, le=120, description="Timeout of one ONVIF (SOAP) request.")
    discovery_timeout_s: float = Field(
        3.0, gt=0, le=60, description="How long discovery listens for answers when the caller does not say."
    )
    discovery_interface: str | None = Field(
        None, description="IPv4 address of the interface discovery probes go out of; default: the system's choice."
    )
    clock_check_interval_s: float = Field(
        600.0, ge=10, le=86400, description="How often an onvif:// camera's clock is read (also on every connect)."
    )
    clock_drift_limit_s: float = Field(
        5.0, gt=0, le=86400, description="Camera clock further than this from ours is a health warning."
    )
    snapshot_timeout_s: float = Field(5.0, gt=0, le=60, description="Timeout of fetching the camera's snapshot URI.")
    snapshot_max_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024, description="Largest snapshot accepted from a camera."
    )
    credential_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts besides a camera's own address that may receive its credentials (an NVR whose stream "
                    "URIs name other hosts). Others never do: a stream URI naming another host is opened at the "
                    "camera's address, a snapshot URI there is not fetched, service addresses are pinned.",
    )

    @field_validator("discovery_interface")
    @classmethod
    def _ipv4(cls, v: str | None) -> str | None:
        if v is not None:
            ipaddress.IPv4Address(v)
        return v


class EventsConfig(Strict):
    """ONVIF camera events: PullPoint subscriptions, the recent-events buffer, live streams (camera_events/service.py)."""

    enabled: bool = Field(True, description="Subscribe to the events of every onvif:// camera that has an event service.")
    recent: int = Field(1000, ge=10, le=1_000_000, description="Events kept in memory (what the list shows when store is false).")
    store: bool = Field(True, description="Keep events in the database (table camera_events) so the list survives a restart.")
    keep_days: float = Field(90.0, gt=0, le=3650, description="Stored events older than this are deleted.")
    subscription_s: float = Field(
        120.0, ge=1, le=86400, description="Subscription lifetime asked of the camera; renewed at 80 % of it."
    )
    pull_timeout_s: float = Field(5.0, ge=1, le=60, description="Longest PullMessages long poll.")
    retry_initial_s: float = Field(1.0, gt=0, le=60, description="First wait before resubscribing after a loss.")
    retry_max_s: float = Field(60.0, gt=0, le=3600, description="Cap on the wait before resubscribing.")
    listener_queue: int = Field(
        256, ge=8, le=100_000, description="Events buffered per live stream (SSE) client before its oldest are dropped."
    )
