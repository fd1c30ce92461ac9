"""What a caller sends to POST /api/v1/exports, validated whole before anything is used or stored
(core/forms.py: unknown keys, wrong types and bad values are a 400 naming the field)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from core.config import CAMERA_ID
from core.forms import Form
from core.utctime import RFC3339_HINT, parse_rfc3339

MAX_CAMERAS = 32
MAX_REASON = 2000
CameraId = Annotated[str, StringConstraints(pattern=CAMERA_ID.pattern, max_length=64)]
# A case or request id: letters, digits and . _ : / - (at most 40).
Reference = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:/\-]{1,40}$")]
Format = Literal["bundle", "mp4"]


def _bundle_only() -> list[Format]:
    return ["bundle"]


class ExportForm(Form):
    """A job's order. A signed-in caller names cameras, start and end and gives a reason; a
    disposition holder may leave them out (the token's cameras and window, the request's purpose)."""

    cameras: list[CameraId] | None = Field(None, min_length=1, max_length=MAX_CAMERAS)
    start: datetime | None = None
    end: datetime | None = None
    reason: str = Field("", max_length=MAX_REASON)
    formats: list[Format] = Field(default_factory=_bundle_only, min_length=1, max_length=2)
    request_id: Reference | None = None
    case_id: Reference | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def _rfc3339(cls, v: object) -> object:
        # Text with a zone only: pydantic alone would also take a number as a Unix time, or a naive time.
        if v is None:
            return v
        if not isinstance(v, str):
            raise ValueError(f"must be {RFC3339_HINT}")
        return parse_rfc3339(v)

    @field_validator("request_id", "case_id", mode="before")
    @classmethod
    def _blank_is_none(cls, v: object) -> object:
        return None if v == "" else v

    @model_validator(mode="after")
    def _window(self) -> ExportForm:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    @property
    def camera_ids(self) -> tuple[str, ...]:
        """The cameras named, each once, in order."""
        return tuple(dict.fromkeys(self.cameras or ()))

    @property
    def format_set(self) -> tuple[str, ...]:
        """The formats asked for, each once, in the writer's order."""
        return tuple(f for f in ("bundle", "mp4") if f in self.formats)
