"""The disposition workflow over a real database (SQLite and PostgreSQL), logging to the real access log."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import ManualClock
from core.config import AccessConfig
from core.db import make_engine, make_sessionmaker
from core.errors import BadRequest, Conflict, Forbidden
from policy.dispositions import tokens
from policy.audit.accesslog import AccessLog
from policy.decision import Action, Reason
from policy.dispositions.models import Disposition
from core.errors import UnsupportedMediaType
from policy.dispositions.forms import RequestForm
from policy.dispositions.redeem import clipped
from policy.dispositions.workflow import DispositionService
from policy.audit.entries import AccessAction, AccessEvent
from policy.audit.signingkey import signer
from policy.audit.reader import iter_entries
from policy.dispositions.tokens import DispositionClaims, TokenRejected
from policy.identity.users import Principal, UserStore

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
PDF = b"%PDF-1.4\n% letter from Polres\n" + bytes(range(256)) * 4
CAMERAS = {"gate-north": ["gates"], "lobby": ["indoor"], "yard": ["outdoor"]}


@dataclass
class Tee:
    """The real access log, plus the events in memory so tests can read reasons directly."""

    log: AccessLog
    events: list[AccessEvent] = field(default_factory=list)

    async def record(self, event: AccessEvent) -> None:
        await self.log.record(event)
        self.events.append(event)

    def denies(self) -> list[AccessEvent]:
        return [e for e in self.events if e.outcome == "deny"]


@dataclass
class World:
    engine: AsyncEngine
    clock: ManualClock
    key: Ed25519PrivateKey
    recorder: Tee
    tmp: Path
    url: str
    operator: Principal
    sup1: Principal
    sup2: Principal
    sup_requester: Principal
    viewer: Principal

    def service(self, rules: AccessConfig | None = None, clock: ManualClock | None = None,
                engine: AsyncEngine | None = None) -> DispositionService:
        return DispositionService(
            make_sessionmaker(engine or self.engine), clock or self.clock, rules or AccessConfig(), self.key,
            self.recorder, self.tmp / "data", CAMERAS,
        )


@pytest.fixture
async def world(db_url: str, tmp_path: Path) -> AsyncIterator[World]:
    engine = make_engine(db_url)
    clock = ManualClock(T0)
    users = UserStore(make_sessionmaker(engine), clock)
    made = [await users.add(name, role, "password-123")
            for name, role in [("ops", "operator"), ("sup1", "supervisor"), ("sup2", "supervisor"),
                               ("sup3", "supervisor"), ("view", "viewer")]]
    log = AccessLog(engine, signer(Ed25519PrivateKey.generate(), "test/log"), origin="test/log", clock=clock)
    try:
        yield World(engine, clock, Ed25519PrivateKey.generate(), Tee(log), tmp_path, db_url, *made)
    finally:
        await engine.dispose()


def form(**changes: object) -> RequestForm:
    base: dict[str, object] = dict(
        party_name="Budi Santoso", party_organisation="Polres Kota", purpose="Investigation of a theft",
        letter_number="B/123/III/2026", letter_date=date(2026, 3, 9), cameras=("gate-north",),
        start=T0 - timedelta(hours=30), end=T0 - timedelta(hours=29), max_views=3,
    )
    base.update(changes)
    return RequestForm(**base)  # type: ignore[arg-type]


async def issued(world: World, svc: DispositionService, **changes: object) -> tuple[str, str]:
    """(request id, token) after one filing and one approval."""
    req = await svc.file_request(world.operator, form(**changes), PDF, "10.0.0.5")
    info, token = await svc.approve(world.sup1, req.id, "ok per letter", "10.0.0.6")
    assert token is not None and info.status == "approved"
    return req.id, token


async def test_file_approve_redeem_and_log(world: World) -> None:
    svc = world.service()
    req = await svc.file_request(world.operator, form(), PDF, "10.0.0.5")
    assert req.status == "pending" and req.letter_content_type == "application/pdf"
    path, ctype, sha = await svc.letter(world.sup1, req.id)
    assert path.read_bytes() == PDF and ctype == "application/pdf" and sha == req.letter_sha256
    assert path.stat().st_mode & 0o777 == 0o400
    info, token = await svc.approve(world.sup1, req.id, "granted", "10.0.0.6")
    assert token is not None and info.token_id is not None
    claims = tokens.verify(token, svc.public_key)  # offline: the public key is all it needs
    assert claims.cameras == ("gate-north",) and claims.approvers == ("sup1",)
    assert claims.letter_sha256 == req.letter_sha256 and claims.max_views == 3
    assert claims.grantee == "Budi Santoso" and claims.start == req.start and claims.end == req.end
    got = await svc.redeem(token, Action.PLAYBACK, "gate-north", req.start, req.end, "10.0.0.9")
    assert got.views_used == 1
    # The same token is handed out again (deterministic signature) to the requester.
    again = await svc.get_disposition(world.operator, info.token_id)
    assert again.token == token and again.views_used == 1
    assert (await svc.get_disposition(world.viewer.__class__(99, "aud", "auditor"), info.token_id)).token is None
    actions = [e.action for e in world.recorder.events if e.outcome != "deny"]
    for action in (AccessAction.REQUEST_FILED, AccessAction.REQUEST_APPROVED, AccessAction.TOKEN_ISSUED,
                   AccessAction.TOKEN_REDEEMED):
        assert action in actions
    async with world.engine.connect() as conn:
        payloads = [json.loads(e.payload) for e in [x async for x in iter_entries(conn)]]
    assert any(p.get("action") == "token_redeemed" and p.get("outcome") == "allow" for p in payloads)


async def test_requester_never_approves_own_request_and_n_distinct_approvals(world: World) -> None:
    svc = world.service(AccessConfig(disposition={"approvals_required": 2}))
    req = await svc.file_request(world.sup_requester, form(), PDF)
    with pytest.raises(Forbidden):
        await svc.approve(world.sup_requester, req.id)
    assert world.recorder.denies()[-1].reason.startswith(Reason.OWN_REQUEST.value)
    with pytest.raises(Forbidden):
        await svc.approve(world.operator, req.id)  # operators are not management
    info, token = await svc.approve(world.sup1, req.id)
    assert token is None and info.status == "pending"
    with pytest.raises(Conflict):
        await svc.approve(world.sup1, req.id)  # the same person twice counts once
    info, token = await svc.approve(world.sup2, req.id)
    assert token is not None and info.status == "approved"
    assert tokens.verify(token, svc.public_key).approvers == ("sup1", "sup2")
    with pytest.raises(Conflict):
        await svc.approve(world.operator.__class__(world.sup1.user_id, "sup1", "supervisor"), req.id)


async def test_a_refusal_ends_the_request(world: World) -> None:
    svc = world.service(AccessConfig(disposition={"approvals_required": 2}))
    req = await svc.file_request(world.operator, form(), PDF)
    await svc.approve(world.sup1, req.id)
    with pytest.raises(BadRequest):
        await svc.refuse(world.sup2, req.id, "  ")
    info = await svc.refuse(world.sup2, req.id, "letter is not signed")
    assert info.status == "refused" and info.token_id is None
    with pytest.raises(Conflict):
        await svc.approve(world.sup_requester, req.id)


async def test_bad_filings_are_refused(world: World) -> None:
    svc = world.service()
    with pytest.raises(Forbidden):
        await svc.file_request(world.viewer, form(), PDF)
    with pytest.raises(UnsupportedMediaType):
        await svc.file_request(world.operator, form(), b"MZ\x90\x00 not a letter")
    with pytest.raises(BadRequest):
        await svc.file_request(world.operator, form(cameras=("nope",)), PDF)
    with pytest.raises(BadRequest):  # a window in the future
        await svc.file_request(world.operator, form(end=T0 + timedelta(hours=1)), PDF)
    with pytest.raises(BadRequest):
        await svc.file_request(world.operator, form(max_views=1000), PDF)
    with pytest.raises(BadRequest):
        await svc.file_request(world.operator, form(party_name=" "), PDF)


async def test_max_views_under_100_concurrent_redeems_from_four_processes(world: World) -> None:
    svc = world.service()
    req_id, token = await issued(world, svc)
    claims = tokens.verify(token, svc.public_key)
    engines = [make_engine(world.url) for _ in range(4)]
    try:
        services = [world.service(engine=e) for e in engines]

        async def attempt(i: int) -> bool:
            try:
                await services[i % 4].redeem(token, Action.PLAYBACK, "gate-north", claims.start, claims.end, f"c{i}")
            except TokenRejected as exc:
                assert exc.reason is Reason.TOKEN_VIEWS_EXHAUSTED
                return False
            return True

        results = await asyncio.gather(*(attempt(i) for i in range(100)))
    finally:
        for e in engines:
            await e.dispose()
    assert sum(results) == 3
    async with world.engine.connect() as conn:
        used = await conn.scalar(select(Disposition.views_used).where(Disposition.request_id == req_id))
    assert used == 3
    assert len([e for e in world.recorder.events if e.action is AccessAction.TOKEN_REDEEMED]) == 100


def _flip(token: str, index: int) -> str:
    chars = list(token)
    chars[index] = "A" if chars[index] != "A" else "B"
    return "".join(chars)


async def test_every_bad_token_is_refused_and_logged(world: World) -> None:
    svc = world.service()
    _, token = await issued(world, svc, cameras=("gate-north", "lobby"))
    claims = tokens.verify(token, svc.public_key)
    start, end = claims.start, claims.end
    header, payload, signature = token.split(".")
    other_key = Ed25519PrivateKey.generate()
    forged_sig = base64.urlsafe_b64encode(bytes(64)).rstrip(b"=").decode()
    wider = DispositionClaims(**{**{f: getattr(claims, f) for f in claims.__slots__},  # type: ignore[attr-defined]
                                 "cameras": ("gate-north", "lobby", "x")})
    cases: list[tuple[str, str, Reason | set[Reason]]] = [
        ("other key", tokens.sign(claims, other_key), Reason.TOKEN_BAD_SIGNATURE),
        ("forged signature", f"{header}.{payload}.{forged_sig}", Reason.TOKEN_BAD_SIGNATURE),
        ("claims changed, old signature", f"{header}.{tokens.sign(wider, other_key).split('.')[1]}.{signature}",
         Reason.TOKEN_BAD_SIGNATURE),
        ("byte flipped in payload", _flip(token, len(header) + 10), {Reason.TOKEN_BAD_SIGNATURE, Reason.TOKEN_MALFORMED}),
        ("byte flipped in signature", _flip(token, len(token) - 5), Reason.TOKEN_BAD_SIGNATURE),
        ("byte flipped in header", _flip(token, 3), {Reason.TOKEN_BAD_SIGNATURE, Reason.TOKEN_MALFORMED}),
        ("garbage", "not-a-token", Reason.TOKEN_MALFORMED),
        ("alg none", "eyJhbGciOiJub25lIiwidHlwIjoiZGlzcG9zaXRpb24rand0In0." + payload + ".", Reason.TOKEN_MALFORMED),
    ]
    for name, bad, expected in cases:
        before = len(world.recorder.denies())
        with pytest.raises(TokenRejected) as info:
            await svc.redeem(bad, Action.PLAYBACK, "gate-north", start, end)
        wanted = expected if isinstance(expected, set) else {expected}
        assert info.value.reason in wanted, name
        denies = world.recorder.denies()
        assert len(denies) == before + 1, name
        assert denies[-1].reason.startswith(info.value.reason.value), name

    async def refused(reason: Reason, camera: str = "gate-north", s: datetime = start, e: datetime = end,
                      service: DispositionService = svc) -> None:
        with pytest.raises(TokenRejected) as info:
            await service.redeem(token, Action.PLAYBACK, camera, s, e, "10.1.1.1")
        assert info.value.reason is reason
        last = world.recorder.denies()[-1]
        assert last.outcome == "deny" and last.reason.startswith(reason.value) and last.token_id == claims.token_id

    await refused(Reason.TOKEN_WRONG_CAMERA, camera="somewhere")
    await refused(Reason.TOKEN_WRONG_WINDOW, s=start - timedelta(minutes=1))
    await refused(Reason.TOKEN_WRONG_WINDOW, e=end + timedelta(seconds=1))
    early = world.service(clock=ManualClock(T0 - timedelta(seconds=1)))
    await refused(Reason.TOKEN_NOT_YET_VALID, service=early)
    late = world.service(clock=ManualClock(claims.expires))
    await refused(Reason.TOKEN_EXPIRED, service=late)
    # Still good before revocation; refused on the very next request after it.
    await svc.redeem(token, Action.PLAYBACK, "lobby", start, end)
    await svc.revoke(world.sup2, claims.token_id, "letter withdrawn")
    await refused(Reason.TOKEN_REVOKED)
    with pytest.raises(Conflict):
        await svc.revoke(world.sup2, claims.token_id, "again")
    with pytest.raises(Forbidden):
        await svc.revoke(world.operator, claims.token_id, "not mine to revoke")


async def test_token_does_not_open_other_actions(world: World) -> None:
    svc = world.service()
    _, token = await issued(world, svc)
    claims = tokens.verify(token, svc.public_key)
    with pytest.raises(TokenRejected) as info:
        await svc.redeem(token, Action.PTZ, "gate-north", claims.start, claims.end)
    assert info.value.reason is Reason.TOKEN_ACTION
    with pytest.raises(TokenRejected) as info:  # a copy needs copies approved
        await svc.redeem(token, Action.EXPORT, "gate-north", claims.start, claims.end)
    assert info.value.reason is Reason.TOKEN_NO_COPIES
    listed = await svc.redeem(token, Action.LIST_RECORDINGS, "gate-north", claims.start, claims.end)
    assert listed.views_used == 0  # listing spans uses no view


W0, W1 = T0 - timedelta(hours=2), T0 - timedelta(hours=1)
US = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("start", "end", "want"),
    [
        (None, None, (W0, W1)),  # open both ways: the whole window
        (W0 - timedelta(minutes=5), None, (W0, W1)),  # reaching outside: narrowed to the overlap
        (W0 + timedelta(minutes=5), W1 + timedelta(hours=3), (W0 + timedelta(minutes=5), W1)),
        (W0 + timedelta(minutes=5), W0 + timedelta(minutes=6), (W0 + timedelta(minutes=5), W0 + timedelta(minutes=6))),
        (None, W0 - timedelta(seconds=1), (W0 - timedelta(seconds=1) - US, W0 - timedelta(seconds=1))),  # before
        (W1 + timedelta(seconds=1), None, (W1 + timedelta(seconds=1), W1 + timedelta(seconds=1) + US)),  # after
        (W1, W1 + timedelta(hours=1), (W1, W1 + timedelta(hours=1))),  # wholly outside: left outside
    ],
)
def test_a_listing_is_clipped_to_the_tokens_window(
    start: datetime | None, end: datetime | None, want: tuple[datetime, datetime]
) -> None:
    assert clipped((W0, W1), start, end) == want


async def test_a_listing_redeems_the_clipped_window_verifying_the_token_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = world.service()
    _, token = await issued(world, svc)
    claims = tokens.verify(token, svc.public_key)
    calls: list[str] = []
    real = tokens.verify

    def counting(presented: str, key: Ed25519PublicKey) -> DispositionClaims:
        calls.append(presented)
        return real(presented, key)

    monkeypatch.setattr(tokens, "verify", counting)
    got = await svc.redeem(token, Action.LIST_RECORDINGS, "gate-north", claims.start - timedelta(hours=1), None,
                           count_view=False, clip=True)
    assert (got.start, got.end) == (claims.start, claims.end) and calls == [token]
    assert got.claims.token_id == claims.token_id and got.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    with pytest.raises(TokenRejected) as info:
        await svc.redeem(token, Action.LIST_RECORDINGS, "gate-north", None, claims.start - timedelta(seconds=1),
                         count_view=False, clip=True)
    assert info.value.reason is Reason.TOKEN_WRONG_WINDOW and len(calls) == 2


async def _log_payloads(world: World) -> list[dict[str, object]]:
    async with world.engine.connect() as conn:
        return [json.loads(e.payload) async for e in iter_entries(conn)]


async def test_twenty_concurrent_copies_of_a_one_copy_token_give_exactly_one(world: World) -> None:
    svc = world.service()
    req = await svc.file_request(world.operator, form(copies=1), PDF, "10.0.0.5")
    assert req.copies == 1
    info, token = await svc.approve(world.sup1, req.id, "copy for the police", "10.0.0.6", copies=True)
    assert token is not None and [a.copies_approved for a in info.approvals] == [True]
    claims = tokens.verify(token, svc.public_key)
    assert claims.copies == 1 and claims.payload()["copies"] == 1
    engines = [make_engine(world.url) for _ in range(4)]
    try:
        services = [world.service(engine=e) for e in engines]

        async def attempt(i: int) -> Reason | None:
            try:
                got = await services[i % 4].redeem_copy(token, ["gate-north"], None, None, f"c{i}")
            except TokenRejected as exc:
                return exc.reason
            assert (got.start, got.end, got.copies_used) == (claims.start, claims.end, 1)
            assert got.claims.letter_sha256 == req.letter_sha256 and got.claims.approvers == ("sup1",)
            return None

        results = await asyncio.gather(*(attempt(i) for i in range(20)))
    finally:
        for e in engines:
            await e.dispose()
    assert results.count(None) == 1
    assert results.count(Reason.TOKEN_COPIES_EXHAUSTED) == 19
    async with world.engine.connect() as conn:
        used = await conn.scalar(select(Disposition.copies_used).where(Disposition.request_id == req.id))
    assert used == 1
    redeemed = [p for p in await _log_payloads(world) if p.get("action") == "token_redeemed"]
    allowed = [p for p in redeemed if p["outcome"] == "allow"]
    denied = [p for p in redeemed if p["outcome"] == "deny"]
    assert len(allowed) == 1 and len(denied) == 19
    assert allowed[0]["details"] == {"action": "export", "cameras": "gate-north", "copies": 1, "copies_used": 1}
    assert all(str(p["reason"]).startswith("token_copies_exhausted") for p in denied)
    assert all(p["token_id"] == claims.token_id for p in denied)
    # The copy used no view; a revoked token gives no copy and says so.
    assert (await svc.get_disposition(world.sup1, claims.token_id)).views_used == 0


async def test_copies_need_every_counted_approval_to_approve_them(world: World) -> None:
    svc = world.service(AccessConfig(disposition={"approvals_required": 2}))
    with pytest.raises(BadRequest, match="copies"):
        await svc.file_request(world.operator, form(copies=6), PDF)
    with pytest.raises(BadRequest, match="copies"):
        await svc.file_request(world.operator, form(copies=-1), PDF)
    req = await svc.file_request(world.operator, form(copies=2), PDF)
    await svc.approve(world.sup1, req.id, "copies too", copies=True)
    info, token = await svc.approve(world.sup2, req.id, "replay only")
    assert token is not None and [(a.approver, a.copies_approved) for a in info.approvals] == [
        ("sup1", True), ("sup2", False)]
    claims = tokens.verify(token, svc.public_key)
    assert claims.copies == 0 and "copies" not in claims.payload()
    assert info.token_id is not None
    shown = await svc.get_disposition(world.sup1, info.token_id)
    assert (shown.claims.copies, shown.copies_used) == (0, 0)
    with pytest.raises(TokenRejected) as refused:
        await svc.redeem_copy(token, ["gate-north"], None, None, "10.9.9.9")
    assert refused.value.reason is Reason.TOKEN_NO_COPIES
    assert world.recorder.denies()[-1].reason.startswith("token_no_copies")
    [approved, _] = [e for e in world.recorder.events if e.action is AccessAction.REQUEST_APPROVED]
    assert approved.details == {"copies_asked": 2, "copies_approved": True}
    [issued_event] = [e for e in world.recorder.events if e.action is AccessAction.TOKEN_ISSUED]
    assert issued_event.details["copies"] == 0


async def test_a_copy_is_refused_outside_the_token_and_after_revocation(world: World) -> None:
    svc = world.service()
    req = await svc.file_request(world.operator, form(copies=3, cameras=("gate-north", "lobby")), PDF)
    _, token = await svc.approve(world.sup1, req.id, copies=True)
    assert token is not None
    claims = tokens.verify(token, svc.public_key)
    for cameras, start, reason in [
        (["gate-north", "yard"], None, Reason.TOKEN_WRONG_CAMERA),  # every camera must be the token's
        ([], None, Reason.TOKEN_WRONG_CAMERA),
        (["lobby"], claims.start - timedelta(seconds=1), Reason.TOKEN_WRONG_WINDOW),
    ]:
        with pytest.raises(TokenRejected) as refused:
            await svc.redeem_copy(token, cameras, start, None)
        assert refused.value.reason is reason
    with pytest.raises(TokenRejected) as refused:
        await svc.redeem_copy("not-a-token", ["lobby"], None, None)
    assert refused.value.reason is Reason.TOKEN_MALFORMED
    got = await svc.redeem_copy(token, ["gate-north", "lobby"], claims.start, claims.start + timedelta(minutes=5))
    assert got.copies_used == 1 and got.end == claims.start + timedelta(minutes=5)
    assert (await svc.check_token(token)).token_id == claims.token_id  # uses nothing
    assert (await svc.get_disposition(world.sup1, claims.token_id)).copies_used == 1
    await svc.revoke(world.sup2, claims.token_id, "letter withdrawn")
    with pytest.raises(TokenRejected) as refused:
        await svc.redeem_copy(token, ["lobby"], None, None)
    assert refused.value.reason is Reason.TOKEN_REVOKED
    before = len(world.recorder.denies())
    with pytest.raises(TokenRejected) as refused:
        await svc.check_token(token, "10.2.2.2")
    assert refused.value.reason is Reason.TOKEN_REVOKED and len(world.recorder.denies()) == before + 1


async def test_check_token_refuses_an_expired_or_unknown_token(world: World) -> None:
    svc = world.service()
    _, token = await issued(world, svc)
    claims = tokens.verify(token, svc.public_key)
    assert await svc.check_token(token) == claims
    late = world.service(clock=ManualClock(claims.expires))
    with pytest.raises(TokenRejected) as refused:
        await late.check_token(token)
    assert refused.value.reason is Reason.TOKEN_EXPIRED
    stranger = DispositionClaims(**{**{f: getattr(claims, f) for f in claims.__slots__},  # type: ignore[attr-defined]
                                    "token_id": "dsp_unknown"})
    with pytest.raises(TokenRejected) as refused:
        await svc.check_token(tokens.sign(stranger, world.key))
    assert refused.value.reason is Reason.TOKEN_UNKNOWN
    assert world.recorder.denies()[-1].details == {"action": "check"}


async def _plays(svc: DispositionService, token: str, camera: str, claims: DispositionClaims) -> Reason | None:
    try:
        await svc.redeem(token, Action.PLAYBACK, camera, claims.start, claims.end, "10.3.3.3")
    except TokenRejected as exc:
        return exc.reason
    return None


async def test_views_count_per_camera(world: World) -> None:
    svc = world.service()
    _, token = await issued(world, svc, cameras=("gate-north", "lobby", "yard"), max_views=3)
    claims = tokens.verify(token, svc.public_key)
    for camera in ("gate-north", "lobby", "yard") * 3:
        assert await _plays(svc, token, camera, claims) is None, camera
    for camera in ("gate-north", "lobby", "yard"):
        assert await _plays(svc, token, camera, claims) is Reason.TOKEN_VIEWS_EXHAUSTED, camera
    # A listing and a staff check use no view and see the camera's own count.
    got = await svc.redeem(token, Action.LIST_RECORDINGS, "lobby", claims.start, claims.end, count_view=False)
    assert got.views_used == 3
    shown = await svc.get_disposition(world.sup1, claims.token_id)
    assert shown.views_used == 9 and shown.views_per == "camera" and shown.last_view_at is not None
    assert dict(shown.camera_views) == {"gate-north": 3, "lobby": 3, "yard": 3}


async def test_views_count_in_total_when_configured(world: World) -> None:
    svc = world.service(AccessConfig(disposition={"views_per": "total"}))
    _, token = await issued(world, svc, cameras=("gate-north", "lobby", "yard"), max_views=3)
    claims = tokens.verify(token, svc.public_key)
    for camera in ("gate-north", "lobby", "gate-north"):
        assert await _plays(svc, token, camera, claims) is None
    assert await _plays(svc, token, "yard", claims) is Reason.TOKEN_VIEWS_EXHAUSTED
    shown = await svc.get_disposition(world.sup1, claims.token_id)
    assert shown.views_used == 3 and dict(shown.camera_views) == {"gate-north": 2, "lobby": 1, "yard": 0}


async def test_a_revoked_token_uses_no_view_of_a_camera(world: World) -> None:
    svc = world.service()
    _, token = await issued(world, svc, cameras=("gate-north", "lobby"), max_views=3)
    claims = tokens.verify(token, svc.public_key)
    stale = world.service()
    await svc.revoke(world.sup1, claims.token_id, "withdrawn")
    # The conditional UPDATE itself refuses a revoked disposition, whatever was read before it.
    assert await stale.redeemer._count_camera_view(claims.token_id, "lobby", T0) is None
    assert await _plays(svc, token, "lobby", claims) is Reason.TOKEN_REVOKED
    shown = await svc.get_disposition(world.sup1, claims.token_id)
    assert shown.views_used == 0 and dict(shown.camera_views) == {"gate-north": 0, "lobby": 0}


async def test_a_token_is_revealed_to_its_approvers_and_requester_only_and_every_reveal_is_logged(
    world: World,
) -> None:
    svc = world.service()
    request_id, token = await issued(world, svc)
    token_id = tokens.verify(token, svc.public_key).token_id
    # sup2 is a supervisor too, but did not approve this request: the disposition, not its token.
    assert (await svc.get_disposition(world.sup2, token_id, "10.0.0.7")).token is None
    assert (await svc.get_disposition(world.sup1, token_id, "10.0.0.6")).token == token
    assert (await svc.get_disposition(world.operator, token_id, "10.0.0.5")).token == token
    reveals = [e for e in world.recorder.events if e.action is AccessAction.TOKEN_REVEALED]
    assert [(e.actor, e.client, e.token_id, e.request_id) for e in reveals] == [
        ("sup1", "10.0.0.6", token_id, request_id), ("ops", "10.0.0.5", token_id, request_id)]
    await svc.letter(world.sup2, request_id, "10.0.0.7")
    await svc.list_requests(world.sup2, "10.0.0.7")
    await svc.list_dispositions(world.sup2, "10.0.0.7")
    read = [(e.action, e.actor, e.request_id) for e in world.recorder.events
            if e.action in (AccessAction.LETTER_READ, AccessAction.REQUESTS_LISTED)]
    assert read == [(AccessAction.LETTER_READ, "sup2", request_id), (AccessAction.REQUESTS_LISTED, "sup2", None),
                    (AccessAction.REQUESTS_LISTED, "sup2", None)]
    payloads = await _log_payloads(world)
    assert any(p.get("action") == "token_revealed" and p.get("actor") == "ops" for p in payloads)
    assert token not in json.dumps(payloads)  # named by its id, never the token itself
