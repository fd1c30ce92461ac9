"""What operators send to the desk, validated strictly: unknown keys, wrong types and oversized text
are refused with the field named, before anything is stored."""

from __future__ import annotations

from datetime import datetime
from pydantic import Field, field_validator

from core.forms import Form


#: Longest list a form may carry (cameras of a check or patrol): a room has hundreds, not millions.
MAX_ITEMS = 5000


class CameraTick(Form):
    """One camera of a check: the operator's tick and remark."""

    camera: str = Field(min_length=1, max_length=64)
    ok: bool
    remark: str = ""
    snapshot: str | None = Field(None, max_length=512, description="A reference to a snapshot taken, if any.")


class EquipmentTick(Form):
    """One item of equipment in a check."""

    id: str = Field(min_length=1, max_length=64)
    ok: bool
    remark: str = ""


class CheckForm(Form):
    """POST /api/v1/checks."""

    cameras: list[CameraTick] = Field(default_factory=list, max_length=MAX_ITEMS)
    equipment: list[EquipmentTick] = Field(default_factory=list, max_length=MAX_ITEMS)
    notes: str = ""

    @field_validator("cameras")
    @classmethod
    def _unique_cameras(cls, v: list[CameraTick]) -> list[CameraTick]:
        _unique([c.camera for c in v], "camera")
        return v

    @field_validator("equipment")
    @classmethod
    def _unique_items(cls, v: list[EquipmentTick]) -> list[EquipmentTick]:
        _unique([e.id for e in v], "equipment item")
        return v


class PatrolStop(Form):
    """One camera of a patrol: how long it was actually shown, and what the operator did."""

    camera: str = Field(min_length=1, max_length=64)
    shown_s: float = Field(ge=0, le=7 * 86400)
    acknowledged: bool = False
    skipped: bool = False
    report: str = ""


class PatrolForm(Form):
    """POST /api/v1/patrols."""

    group: str = Field("", max_length=64)
    started_at: datetime
    ended_at: datetime
    cameras: list[PatrolStop] = Field(min_length=1, max_length=MAX_ITEMS)

    @field_validator("started_at", "ended_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("needs a time zone (RFC 3339, e.g. 2026-03-09T14:00:00Z)")
        return v

    @field_validator("cameras")
    @classmethod
    def _unique_stops(cls, v: list[PatrolStop]) -> list[PatrolStop]:
        _unique([c.camera for c in v], "camera")
        return v


class HandoverForm(Form):
    """POST /api/v1/handovers."""

    notes: str = ""


class ShiftClosure(Form):
    """POST /api/v1/shifts/{id}/closure: why someone else closes the shift."""

    reason: str = Field(min_length=1, max_length=2000)
    notes: str = ""


class AcceptanceForm(Form):
    """POST /api/v1/handovers/{id}/acceptance."""

    objections: str = ""


class AmendmentForm(Form):
    """POST /api/v1/handovers/{id}/amendments."""

    text: str = Field(min_length=1)


def _unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} {value!r} is listed twice")
        seen.add(value)
