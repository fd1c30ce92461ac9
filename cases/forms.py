"""What people send about cases, validated whole before anything is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from core.casesconfig import Channel
from core.forms import Form

Severity = Literal["low", "medium", "high", "critical"]
ForwardChannel = Literal["phone", "radio", "email", "letter", "in_person", "message", "other"]


def _aware(v: datetime | None) -> datetime | None:
    if v is not None and v.tzinfo is None:
        raise ValueError("needs a time zone (RFC 3339, e.g. 2026-03-09T14:00:00Z)")
    return v


class Reporter(Form):
    """A complainant: as little as the follow-up needs (UU PDP 27/2022)."""

    name: str = Field("", max_length=200)
    contact: str = Field("", max_length=200)


class OpenCase(Form):
    """POST /api/v1/cases."""

    kind: Literal["incident", "complaint", "emergency"]
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    severity: Severity = "medium"
    at: datetime | None = Field(None, description="When it happened; default: now.")
    cameras: list[str] = Field(default_factory=list, max_length=64)
    # complaints
    channel: Channel | None = None
    category: str | None = Field(None, max_length=64)
    location: str = Field("", max_length=500)
    reporter: Reporter | None = None
    window_start: datetime | None = Field(None, description="A complaint's time window to hold, if any.")
    window_end: datetime | None = None
    # emergencies opened by hand
    playbook: str | None = Field(None, max_length=64)
    snapshot: bool = Field(False, description="Take each camera's picture now (server-side) and keep it with the case.")

    _at = field_validator("at", "window_start", "window_end")(classmethod(lambda cls, v: _aware(v)))

    @field_validator("cameras")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(v) != len(set(v)):
            raise ValueError("a camera is listed twice")
        return v

    @model_validator(mode="after")
    def _by_kind(self) -> OpenCase:
        if self.kind == "complaint" and self.channel is None:
            raise ValueError("a complaint needs its channel (phone, walk_in, message, social_media, radio, other)")
        if self.kind == "emergency" and self.playbook is None:
            raise ValueError("an emergency needs its playbook")
        if self.kind != "complaint" and (self.reporter is not None or self.channel is not None):
            raise ValueError("reporter and channel belong to complaints")
        if (self.window_start is None) != (self.window_end is None):
            raise ValueError("give both window_start and window_end, or neither")
        if self.window_start is not None and self.window_end is not None and self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        return self


class Note(Form):
    """An acknowledgement or a checked-off step: an optional note."""

    note: str = ""


class Forward(Form):
    """POST /api/v1/cases/{id}/forwards: to a directory contact, or to someone named."""

    to: str | None = Field(None, max_length=64, description="A cases.directory contact id.")
    name: str = Field("", max_length=200, description="Whom, when not in the directory.")
    channel: ForwardChannel
    at: datetime | None = None
    note: str = ""

    _at = field_validator("at")(classmethod(lambda cls, v: _aware(v)))

    @model_validator(mode="after")
    def _whom(self) -> Forward:
        if (self.to is None) == (not self.name):
            raise ValueError("give either to (a directory contact) or name")
        return self


class FollowUp(Form):
    """POST /api/v1/cases/{id}/follow-ups."""

    action: str = Field(min_length=1)
    at: datetime | None = None

    _at = field_validator("at")(classmethod(lambda cls, v: _aware(v)))


class Resolution(Form):
    """POST /api/v1/cases/{id}/resolution."""

    outcome: str = Field(min_length=1)


class Closure(Form):
    """POST /api/v1/cases/{id}/closure: what the berita acara adds (parties present, conclusion)."""

    parties: list[str] = Field(default_factory=list, max_length=20)
    conclusion: str = ""
    language: Literal["id", "en"] = "id"


class Amendment(Form):
    """POST /api/v1/cases/{id}/amendments."""

    text: str = Field(min_length=1)
