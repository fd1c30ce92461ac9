"""The roles an account may have (every config that names roles takes these)."""

from __future__ import annotations

from typing import Literal

# `integrator`: another system (an NVR, a VMS, an analytics box) taking streams over RTSP and ONVIF;
# it sees no camera until `access.visibility` names it.
Role = Literal["viewer", "operator", "supervisor", "admin", "auditor", "integrator"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "supervisor", "admin", "auditor", "integrator")
#: The roles of people (every role but integrator): the defaults that give "everyone" mean these.
PEOPLE: tuple[Role, ...] = tuple(r for r in ROLES if r != "integrator")
