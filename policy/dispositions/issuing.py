"""An issued disposition: the claims and rows written when the last approval issues it, and how
it reads back (views of each camera, copies)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Base
from policy.dispositions.forms import DispositionInfo
from policy.dispositions.models import Disposition, DispositionView, PlaybackRequest
from policy.dispositions.tokens import DispositionClaims


def copies_granted(asked: int, approvals_copies: Collection[bool]) -> int:
    """The copies a token allows: what the request asked for, if every approval counted for the
    token approved the copies too (each approver ticks it separately); else none (replay only)."""
    return asked if asked > 0 and approvals_copies and all(approvals_copies) else 0


def claims_for(
    request: PlaybackRequest, approvers: tuple[str, ...], copies: int, now: datetime
) -> DispositionClaims:
    """The claims of the token an approved request issues."""
    issued = now.replace(microsecond=0)  # JWT times are whole seconds
    return DispositionClaims(
        token_id="dsp_" + uuid.uuid4().hex, request_id=request.id, grantee=request.party_name,
        organisation=request.party_organisation, cameras=tuple(request.cameras.split(",")),
        start=request.window_start, end=request.window_end, purpose=request.purpose,
        letter_sha256=request.letter_sha256, approvers=approvers, issued_at=issued, not_before=issued,
        expires=issued + timedelta(days=request.valid_days), max_views=request.max_views, copies=copies,
    )


def issued_rows(claims: DispositionClaims, key_id: str) -> list[Base]:
    """The disposition and one view counter per camera (used whichever way views are counted, so
    switching `views_per` later finds them)."""
    rows: list[Base] = [
        Disposition(
            token_id=claims.token_id, request_id=claims.request_id, key_id=key_id,
            claims=json.dumps(claims.payload()), max_views=claims.max_views, views_used=0,
            copies=claims.copies, copies_used=0, issued_at=claims.issued_at, not_before=claims.not_before,
            expires_at=claims.expires, revoke_reason="",
        )
    ]
    rows += [DispositionView(token_id=claims.token_id, camera=camera, used=0) for camera in claims.cameras]
    return rows


async def camera_views(session: AsyncSession, token_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Views used of each camera, by token id."""
    found: dict[str, dict[str, int]] = {t: {} for t in token_ids}
    if token_ids:
        rows = await session.execute(
            select(DispositionView.token_id, DispositionView.camera, DispositionView.used)
            .where(DispositionView.token_id.in_(token_ids))
        )
        for token_id, camera, used in rows:
            found[token_id][camera] = used
    return found


def disposition_info(
    row: Disposition, views: dict[str, int], views_per: str, token: str | None = None
) -> DispositionInfo:
    """A disposition row as the API shows it."""
    claims = DispositionClaims.from_payload(json.loads(row.claims))
    return DispositionInfo(
        claims=claims, key_id=row.key_id, views_used=row.views_used, revoked_at=row.revoked_at,
        revoked_by=row.revoked_by, revoke_reason=row.revoke_reason, last_view_at=row.last_view_at, token=token,
        copies_used=row.copies_used, views_per=views_per,
        camera_views={camera: views.get(camera, 0) for camera in claims.cameras},
    )
