"""The `access:` section: who may do what, the rules policy/decision.py applies (deny by default),
with the disposition workflow's rules and the rooms' role lists (desk, cases, exports, links)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from core.casesconfig import CaseRules
from core.configbase import Strict
from core.deskconfig import DeskRules
from core.exportconfig import ExportRules, LinkRules

from core.roles import PEOPLE, ROLES, Role

__all__ = ["ROLES", "Role"]


class ReplayRule(Strict):
    """What one role may replay (or export) without a disposition."""

    groups: list[str] = Field(default_factory=lambda: ["*"], description='Camera groups ("*" = every camera).')
    max_age_h: float | None = Field(
        None, gt=0, le=24 * 3650, description="How far back the window may start, in hours; null = no limit."
    )
    max_rate: float = Field(8.0, gt=0, le=64, description="Fastest playback speed (1.0 = real time).")
    watermark: bool = Field(False, description="Show the viewer's name over the picture (the player overlays it; passthrough "
                             "never burns one in, and an export with it is refused).")
    audio: bool = Field(True, description="Serve the recorded sound (false: video only).")


def _default_playback() -> dict[Role, ReplayRule]:
    return {
        "operator": ReplayRule(max_age_h=24),
        "supervisor": ReplayRule(max_age_h=24 * 30),
        "admin": ReplayRule(max_age_h=24 * 30),
    }


class DispositionRules(Strict):
    """The playback request -> approval -> disposition token workflow (SOP step 9)."""

    approvals_required: int = Field(1, ge=1, le=10, description="Distinct approvals that issue a token.")
    requester_roles: list[Role] = Field(
        default=["operator", "supervisor"], description="Roles that may file requests."
    )
    approver_roles: list[Role] = Field(
        default=["supervisor"], description="Roles that may approve or refuse (management)."
    )
    revoker_roles: list[Role] = Field(
        default=["supervisor", "admin"], description="Roles that may revoke a token."
    )
    reader_roles: list[Role] = Field(
        default=["operator", "supervisor", "admin", "auditor"],
        description="Roles that may read requests, letters and dispositions.",
    )
    required_groups: list[str] = Field(
        default_factory=list,
        description="Camera groups whose recordings nobody replays or exports without a disposition.",
    )
    default_max_views: int = Field(3, ge=1, le=1000, description="Views a token allows unless the request says.")
    max_views_limit: int = Field(20, ge=1, le=1000, description="Most views a request may ask for.")
    default_valid_days: int = Field(7, ge=1, le=365, description="Token lifetime unless the request says.")
    max_valid_days: int = Field(30, ge=1, le=365, description="Longest token lifetime a request may ask for.")
    views_per: Literal["camera", "total"] = Field(
        "camera", description="max_views counts per camera (each camera may be played max_views times) "
        "or in total over the token's cameras."
    )
    max_copies_limit: int = Field(
        5, ge=0, le=100, description="Most copies (export downloads) a request may ask for; 0 disables copies."
    )
    max_window_h: float = Field(24.0, gt=0, le=24 * 366, description="Longest time window one request may cover.")
    max_rate: float = Field(1.0, gt=0, le=64, description="Fastest playback speed for a token holder.")
    view_time_factor: float = Field(
        3.0, ge=1, le=100, description="One view of a token lasts at most this many times its window in wall time "
        "(pauses included), and at least view_time_min_s: seeking back cannot stretch one view without end.",
    )
    view_time_min_s: float = Field(300.0, ge=1, le=86400, description="The shortest a token's view may last.")
    watermark: bool = Field(True, description="Show the grantee and token id over the picture (the player overlays it; "
                             "passthrough never burns one in).")
    audio: bool = Field(True, description="Serve the recorded sound to token holders (false: video only).")
    letter_max_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024, description="Largest scanned letter (PDF, JPEG, PNG)."
    )
    key_path: Path | None = Field(
        None,
        description="Ed25519 token signing key (PEM); default data_dir/keys/disposition-token.pem, "
        "created on first start with its public key beside it (.pub.pem).",
    )

    @model_validator(mode="after")
    def _defaults_within_limits(self) -> DispositionRules:
        if self.default_max_views > self.max_views_limit:
            raise ValueError("default_max_views is above max_views_limit")
        if self.default_valid_days > self.max_valid_days:
            raise ValueError("default_valid_days is above max_valid_days")
        return self


class HoldRules(Strict):
    """Evidence holds: who lists, places and releases them. Each also needs the role to see the
    hold's camera (`visibility`); a camera no longer configured is seen by "*" only."""

    read_roles: list[Role] = Field(default=["supervisor", "admin"], description="Roles that may list holds.")
    place_roles: list[Role] = Field(
        default=["supervisor", "admin"], description="Roles that may place a hold on a camera's recordings."
    )
    release_roles: list[Role] = Field(
        default=["supervisor", "admin"], description="Roles that may release a hold (recorded with who and why)."
    )


