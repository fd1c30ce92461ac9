"""Signed links over HTTP against a running gateway on both backends: who may make one, what a link
opens without a header, what it refuses (other camera or window, a forged signature, expiry, a
disabled user, a second use) and that every step is in the access log. The cameras are disabled:
a link that passes every check reaches /get's "no recording in this range" (404), which is how
these tests tell a use that went through from a refused one (403/401); playing real video through
a link is tests/test_links_browser.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from sqlalchemy import update

from core.clock import ManualClock
from core.config import CameraConfig
from evidence.models import ExportJob, JobState
from policy.identity.models import User
from tests.gatewayutil import Client, approved_disposition, call, make_settings, running_gateway
from core.utctime import format_utc as z

PASSWORD = "password-123"
CAMERAS = [CameraConfig(id="lobby", source="demo://pattern", enabled=False),
           CameraConfig(id="gate", source="demo://pattern", enabled=False)]
ACCESS = {"export": {"operator": {"groups": ["*"], "max_age_h": 2}, "admin": {"groups": ["*"], "max_age_h": 2}}}
USERS = {"omar": "operator", "olga": "operator", "vera": "viewer", "sam": "supervisor"}


class Fixture:
    def __init__(self, client: Client, clock: ManualClock, tokens: dict[str, str]) -> None:
        self.client, self.clock, self.tokens = client, clock, tokens
        self.start = clock.now().replace(microsecond=0) - timedelta(minutes=30)
        self.get = f"/get?path=lobby&start={quote(z(self.start))}&duration=60"

    async def link(self, who: str, body: dict[str, Any], status: int = 201) -> Any:
        return await call(self.client, "POST", "/api/v1/links", self.tokens.get(who, who), status, json=body)

    async def use(self, url: str, **headers: str) -> int:
        """The status a request for `url` (absolute) answers, without a header unless given."""
        async with self.client.http.get(url, headers=headers) as resp:
            await resp.read()
            if resp.status >= 400:
                assert resp.content_type == "application/problem+json"
            return resp.status

    async def entries(self, action: str) -> list[dict[str, Any]]:
        body = await self.client.get_json(f"/api/v1/access-log?action={action}&limit=1000", self.tokens["admin"])
        return [e["payload"] for e in body["entries"]]


def with_query(url: str, **change: str) -> str:
    """`url` with query parameters changed, the link kept."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    return parts._replace(query=urlencode({**query, **change})).geturl()


async def started(client: Client, clock: ManualClock) -> Fixture:
    services = client.gateway.services
    assert services is not None
    tokens = {"admin": await client.sign_in("admin", client.admin_password())}
    for name, role in USERS.items():
        await services.users.add(name, role, PASSWORD)
        tokens[name] = await client.sign_in(name, PASSWORD)
    return Fixture(client, clock, tokens)


def gateway(tmp_path: Path, db_url: str) -> tuple[Any, ManualClock]:
    clock = ManualClock(datetime.now(UTC))
    return running_gateway(make_settings(tmp_path, db_url, CAMERAS, access=ACCESS), clock), clock


async def test_a_one_time_link_opens_get_once_without_a_header_and_is_logged(tmp_path: Path, db_url: str) -> None:
    running, clock = gateway(tmp_path, db_url)
    async with running as client:
        f = await started(client, clock)
        made = await f.link("omar", {"url": f.get, "once": True, "ttl_s": 120})
        assert made["once"] is True and made["id"].startswith("lnk_")
        assert made["expires_at"] == z(clock.now().replace(microsecond=0) + timedelta(seconds=120))
        assert made["url"].startswith(client.base + "/get?") and "link=" in made["url"]
        assert await f.use(made["url"]) == 404  # through every check: the camera has no recording
        assert await f.use(made["url"]) == 403  # spent
        issued = [e for e in await f.entries("link_issued") if e["details"]["link_id"] == made["id"]]
        assert [(e["actor"], e["camera"], e["details"]["target"], e["details"]["once"]) for e in issued] == [
            ("omar", "lobby", "/get", True)]
        used = [(e["actor"], e["outcome"], e.get("reason", "")) for e in await f.entries("link_used")
                if e["details"]["link_id"] == made["id"]]
        assert used == [("omar", "ok", ""), ("omar", "deny", "this link was used already")]
        # The decision was made again as omar when the link was used (export is logged as allowed).
        decisions = [e for e in await f.entries("decision") if e["details"]["action"] == "export"]
        assert [(e["actor"], e["outcome"]) for e in decisions][-1:] == [("omar", "allow")]

        # Many players at once with one one-time link: exactly one gets through.
        racing = await f.link("omar", {"url": f.get, "once": True})
        statuses = await asyncio.gather(*(f.use(racing["url"]) for _ in range(8)))
        assert sorted(statuses) == [403] * 7 + [404], statuses
        # A time-limited link opens as many requests as its lifetime allows.
        lasting = await f.link("omar", {"url": f.get})
        assert lasting["once"] is False
        assert [await f.use(lasting["url"]) for _ in range(3)] == [404] * 3


