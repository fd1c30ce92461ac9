"""The disposition workflow: file a request, approve or refuse, issue, redeem and revoke tokens.

Every step asks `policy.decision.decide` and records an AccessEvent, allowed or not.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.config import AccessConfig
from core.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, UnsupportedMediaType
from policy.dispositions import letters, tokens
from policy.decision import Action, Context, Decision, Reason, Resource, Subject, decide
from policy.dispositions.models import Approval, Disposition, Letter, PlaybackRequest, RequestStatus, Verdict
from policy.audit.entries import AccessAction, AccessEvent, AccessRecorder
from policy.dispositions.tokenkeys import key_id
from policy.dispositions.issuing import camera_views, claims_for, copies_granted, disposition_info, issued_rows
from policy.dispositions.tokens import DispositionClaims
from policy.dispositions.forms import NOTE_LIMIT, DispositionInfo, RequestForm, RequestInfo, ApprovalInfo, check_form
from policy.dispositions.redeem import Redemption, TokenRedeemer
from policy.identity.users import Principal

log = logging.getLogger(__name__)

# Decision reasons that mean "your input is wrong" rather than "you may not".
INPUT_REASONS = frozenset(
    {Reason.NO_CAMERA, Reason.NO_WINDOW, Reason.BAD_WINDOW, Reason.FUTURE_WINDOW, Reason.WINDOW_TOO_LONG}
)


@dataclass
class _Actor:
    who: Principal
    client: str
    subject: Subject = field(init=False)

    def __post_init__(self) -> None:
        self.subject = Subject(self.who.username, self.who.role)


class DispositionService:
    """The workflow over the database; one per process, safe to run in many processes at once."""

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        rules: AccessConfig,
        signing_key: Ed25519PrivateKey,
        recorder: AccessRecorder,
        data_dir: Path,
        camera_groups: Mapping[str, Collection[str]],
    ) -> None:
        self._db = db
        self._clock = clock
        self._rules = rules
        self._key = signing_key
        self._key_id = key_id(signing_key.public_key())
        self._recorder = recorder
        self._data_dir = data_dir
        self._cameras = {cam: frozenset(groups) for cam, groups in camera_groups.items()}
        self.redeemer = TokenRedeemer(db, clock, rules, signing_key.public_key(), recorder, self._cameras)

    def add_camera(self, camera: str, groups: list[str]) -> None:
        """Know a camera added while running, so requests for it can be filed."""
        self._cameras[camera] = frozenset(groups)

    @property
    def letter_max_bytes(self) -> int:
        """Largest letter accepted."""
        return self._rules.disposition.letter_max_bytes

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The key that verifies every token this service issues."""
        return self._key.public_key()

    # -- deciding and recording ------------------------------------------------------------

    async def _record(self, event: AccessEvent) -> None:
        await self._recorder.record(event)

    async def _require(self, actor: _Actor, action: Action, resource: Resource, **event: object) -> Decision:
        """Decide; a deny is logged (a `decision` entry, as guard.authorize logs the routes' refusals)
        and raised (400 for bad input, 403 otherwise)."""
        decision = decide(self._rules, actor.subject, action, resource, Context(self._clock.now(), actor.client))
        if not decision.allowed:
            await self._record(
                AccessEvent(
                    AccessAction.DECISION, actor=actor.who.username, role=actor.who.role, client=actor.client,
                    camera=resource.camera, start=resource.start, end=resource.end, outcome="deny",
                    reason=decision.text, details={"action": action.value}, **event,  # type: ignore[arg-type]
                )
            )
            error = BadRequest if decision.reason in INPUT_REASONS else Forbidden
            raise error(decision.detail or decision.reason.value)
        return decision

    # -- requests -------------------------------------------------------------------------

    async def admit_filer(self, who: Principal, client: str = "") -> None:
        """Whether `who` may file requests at all, decided (and a refusal logged, 403) before the
        form and its letter are read; each camera is decided again in `file_request`."""
        await self._require(_Actor(who, client), Action.FILE_REQUEST, Resource())

    async def file_request(self, who: Principal, form: RequestForm, letter: bytes, client: str = "") -> RequestInfo:
        """Record a request for an outside party with its scanned letter; pending until decided."""
        actor = _Actor(who, client)
        d = self._rules.disposition
        check_form(form, d.max_copies_limit)
        max_views = form.max_views if form.max_views is not None else d.default_max_views
        valid_days = form.valid_days if form.valid_days is not None else d.default_valid_days
        if not 1 <= max_views <= d.max_views_limit:
            raise BadRequest(f"max_views must be 1-{d.max_views_limit}")
        if not 1 <= valid_days <= d.max_valid_days:
            raise BadRequest(f"valid_days must be 1-{d.max_valid_days}")
        for camera in form.cameras:
            if camera not in self._cameras:
                raise BadRequest(f"no camera {camera!r}")
            await self._require(
                actor, Action.FILE_REQUEST,
                Resource(camera, self._cameras[camera], form.start, form.end),
            )
        if len(letter) > d.letter_max_bytes:
            raise PayloadTooLarge(f"the letter may have at most {d.letter_max_bytes} bytes")
        kind = letters.sniff(letter)
        if kind is None:
            raise UnsupportedMediaType("the letter must be a PDF, JPEG or PNG scan")
        content_type, ext = kind
        sha256, relative = await asyncio.to_thread(letters.store, self._data_dir, letter, ext)
        now = self._clock.now()
        async with self._db() as session, session.begin():
            if await session.get(Letter, sha256) is None:
                session.add(Letter(sha256=sha256, content_type=content_type, size=len(letter), path=relative,
                                   uploaded_by=who.username, uploaded_at=now))
        # The letter row is committed on its own: two requests citing the same letter at once
        # may both try to add it, and the loser simply finds it there.
        request = PlaybackRequest(
            id="req_" + uuid.uuid4().hex, requester=who.username, requester_id=who.user_id,
            party_name=form.party_name, party_organisation=form.party_organisation, purpose=form.purpose,
            letter_number=form.letter_number, letter_date=form.letter_date, letter_sha256=sha256,
            cameras=",".join(form.cameras), window_start=form.start, window_end=form.end,
            max_views=max_views, valid_days=valid_days, copies=form.copies, status=RequestStatus.PENDING.value,
            created_at=now, updated_at=now,
        )
        async with self._db() as session, session.begin():
            session.add(request)
        await self._record(
            AccessEvent(
                AccessAction.REQUEST_FILED, actor=who.username, role=who.role, client=client,
                start=form.start, end=form.end, request_id=request.id, outcome="ok",
                details={"party": form.party_name, "organisation": form.party_organisation,
                         "letter_number": form.letter_number, "letter_sha256": sha256,
                         "cameras": ",".join(form.cameras), "copies": form.copies},
            )
        )
        log.info("playback request %s filed by %s for %s", request.id, who.username, form.party_organisation)
        return await self._request_info(request.id)

    async def list_requests(
        self, who: Principal, client: str = "", status: RequestStatus | None = None, limit: int = 100
    ) -> list[RequestInfo]:
        """Requests, newest first; the listing is a `requests_listed` entry (the parties and purposes
        it shows are personal data)."""
        await self._require(_Actor(who, client), Action.READ_REQUESTS, Resource())
        query = select(PlaybackRequest.id).order_by(PlaybackRequest.created_at.desc()).limit(limit)
        if status is not None:
            query = query.where(PlaybackRequest.status == status.value)
        async with self._db() as session:
            ids = list((await session.scalars(query)).all())
        await self._record(
            AccessEvent(AccessAction.REQUESTS_LISTED, actor=who.username, role=who.role, client=client, outcome="ok",
                        details={"what": "requests", "status": status.value if status else "any", "count": len(ids)})
        )
        return [await self._request_info(i) for i in ids]

    async def get_request(self, who: Principal, request_id: str, client: str = "") -> RequestInfo:
        """One request with its verdicts."""
        await self._require(_Actor(who, client), Action.READ_REQUESTS, Resource())
        return await self._request_info(request_id)

    async def letter(self, who: Principal, request_id: str, client: str = "") -> tuple[Path, str, str]:
        """(file, content type, sha256) of a request's letter; each read is a `letter_read` entry."""
        await self._require(_Actor(who, client), Action.READ_REQUESTS, Resource(), request_id=request_id)
        async with self._db() as session:
            row = (
                await session.execute(
                    select(Letter).join(PlaybackRequest, PlaybackRequest.letter_sha256 == Letter.sha256)
                    .where(PlaybackRequest.id == request_id)
                )
            ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"no playback request {request_id!r}")
        await self._record(
            AccessEvent(AccessAction.LETTER_READ, actor=who.username, role=who.role, client=client,
                        request_id=request_id, outcome="ok", details={"letter_sha256": row.sha256})
        )
        return self._data_dir / row.path, row.content_type, row.sha256

    async def _request_info(self, request_id: str) -> RequestInfo:
        async with self._db() as session:
            found = (
                await session.execute(
                    select(PlaybackRequest, Letter)
                    .join(Letter, Letter.sha256 == PlaybackRequest.letter_sha256)
                    .where(PlaybackRequest.id == request_id)
                )
            ).first()
            if found is None:
                raise NotFound(f"no playback request {request_id!r}")
            verdicts = (
                await session.scalars(select(Approval).where(Approval.request_id == request_id).order_by(Approval.id))
            ).all()
            token_id = await session.scalar(select(Disposition.token_id).where(Disposition.request_id == request_id))
        req, letter = found
        return RequestInfo(
            id=req.id, status=req.status, requester=req.requester, party_name=req.party_name,
            party_organisation=req.party_organisation, purpose=req.purpose, letter_number=req.letter_number,
            letter_date=req.letter_date, letter_sha256=req.letter_sha256, letter_content_type=letter.content_type,
            letter_size=letter.size, cameras=tuple(req.cameras.split(",")), start=req.window_start,
            end=req.window_end, max_views=req.max_views, valid_days=req.valid_days, created_at=req.created_at,
            updated_at=req.updated_at, approvals_required=self._rules.disposition.approvals_required,
            approvals=tuple(ApprovalInfo(v.approver, v.verdict, v.note, v.at, v.copies_approved) for v in verdicts),
            token_id=token_id, copies=req.copies,
        )

    # -- verdicts ---------------------------------------------------------------------------

    async def approve(
        self, who: Principal, request_id: str, note: str = "", client: str = "", copies: bool = False
    ) -> tuple[RequestInfo, str | None]:
        """Add an approval, with or without the copies the request asks for (`copies`); the N-th
        distinct one issues the token, returned with the request. The token allows the copies only
        when every approval counted for it approved them too."""
        token_id = await self._verdict(who, request_id, Verdict.APPROVE, note, client, copies)
        info = await self._request_info(request_id)
        token = await self._token_of(token_id) if token_id is not None else None
        return info, token

    async def refuse(self, who: Principal, request_id: str, note: str, client: str = "") -> RequestInfo:
        """Refuse a request: it ends there, whatever approvals it had."""
        if not note.strip():
            raise BadRequest("a refusal needs a note saying why")
        await self._verdict(who, request_id, Verdict.REFUSE, note, client)
        return await self._request_info(request_id)

    async def _verdict(
        self, who: Principal, request_id: str, verdict: Verdict, note: str, client: str, copies: bool = False
    ) -> str | None:
        if len(note) > NOTE_LIMIT:
            raise BadRequest(f"note is longer than {NOTE_LIMIT} characters")
        actor = _Actor(who, client)
        async with self._db() as session:
            owner = await session.scalar(select(PlaybackRequest.requester).where(PlaybackRequest.id == request_id))
        if owner is None:
            raise NotFound(f"no playback request {request_id!r}")
        action = Action.APPROVE if verdict is Verdict.APPROVE else Action.REFUSE
        logged_as = AccessAction.REQUEST_APPROVED if verdict is Verdict.APPROVE else AccessAction.REQUEST_REFUSED
        await self._require(actor, action, Resource(owner=owner), request_id=request_id)
        now = self._clock.now()
        issued: DispositionClaims | None = None
        async with self._db() as session, session.begin():
            # Writing the row first takes its lock (PostgreSQL) or the database's write lock
            # (SQLite), so concurrent verdicts on one request are serialised and counted once.
            locked = await session.execute(
                update(PlaybackRequest)
                .where(PlaybackRequest.id == request_id, PlaybackRequest.status == RequestStatus.PENDING.value)
                .values(updated_at=now)
            )
            if locked.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict(f"request {request_id} is decided already")
            mine = await session.scalar(
                select(Approval.id).where(Approval.request_id == request_id, Approval.approver_id == who.user_id)
            )
            if mine is not None:
                raise Conflict("you have given your verdict on this request already")
            request = await session.get(PlaybackRequest, request_id)
            assert request is not None
            asked = request.copies
            copies = copies and verdict is Verdict.APPROVE and asked > 0  # nothing to approve otherwise
            session.add(Approval(request_id=request_id, approver=who.username, approver_id=who.user_id,
                                 verdict=verdict.value, note=note, copies_approved=copies, at=now))
            await session.flush()
            if verdict is Verdict.REFUSE:
                request.status = RequestStatus.REFUSED.value
            else:
                approvals = (
                    await session.execute(
                        select(Approval.approver, Approval.copies_approved)
                        .where(Approval.request_id == request_id, Approval.verdict == Verdict.APPROVE.value)
                        .order_by(Approval.id)
                    )
                ).all()
                if len(approvals) >= self._rules.disposition.approvals_required:
                    request.status = RequestStatus.APPROVED.value
                    granted = copies_granted(asked, [c for _, c in approvals])
                    issued = claims_for(request, tuple(a for a, _ in approvals), granted, now)
                    session.add_all(issued_rows(issued, self._key_id))
        await self._record(
            AccessEvent(logged_as, actor=who.username, role=who.role, client=client, request_id=request_id,
                        outcome="ok", reason=note[:200], details={"copies_asked": asked, "copies_approved": copies})
        )
        if issued is not None:
            await self._record(
                AccessEvent(
                    AccessAction.TOKEN_ISSUED, actor=who.username, role=who.role, client=client,
                    request_id=request_id, token_id=issued.token_id, start=issued.start, end=issued.end,
                    details={"grantee": issued.grantee, "cameras": ",".join(issued.cameras),
                             "max_views": issued.max_views, "views_per": self._rules.disposition.views_per,
                             "copies": issued.copies, "approvers": ",".join(issued.approvers),
                             "expires": issued.expires.isoformat()},
                )
            )
            log.info("disposition %s issued for request %s", issued.token_id, request_id)
        return issued.token_id if issued is not None else None

    # -- dispositions ---------------------------------------------------------------------

    async def _token_of(self, token_id: str) -> str:
        async with self._db() as session:
            row = await session.get(Disposition, token_id)
        assert row is not None
        # Ed25519 is deterministic: signing the stored claims again yields the issued token.
        return tokens.sign(DispositionClaims.from_payload(json.loads(row.claims)), self._key)

    async def _infos(self, rows: Sequence[Disposition], token: str | None = None) -> list[DispositionInfo]:
        async with self._db() as session:
            views = await camera_views(session, [r.token_id for r in rows])
        views_per = self._rules.disposition.views_per
        return [disposition_info(r, views[r.token_id], views_per, token) for r in rows]

    async def list_dispositions(self, who: Principal, client: str = "", limit: int = 100) -> list[DispositionInfo]:
        """Issued tokens, newest first (without the tokens themselves); a `requests_listed` entry."""
        await self._require(_Actor(who, client), Action.READ_REQUESTS, Resource())
        async with self._db() as session:
            rows = (await session.scalars(select(Disposition).order_by(Disposition.issued_at.desc()).limit(limit))).all()
        await self._record(
            AccessEvent(AccessAction.REQUESTS_LISTED, actor=who.username, role=who.role, client=client, outcome="ok",
                        details={"what": "dispositions", "count": len(rows)})
        )
        return await self._infos(rows)

    async def get_disposition(self, who: Principal, token_id: str, client: str = "") -> DispositionInfo:
        """One disposition; the token too when the caller is one of the approvers who issued it or
        filed the request (policy rule R6), and then each reveal is a `token_revealed` entry."""
        actor = _Actor(who, client)
        await self._require(actor, Action.READ_REQUESTS, Resource(), token_id=token_id)
        async with self._db() as session:
            found = (
                await session.execute(
                    select(Disposition, PlaybackRequest.requester)
                    .join(PlaybackRequest, PlaybackRequest.id == Disposition.request_id)
                    .where(Disposition.token_id == token_id)
                )
            ).first()
        if found is None:
            raise NotFound(f"no disposition {token_id!r}")
        row, requester = found
        claims = DispositionClaims.from_payload(json.loads(row.claims))
        may_read = decide(
            self._rules, actor.subject, Action.READ_TOKEN,
            Resource(owner=requester, approvers=frozenset(claims.approvers)), Context(self._clock.now(), client),
        )
        token = None
        if may_read.allowed:
            token = tokens.sign(claims, self._key)
            await self._record(
                AccessEvent(AccessAction.TOKEN_REVEALED, actor=who.username, role=who.role, client=client,
                            token_id=token_id, request_id=row.request_id, outcome="allow",
                            reason=may_read.text, details={"grantee": claims.grantee})
            )
        return (await self._infos([row], token))[0]

    async def revoke(self, who: Principal, token_id: str, reason: str, client: str = "") -> DispositionInfo:
        """Revoke a token: the next use of it is refused, in every process."""
        if not reason.strip():
            raise BadRequest("a revocation needs a reason")
        if len(reason) > NOTE_LIMIT:
            raise BadRequest(f"reason is longer than {NOTE_LIMIT} characters")
        await self._require(_Actor(who, client), Action.REVOKE, Resource(), token_id=token_id)
        now = self._clock.now()
        async with self._db() as session, session.begin():
            done = await session.execute(
                update(Disposition)
                .where(Disposition.token_id == token_id, Disposition.revoked_at.is_(None))
                .values(revoked_at=now, revoked_by=who.username, revoke_reason=reason)
            )
            row = await session.get(Disposition, token_id)
        if row is None:
            raise NotFound(f"no disposition {token_id!r}")
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"disposition {token_id} is revoked already")
        await self._record(
            AccessEvent(AccessAction.TOKEN_REVOKED, actor=who.username, role=who.role, client=client,
                        token_id=token_id, request_id=row.request_id, reason=reason[:200])
        )
        log.info("disposition %s revoked by %s", token_id, who.username)
        return (await self._infos([row]))[0]

    async def revocation(self, token_id: str) -> str | None:
        """Why a token was revoked, or None while it stands. Read from the database each time, so a
        session in any process sees a revocation made in any other (playback asks every second)."""
        async with self._db() as session:
            row = await session.get(Disposition, token_id)
        if row is None:
            return "the disposition no longer exists"
        if row.revoked_at is None:
            return None
        return f"the disposition was revoked by {row.revoked_by}: {row.revoke_reason}"

    # -- redeeming ------------------------------------------------------------------------

    async def redeem(
        self,
        token: str,
        action: Action,
        camera: str,
        start: datetime | None,
        end: datetime | None,
        client: str = "",
        count_view: bool = True,
        clip: bool = False,
    ) -> Redemption:
        """See TokenRedeemer.redeem: a playback uses one view, a listing (`clip`) is clipped to the
        token's window; refusals are logged and raised (403)."""
        return await self.redeemer.redeem(token, action, camera, start, end, client, count_view, clip)

    async def redeem_copy(
        self,
        token: str,
        cameras: Sequence[str],
        start: datetime | None,
        end: datetime | None,
        client: str = "",
        keeps_audio: bool = False,
    ) -> Redemption:
        """See TokenRedeemer.redeem_copy: one copy of these cameras and window (None: the token's
        whole window) is used atomically; refusals are logged and raised (403)."""
        return await self.redeemer.redeem_copy(token, cameras, start, end, client, keeps_audio)

    async def check_token(self, token: str, client: str = "") -> DispositionClaims:
        """See TokenRedeemer.check_token: the token stands (signature, exists, not revoked, in its
        validity); uses nothing. Refusals are logged and raised (403)."""
        return await self.redeemer.check_token(token, client)

    async def check(
        self, who: Principal, token: str, camera: str, start: datetime, end: datetime, client: str = ""
    ) -> Redemption:
        """For staff: would `token` play this camera and range now? Uses no view; refusals are logged."""
        await self._require(_Actor(who, client), Action.READ_REQUESTS, Resource())
        return await self.redeemer.redeem(token, Action.PLAYBACK, camera, start, end, client, count_view=False)