class BookmarkRules(Strict):
    """Bookmarks on recordings (a moment or a range with a note): who places and reads them. Each also
    needs the role to see the bookmark's camera (`visibility`)."""

    place_roles: list[Role] = Field(
        default=["operator", "supervisor", "admin"], description="Roles that may place a bookmark."
    )
    read_roles: list[Role] = Field(
        default=["operator", "supervisor", "admin", "auditor"],
        description="Roles that may read bookmarks (the shift page and the handover show them).",
    )


class AccessConfig(Strict):
    """Who may do what: the rules the decision function (policy/decision.py) applies; deny by default."""

    visibility: dict[Role, list[str]] = Field(
        default_factory=lambda: {r: ["*"] for r in PEOPLE},
        description="Role -> camera groups it may see (live, detail, recordings, replay, export); a role left out "
                    "sees nothing (by default: integrator).",
    )
    playback: dict[Role, ReplayRule] = Field(
        default_factory=_default_playback,
        description="Role -> internal replay without a disposition; a role left out needs one.",
    )
    export: dict[Role, ReplayRule] = Field(
        default={"supervisor": ReplayRule(max_age_h=24 * 30)},
        description="Role -> downloading recordings without a disposition. An export is an untouched "
        "copy whose SHA-256 goes into the access log; a rule with watermark: true refuses exports "
        "(burning a name in needs transcoding, which Pantau never does).",
    )
    live_audio: list[Role] = Field(
        default_factory=lambda: list(ROLES),
        description="Roles that hear a camera's sound live; the others get video only.",
    )
    ptz: dict[Role, list[str]] = Field(
        default={"operator": ["*"], "supervisor": ["*"], "admin": ["*"]},
        description="Role -> camera groups whose PTZ it may move.",
    )
    audit_roles: list[Role] = Field(
        default=["auditor", "admin"], description="Roles that may read the access log."
    )
    admin_roles: list[Role] = Field(
        default=["admin"], description="Roles that may manage users and read health."
    )
    gateway_alert_roles: list[Role] = Field(
        default=["operator", "supervisor", "admin", "auditor"],
        description="Roles that receive alerts about the gateway itself (storage, access log, sign-in bursts); "
        "camera alerts follow camera visibility.",
    )
    end_session_roles: list[Role] = Field(
        default=["admin"],
        description="Roles that may end another viewer's WHEP session (live or playback); anyone ends their own.",
    )
    retention_approver_roles: list[Role] = Field(
        default=["supervisor"],
        description="Roles that approve or reject a shortening of a camera's retention asked through the API "
        "(a second person: never the one who asked); lengthening takes effect at once.",
    )
    holds: HoldRules = Field(default_factory=HoldRules)
    bookmarks: BookmarkRules = Field(default_factory=BookmarkRules)
    desk: DeskRules = Field(default_factory=DeskRules)
    cases: CaseRules = Field(default_factory=CaseRules)
    exports: ExportRules = Field(default_factory=ExportRules)
    links: LinkRules = Field(default_factory=LinkRules)
    disposition: DispositionRules = Field(default_factory=DispositionRules)
