"""The `webrtc:` section: how WHEP peers reach the gateway (ICE servers, addresses) and how many
sessions and transcodes it serves at once."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator, model_validator

from core.configbase import Strict

ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


class IceServer(Strict):
    """One STUN or TURN server (RTCIceServer): used by the gateway's own peers and handed to
    viewers (the pages' RTCPeerConnection, and WHEP `Link: rel="ice-server"` headers)."""

    urls: list[str] = Field(min_length=1, description="stun:host:port, turn:host:port?transport=udp|tcp, turns:...")
    username: str | None = Field(None, description="TURN user name.")
    credential: str | None = Field(None, description="TURN password.")

    @field_validator("urls")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(ICE_SCHEMES):
                raise ValueError(f"{url!r} is not a stun:, stuns:, turn: or turns: URL")
        return urls

    @model_validator(mode="after")
    def _turn_credentials(self) -> IceServer:
        turn = any(u.startswith(("turn:", "turns:")) for u in self.urls)
        if turn and (self.username is None or self.credential is None):
            raise ValueError("a TURN server needs username and credential")
        return self


class WebRtcConfig(Strict):
    """WebRTC (WHEP) networking and limits."""

    ice_servers: list[IceServer] = Field(
        default_factory=list,
        description="STUN/TURN servers for walls in other VLANs and remote viewers; empty: host "
        "candidates only (a closed network needs nothing more).",
    )
    additional_hosts: list[str] = Field(
        default_factory=list,
        description="Extra addresses offered as host candidates (NAT 1:1: the public address a "
        "router forwards to this machine), with the ports of the local candidates.",
    )
    interfaces: list[str] = Field(
        default_factory=list,
        description="Local IP addresses whose candidates are offered; empty: every interface.",
    )
    allowed_networks: list[str] = Field(
        default_factory=list,
        description="Networks (CIDR) or addresses a viewer's ICE candidates may be in; the gateway never checks "
        "one elsewhere (nor one named by mDNS). Empty: any address.",
    )
    max_remote_candidates: int = Field(
        32, ge=1, le=1000,
        description="Remote ICE candidates one session keeps (offer and trickled together); later ones are dropped.",
    )
    max_sessions: int = Field(200, ge=1, le=100_000, description="WHEP sessions (live and playback) at once; 503 beyond.")
    max_sessions_per_user: int = Field(
        32, ge=1, le=10_000, description="WHEP sessions one user (or one disposition token) holds at once; 503 beyond."
    )
    max_transcodes: int = Field(
        2, ge=0, le=64,
        description="Cameras transcoded to H.264 for the wall at once (cameras with transcode: true); 0 disables.",
    )
    transcode_width: int = Field(640, ge=160, le=1920, description="Width of a transcoded wall stream (height keeps the aspect).")

    @field_validator("additional_hosts", "interfaces")
    @classmethod
    def _addresses(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise ValueError(f"{host!r} is not an IP address") from None
        return hosts

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, networks: list[str]) -> list[str]:
        for network in networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not an IP network (e.g. 10.20.0.0/16) or address") from None
        return networks
