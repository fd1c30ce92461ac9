"""Config of the addresses cameras may be onboarded at through the API (section `onboarding`)."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from core.configbase import Strict


class OnboardingConfig(Strict):
    """Where cameras added or changed through the API (and ONVIF discovery targets) may be (core/destinations.py)."""

    allowed_networks: list[str] = Field(
        default_factory=list,
        description="Networks (CIDR) a camera's address must lie in when it is added or changed through the API, "
        "or probed by discovery; host names must resolve inside them. Empty: any address but link-local (cloud "
        "metadata), unspecified, multicast, broadcast and reserved ones, which are always refused.",
    )
    resolve_timeout_s: float = Field(
        3.0, gt=0, le=30, description="How long a camera's host name may take to resolve when it is checked."
    )

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for entry in v:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not a network (e.g. 192.168.10.0/24)") from None
        return v

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """The allowed networks, parsed."""
        return [ipaddress.ip_network(entry, strict=False) for entry in self.allowed_networks]
