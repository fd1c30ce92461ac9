"""The `desk:` section (the shift desk: shifts, checks, patrols, handovers, printed reports) and the
desk's roles under `access.desk`."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from core.configbase import Strict
from core.roles import Role

ITEM_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
HOST_PORT = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(?P<port>[0-9]{1,5})$")
HOST = re.compile(r"^[A-Za-z0-9.:-]{1,253}$")
DeskRole = Role
EquipmentKind = Literal[
    "server", "workstation", "network", "video_wall", "telephone", "ups", "radio", "printer", "camera", "other"
]
Language = Literal["id", "en"]


class ShiftSlot(Strict):
    """One shift of the schedule: its name, local start time and length."""

    name: str = Field(min_length=1, max_length=64, description="Shown on the wall and printed, e.g. 'Pagi' or 'Shift 1'.")
    start: time = Field(description="Local start time, HH:MM (desk.timezone).")
    hours: float = Field(8.0, gt=0, le=24, description="Length of the shift in hours.")


class Probe(Strict):
    """How an item of equipment is checked automatically; set exactly one of them."""

    tcp: str | None = Field(None, description="host:port that must accept a TCP connection.")
    icmp: str | None = Field(None, description="Host that must answer a ping (the system's ping command).")
    disk: bool = Field(False, description="Pantau's own recording disk: writable and above the free-space floor.")
    database: bool = Field(False, description="Pantau's own database answers a query.")

    @field_validator("tcp")
    @classmethod
    def _host_port(cls, v: str | None) -> str | None:
        if v is not None:
            match = HOST_PORT.fullmatch(v)
            if match is None or not 0 < int(match["port"]) < 65536:
                raise ValueError("write host:port, e.g. 10.0.0.5:554 or [fd00::5]:554")
        return v

    @field_validator("icmp")
    @classmethod
    def _host(cls, v: str | None) -> str | None:
        if v is not None and (not HOST.fullmatch(v) or v.startswith("-")):
            raise ValueError("write a host name or address")
        return v

    @model_validator(mode="after")
    def _exactly_one(self) -> Probe:
        chosen = [self.tcp is not None, self.icmp is not None, self.disk, self.database]
        if sum(chosen) != 1:
            raise ValueError("set exactly one of tcp, icmp, disk, database")
        return self


class EquipmentItem(Strict):
    """One item of the room's equipment (SOP: servers, computers, network, telephone, video wall)."""

    id: str = Field(description="[a-z0-9-], unique; used in checks.")
    name: str = Field(min_length=1, max_length=128, description="What the checklist prints.")
    kind: EquipmentKind = Field("other", description="server, workstation, network, video_wall, telephone, ups, ...")
    probe: Probe | None = Field(None, description="Automatic check; none: the operator's tick alone.")

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not ITEM_ID.fullmatch(v):
            raise ValueError("must be 1-64 of [a-z0-9-], not starting or ending with '-'")
        return v


class DeskConfig(Strict):
    """The shift desk: the room's name on paper, the shift schedule, patrols and the equipment list."""

    room_name: str = Field(
        "Ruang Kendali CCTV", min_length=1, max_length=200, description="Printed at the top of every report."
    )
    room_subtitle: str = Field("", max_length=200, description="Second heading line, e.g. the office's name.")
    logo: Path | None = Field(None, description="PNG or JPEG printed beside the room's name.")
    language: Language = Field("id", description="Default language of printed reports (id or en).")
    timezone: str = Field("Asia/Jakarta", description="IANA time zone of the room: shift times and printed times.")
    shifts: list[ShiftSlot] = Field(
        default_factory=lambda: [
            ShiftSlot(name="Pagi", start=time(7, 0), hours=8),
            ShiftSlot(name="Siang", start=time(15, 0), hours=8),
            ShiftSlot(name="Malam", start=time(23, 0), hours=8),
        ],
        description="The shift schedule; empty: shifts are ad hoc (opened and closed when people say).",
    )
    early_arrival_min: float = Field(
        30, ge=0, le=240, description="A shift may be opened this long before its start (SOP step 1)."
    )
    patrol_interval_min: float = Field(
        120, ge=1, le=24 * 60, description="A patrol is due this often during an open shift; one missed raises patrol.missed."
    )
    remark_max_chars: int = Field(1000, ge=10, le=100_000, description="Longest remark on one camera or item.")
    notes_max_chars: int = Field(20_000, ge=100, le=1_000_000, description="Longest free text of a handover or check.")
    probe_timeout_s: float = Field(3.0, gt=0, le=60, description="Timeout of one equipment probe.")
    equipment: list[EquipmentItem] = Field(default_factory=list, description="The room's equipment besides cameras.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @field_validator("equipment")
    @classmethod
    def _unique(cls, items: list[EquipmentItem]) -> list[EquipmentItem]:
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                raise ValueError(f"equipment id {item.id!r} is used twice")
            seen.add(item.id)
        return items

    @property
    def zone(self) -> ZoneInfo:
        """The room's time zone."""
        return ZoneInfo(self.timezone)


class DeskRules(Strict):
    """Who does what at the shift desk (policy/decision.py R13-R16)."""

    file_roles: list[DeskRole] = Field(
        default=["operator", "supervisor"],
        description="Roles that open shifts, save checks and patrols, file and countersign handovers; they read "
        "their own records and every handover.",
    )
    reader_roles: list[DeskRole] = Field(
        default=["supervisor", "admin", "auditor"], description="Roles that read every shift record."
    )
    close_roles: list[DeskRole] = Field(
        default=["supervisor", "admin"],
        description="Roles that close another operator's abandoned shift, filing its handover on their behalf.",
    )
    duty_roles: list[DeskRole] = Field(
        default=["viewer", "operator", "supervisor", "admin", "auditor"],
        description="Roles that see who is on duty (the wall shows it).",
    )
