"""Request bodies as strict pydantic models: unknown keys, wrong types and oversized text are refused
with the field named (400), before anything is stored."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from core.errors import BadRequest

_M = TypeVar("_M", bound=BaseModel)


class Form(BaseModel):
    """Base of every request body model."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def parse(model: type[_M], body: dict[str, Any]) -> _M:
    """`body` as `model`; 400 naming the first bad field."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest(f"{where}: {first['msg']}") from exc


def check_length(text: str, limit: int, where: str) -> None:
    """400 when `text` is longer than the configured `limit`."""
    if len(text) > limit:
        raise BadRequest(f"{where}: {len(text)} characters; at most {limit} (see the config's *_max_chars)")
