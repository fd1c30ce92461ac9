"""The rules for evidence export jobs (`access.exports`) and signed links (`access.links`)."""

from __future__ import annotations


from pydantic import Field, model_validator

from core.configbase import Strict
from core.roles import Role

ExportRole = Role


class ExportRules(Strict):
    """Who sees and cancels export jobs; who may export at all is `access.export` (per role and camera)."""

    reader_roles: list[ExportRole] = Field(
        default=["supervisor", "admin", "auditor"],
        description="Roles that see every export job; anyone who may export sees their own.",
    )
    cancel_roles: list[ExportRole] = Field(
        default=["supervisor", "admin"], description="Roles that may cancel another's export job; anyone cancels their own."
    )


class LinkRules(Strict):
    """Short-lived signed URLs for /get and export downloads (players that send no Authorization header)."""

    default_ttl_s: int = Field(300, ge=10, le=86400, description="Lifetime of a link unless the request says.")
    max_ttl_s: int = Field(3600, ge=10, le=7 * 86400, description="Longest lifetime a link may ask for.")

    @model_validator(mode="after")
    def _default_within_limit(self) -> LinkRules:
        if self.default_ttl_s > self.max_ttl_s:
            raise ValueError("default_ttl_s is above max_ttl_s")
        return self
