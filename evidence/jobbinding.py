"""On whose authority a job's copy is made, read back from the disposition workflow's tables when
the job runs (after a restart too): the grantee and organisation of a token job, or the signed-in
user; the request, its letter's SHA-256 and its approvers when a request is named."""

from __future__ import annotations

import json
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from evidence.jobwriter import Binding
from evidence.models import ExportJob
from policy.dispositions.models import Approval, Disposition, PlaybackRequest, Verdict
from policy.dispositions.tokens import DispositionClaims


async def binding_of(db: async_sessionmaker[AsyncSession], job: ExportJob) -> Binding:
    """The job's binding; a request or token that no longer exists binds what the row says."""
    base = Binding(job.requested_by, job.via, role=job.requester_role, client=job.client or None,
                   request_id=job.request_id, token_id=job.token_id, case_id=job.case_id or "", job_id=job.id)
    async with db() as session:
        if job.token_id is not None:
            row = await session.get(Disposition, job.token_id)
            if row is not None:
                claims = DispositionClaims.from_payload(json.loads(row.claims))
                return replace(base, organisation=claims.organisation, request_id=claims.request_id,
                               letter_sha256=claims.letter_sha256, approvers=claims.approvers)
        if job.request_id is None:
            return base
        request = await session.get(PlaybackRequest, job.request_id)
        if request is None:
            return base
        approvers = (await session.scalars(select(Approval.approver).where(
            Approval.request_id == request.id, Approval.verdict == Verdict.APPROVE.value).order_by(Approval.at))).all()
        token_id = await session.scalar(select(Disposition.token_id).where(Disposition.request_id == request.id))
    return replace(base, request_id=request.id, letter_sha256=request.letter_sha256, approvers=tuple(approvers),
                   token_id=base.token_id or token_id)