async def test_links_refuse_what_their_maker_may_not_and_what_they_were_not_made_for(
    tmp_path: Path, db_url: str
) -> None:
    running, clock = gateway(tmp_path, db_url)
    async with running as client:
        f = await started(client, clock)
        # Making: only for what the asker may do now, the same checks as /get; bad bodies name the field.
        refused = await f.link("vera", {"url": f.get}, 403)
        assert "export" in refused["detail"]
        denial = (await f.entries("decision"))[-1]
        assert (denial["actor"], denial["outcome"], denial["details"]["action"]) == ("vera", "deny", "export")
        old = f.get.replace(quote(z(f.start)), quote(z(f.start - timedelta(hours=3))))
        await f.link("omar", {"url": old}, 403)  # older than the role's max_age_h
        await f.link("omar", {"url": f.get.replace("lobby", "nowhere")}, 404)
        bad: list[tuple[dict[str, Any], str]] = [
            ({"url": "/api/v1/cameras"}, "url"), ({}, "url"), ({"url": f.get, "ttl_s": 3601}, "ttl_s"),
            ({"url": f.get, "ttl_s": "60"}, "ttl_s"), ({"url": f.get, "once": "yes"}, "once"),
            ({"url": "/get?path=lobby&duration=60"}, "start")]
        for body, field in bad:
            assert field in (await f.link("omar", body, 400))["detail"], body
        await call(client, "POST", "/api/v1/links", None, 401, json={"url": f.get})

        made = (await f.link("omar", {"url": f.get, "ttl_s": 300}))["url"]
        assert await f.use(with_query(made, path="gate")) == 403  # another camera
        assert await f.use(with_query(made, duration="3600")) == 403  # a longer window
        assert await f.use(with_query(made, format="mp4")) == 403  # another format
        link = dict(parse_qsl(urlsplit(made).query))["link"]
        head, body, sig = link.split(".")
        flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
        assert await f.use(with_query(made, link=f"{head}.{body}.{flipped}")) == 403  # forged
        assert await f.use(with_query(made, link="not-a-link")) == 401
        assert await f.use(with_query(made, link="")) == 401
        reasons = [e["reason"] for e in await f.entries("link_used") if e["outcome"] == "deny"]
        assert sum(r.startswith("link_wrong_target") for r in reasons) == 3
        assert sum(r.startswith("link_bad_signature") for r in reasons) == 1
        assert sum(r.startswith("link_malformed") for r in reasons) == 2

        # Expiry is the gateway's clock.
        clock.advance(299)
        assert await f.use(made) == 404
        clock.advance(1)
        assert await f.use(made) == 403
        assert (await f.entries("link_used"))[-1]["reason"] == "link_expired: the link has expired"

        # A disabled user's links stop working; a role that lost the right is decided again now.
        mine = (await f.link("olga", {"url": f.get}))["url"]
        assert await f.use(mine) == 404
        services = client.gateway.services
        assert services is not None
        async with services.db() as session:
            await session.execute(update(User).where(User.username == "olga").values(disabled=True))
            await session.commit()
        assert await f.use(mine) == 403
        last = (await f.entries("link_used"))[-1]
        assert (last["actor"], last["outcome"], last["reason"]) == (
            "olga", "deny", "the link's user no longer exists or is disabled")
        fresh_start = clock.now().replace(microsecond=0) - timedelta(minutes=90)
        later = f.get.replace(quote(z(f.start)), quote(z(fresh_start)))
        again = (await f.link("omar", {"url": later, "ttl_s": 3600}))["url"]
        clock.advance(1800)  # still a valid link; the window is now 2 h old
        assert await f.use(again) == 403
        assert (await f.entries("decision"))[-1]["outcome"] == "deny"


async def test_links_to_an_export_jobs_download(tmp_path: Path, db_url: str) -> None:
    running, clock = gateway(tmp_path, db_url)
    async with running as client:
        f = await started(client, clock)
        services = client.gateway.services
        assert services is not None
        token, token_id = await approved_disposition(client, f.tokens["omar"], f.tokens["sam"], "lobby",
                                                     f.start, f.start + timedelta(minutes=5))
        now = clock.now()

        def job(job_id: str, by: str, token_id: str | None = None) -> ExportJob:
            return ExportJob(id=job_id, state=JobState.DONE.value, cameras="lobby", window_start=f.start,
                             window_end=f.start + timedelta(minutes=1), formats="bundle", reason="theft",
                             token_id=token_id, requested_by=by, requester_role=None if token_id else "operator",
                             via="token" if token_id else "user", client="127.0.0.1", created_at=now)

        async with services.db() as session:
            session.add_all([job("exp_omar", "omar"), job("exp_olga", "olga"), job("exp_tok", "Budi", token_id)])
            await session.commit()
        mine = await f.link("omar", {"url": "/api/v1/exports/exp_omar/download", "once": True})
        assert mine["url"].startswith(client.base + "/api/v1/exports/exp_omar/download?link=")
        await f.link("omar", {"url": "/api/v1/exports/exp_olga/download"}, 403)  # not his own
        await f.link("sam", {"url": "/api/v1/exports/exp_olga/download"})  # a reader role reads all
        await f.link("omar", {"url": "/api/v1/exports/exp_none/download"}, 404)
        # A disposition token's holder: only the download of a job made with that token.
        held = await f.link(token, {"url": "/api/v1/exports/exp_tok/download", "ttl_s": 600})
        await f.link(token, {"url": "/api/v1/exports/exp_omar/download"}, 403)
        await f.link(token, {"url": f.get}, 403)
        await f.link("dsp.not-a-token.at-all", {"url": "/api/v1/exports/exp_tok/download"}, 401)
        issued = await f.entries("link_issued")
        ok = [(e["actor"], e["details"]["target"], e.get("token_id")) for e in issued if e["outcome"] == "ok"]
        assert ok == [("omar", "/api/v1/exports/exp_omar/download", None),
                      ("sam", "/api/v1/exports/exp_olga/download", None),
                      (f"token:{token_id}", "/api/v1/exports/exp_tok/download", token_id)]
        assert held["id"] == [e for e in issued if e.get("token_id") == token_id and e["outcome"] == "ok"][0][
            "details"]["link_id"]
        assert [e["reason"] for e in issued if e["outcome"] == "deny"] == [
            "the export job was not made with this disposition token",
            "a disposition token's holder may link an export's download only"]
