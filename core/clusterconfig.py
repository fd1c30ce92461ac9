"""The `cluster:` section: this process as one node of several on one PostgreSQL database (its id,
the URL others reach it at, how many cameras it takes) and the timing of its heartbeat and leases."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from core.configbase import Strict

NODE_ID_MAX = 128
CAPACITY_MAX = 10_000


class ClusterConfig(Strict):
    """Several `pantau serve` nodes on one PostgreSQL: registry, heartbeats, camera leases."""

    enabled: bool | None = Field(
        None,
        description="Register this process as a node and heartbeat; default: true when database.url is "
        "PostgreSQL, false on SQLite (where true is an error: SQLite serves one process).",
    )
    node_id: str | None = Field(
        None, min_length=1, max_length=NODE_ID_MAX,
        description="This node's unique name; default: the host name, ':' and the HTTP port it listens on.",
    )
    advertise_url: str | None = Field(
        None, description="http(s):// URL other nodes and operators reach this node at; default: "
        "http://HOST NAME:PORT.",
    )
    capacity: int = Field(
        CAPACITY_MAX, ge=1, le=CAPACITY_MAX,
        description="Cameras this node may hold leases on; default: no practical cap (set it to what this "
        "machine can record, so a full node leaves the rest to others).",
    )
    lease_s: float = Field(
        10.0, ge=2, le=300,
        description="A camera lease (and a node's heartbeat) not renewed for this long is free for another node; "
        "a failed node's cameras move after at most this long.",
    )
    renew_s: float = Field(
        3.0, gt=0, le=150, description="Heartbeat and lease renewal period; must be below lease_s / 2, so one "
        "late renewal does not lose a lease.",
    )

    @field_validator("advertise_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None:
            parts = urlsplit(v)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{v!r} is not an http:// or https:// URL with a host")
        return v

    @model_validator(mode="after")
    def _timing(self) -> ClusterConfig:
        if self.renew_s >= self.lease_s / 2:
            raise ValueError(
                f"renew_s ({self.renew_s:g}) must be below lease_s / 2 ({self.lease_s / 2:g}): "
                "a lease must survive one missed renewal"
            )
        return self

    def node_id_for(self, host_name: str, port: int) -> str:
        """The configured node id, or HOST NAME:PORT of the port the gateway listens on."""
        return self.node_id or f"{host_name}:{port}"

    def advertise_url_for(self, host_name: str, port: int) -> str:
        """The configured URL, or http://HOST NAME:PORT."""
        return self.advertise_url or f"http://{host_name}:{port}"
