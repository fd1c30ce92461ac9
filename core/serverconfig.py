"""The `server:` section: the HTTP listener (address, port, TLS, proxies, CORS, allowed host names, public URL) and the
worker processes that share its port (`workers`, `worker_port_base`)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from core.configbase import Strict

#: A DNS name: labels of letters, digits and hyphens (not at either end), joined by dots.
_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")


class ServerConfig(Strict):
    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port; 0 picks a free one.")
    admin_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Client addresses that may read /health and /metrics without a token.",
    )
    shutdown_timeout_s: float = Field(4.0, gt=0, le=60, description="Grace period on SIGTERM.")
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port]) whose pages may call the API and WHEP, e.g. a video "
        "wall served elsewhere; \"*\" for any. Empty: same origin only.",
    )

    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) of the reverse proxies in front of the gateway. A request whose "
        "TCP peer is one of them has its client address taken from X-Forwarded-For (the rightmost untrusted entry); "
        "from any other peer the header is ignored. Empty: trust nobody, the TCP peer is the client.",
    )
    proxy_header: Literal["x-forwarded-for", "forwarded"] = Field(
        "x-forwarded-for",
        description="Which header the trusted proxies name the client in: X-Forwarded-For, or Forwarded (RFC 7239: "
        "for= with an IPv4 or quoted [IPv6] address, optionally with a port; unknown and obfuscated nodes are "
        "refused; the client's proto= becomes the request's scheme). Only this one is read.",
    )
    tls_cert: Path | None = Field(
        None,
        description="PEM certificate (chain) file: the HTTP server speaks HTTPS (TLS 1.2 or later) with it and "
        "tls_key. Unset (both): plain HTTP.",
    )
    tls_key: Path | None = Field(None, description="PEM private key file of tls_cert (unencrypted).")

    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names the gateway answers for besides IP addresses, localhost, this machine's name and "
        "the hosts of public_url and cluster.advertise_url: names (cctv.example), suffixes (.city.example: it and "
        "every name under it), or \"*\" (no check). A request for another name is refused with 421 (DNS "
        "rebinding protection).",
    )
    public_url: str | None = Field(
        None,
        description="The gateway's origin as its users reach it (scheme://host[:port], e.g. https://cctv.example): "
        "the base of absolute URLs it hands out (/list, signed links). Unset: /list answers relative URLs; "
        "the request's Host header is never used there.",
    )

    workers: int | Literal["auto"] = Field(
        "auto",
        description="Worker processes behind the one HTTP port (`pantau serve --workers N` overrides it). "
        "\"auto\": one per CPU core when the database is PostgreSQL and cluster is on, 1 on SQLite; more than "
        "1 needs PostgreSQL (each worker is a node holding its own camera leases).",
    )
    worker_port_base: int | None = Field(
        None, ge=1, le=65535,
        description="With several workers, worker K also listens on this port + K (its own URL, to which a "
        "request about a camera it records is redirected). Unset: a free port each.",
    )

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        for origin in v:
            if origin != "*":
                _origin(origin)
        return v

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        for entry in v:
            name = entry.strip().rstrip(".")
            if name != "*" and not _HOST_NAME.fullmatch(name.removeprefix(".")):
                raise ValueError(f"{entry!r} is not a host name, a .suffix or \"*\" (e.g. cctv.example, .city.example)")
        return v

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str | None) -> str | None:
        return _origin(v) if v is not None else None

    @field_validator("workers")
    @classmethod
    def _workers(cls, v: int | str) -> int | str:
        if isinstance(v, int) and not 1 <= v <= 256:
            raise ValueError(f"server.workers must be \"auto\" or 1-256, not {v}")
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: list[str]) -> list[str]:
        for entry in v:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/24)") from None
        return v

    @field_validator("tls_cert", "tls_key")
    @classmethod
    def _readable(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        if v is None:
            return v
        try:
            with open(v, "rb"):
                pass
        except OSError as exc:
            raise ValueError(f"server.{info.field_name} {str(v)!r} cannot be read: {exc.strerror}") from None
        return v

    @model_validator(mode="after")
    def _tls_pair(self) -> ServerConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            given, missing = ("tls_cert", "tls_key") if self.tls_key is None else ("tls_key", "tls_cert")
            raise ValueError(f"server.{given} is set but server.{missing} is not: HTTPS needs both")
        return self


def _origin(origin: str) -> str:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query \
            or parts.username or origin.endswith("/"):
        raise ValueError(f"{origin!r} is not an origin; write scheme://host[:port], e.g. https://wall.example")
    return origin
