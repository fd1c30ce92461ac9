"""The base of every config section, and the sections several packages share."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Base of every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BackoffConfig(Strict):
    initial_s: float = Field(1.0, gt=0, le=60, description="First retry delay.")
    max_s: float = Field(30.0, gt=0, le=3600, description="Cap on the retry delay.")
    multiplier: float = Field(2.0, ge=1, le=10, description="Growth per failed attempt.")
    jitter: float = Field(0.2, ge=0, le=1, description="Random +-fraction added to each delay.")
