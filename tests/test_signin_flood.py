"""Anonymous floods (junk bearer tokens, throttled or concurrent sign-ins) against a running gateway:
refused without growing the access log per try, without starving the loop, and without letting a
client's text forge a log line."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

from core.clock import ManualClock
from gateway.logsetup import make_handler
from gateway.refusallog import RefusalLog
from policy.audit.entries import AccessEvent
from policy.identity.hashbudget import PER_ADDRESS
from tests.gatewayutil import Client, make_settings, running_gateway
from tests.test_api_accesslog import entries

# A JWT-shaped token signed by nobody we know, and one that is no token at all.
FORGED_JWT = "eyJhbGciOiJFZERTQSIsInR5cCI6ImRpc3Bvc2l0aW9uK2p3dCJ9.eyJqdGkiOiJ4In0.c2lnbmF0dXJl"
JUNK = ["pts_" + "0" * 40, "not-a-token", FORGED_JWT]


async def _admin(client: Client) -> str:
    return await client.sign_in("admin", client.admin_password())


async def test_junk_bearer_tokens_are_refused_without_an_entry_each(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running_gateway(make_settings(tmp_path, db_url)) as client:
        admin = await _admin(client)
        before = len(await entries(client, admin))
        for _ in range(10):
            for token in JUNK:
                for path in ("/api/v1/cameras", "/list?path=lobby", "/api/v1/exports"):
                    async with client.http.get(client.url(path), headers={"Authorization": f"Bearer {token}"}) as resp:
                        assert resp.status == 401, (path, token)
        after = await entries(client, admin)
        lines = [r.getMessage() for r in caplog.records if "bearer token(s) that are not ours" in r.getMessage()]
    assert len(after) == before, [e["payload"] for e in after[before:]]
    assert len(lines) == 1 and lines[0].startswith("refused 1 bearer"), lines
    # The 89 held back are one line on stop.
    held = [r.getMessage() for r in caplog.records if "bearer token(s) that are not ours" in r.getMessage()]
    assert held[1:] == [lines[0].replace("refused 1", "refused 89").split(" (last")[0] + " (last: token_bad_signature)"]
    assert not [r for r in caplog.records if r.getMessage().startswith("refused GET")]


async def test_throttled_sign_ins_are_one_entry_a_minute_with_their_count(tmp_path: Path, db_url: str) -> None:
    clock = ManualClock()
    async with running_gateway(make_settings(tmp_path, db_url, auth={"max_failures": 3}), clock) as client:
        admin = await _admin(client)
        url = client.url("/api/v1/session")
        for _ in range(3):  # real attempts: each logged
            async with client.http.post(url, json={"username": "alice", "password": "WrongGuess-42"}) as resp:
                assert resp.status == 401
        for _ in range(20):
            async with client.http.post(url, json={"username": "alice", "password": "WrongGuess-42"}) as resp:
                assert resp.status == 429
        failed = await entries(client, admin, action="sign_in_failed")
        assert [e["payload"]["reason"] for e in failed] == ["unknown user or wrong password"] * 3 + [
            "throttled after repeated failures"]
        assert failed[-1]["payload"]["details"]["count"] == 1
        services = client.gateway.services
        assert services is not None
        clock.advance(125)  # two quiet minutes: the held-back attempts are due
        await services.refusals.write_due()
        failed = await entries(client, admin, action="sign_in_failed")
        assert len(failed) == 5 and failed[-1]["payload"]["details"]["count"] == 19
        assert failed[-1]["payload"]["actor"] == "alice"


def _spray(url: str, count: int) -> list[int]:
    """`count` concurrent wrong sign-ins from a client of its own (thread and loop), so the gateway's
    loop does only the gateway's share of the work."""

    async def run() -> list[int]:
        async with aiohttp.ClientSession() as http:
            async def wrong(i: int) -> int:
                async with http.post(url, json={"username": f"user{i}", "password": "WrongGuess-42"}) as resp:
                    return resp.status
            return list(await asyncio.gather(*(wrong(i) for i in range(count))))

    return asyncio.run(run())


async def test_concurrent_sign_ins_from_one_address_do_not_stall_the_loop(tmp_path: Path, db_url: str) -> None:
    async with running_gateway(make_settings(tmp_path, db_url)) as client:
        await _admin(client)  # warm up

        async def livez() -> float:
            started = time.perf_counter()
            async with client.http.get(client.url("/livez")) as resp:
                assert resp.status == 200
            return time.perf_counter() - started

        spray = asyncio.ensure_future(asyncio.to_thread(_spray, client.url("/api/v1/session"), 50))
        waits = []
        while not spray.done():
            waits.append(await livez())
            await asyncio.sleep(0.01)
        statuses = await spray
    assert max(waits) < 0.2, waits
    # One address gets its share of password checks; the rest are refused before any hashing.
    assert statuses.count(401) <= PER_ADDRESS and statuses.count(429) >= 50 - PER_ADDRESS, statuses


@contextmanager
def text_log() -> Iterator[io.StringIO]:
    """What the gateway's own text handler (gateway.logsetup) writes, captured."""
    stream = io.StringIO()
    handler = make_handler("text", stream)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_a_newline_in_a_user_name_does_not_forge_a_log_line(tmp_path: Path, db_url: str) -> None:
    async with running_gateway(make_settings(tmp_path, db_url)) as client:
        with text_log() as stream:
            async with client.http.post(client.url("/api/v1/session"),
                                        json={"username": "x\nFORGED line\r\nFORGED too", "password": "p"}) as resp:
                assert resp.status == 401
            async with client.http.get(client.url("/api/v1/cameras/x%0aFORGED%20camera")) as resp:
                assert resp.status == 401
    lines = stream.getvalue().splitlines()
    assert any("sign-in failed" in line for line in lines), lines
    assert not [line for line in lines if line.startswith("FORGED")], lines


class _Recorder:
    def __init__(self) -> None:
        self.events: list[AccessEvent] = []

    async def record(self, event: AccessEvent) -> None:
        self.events.append(event)


async def test_held_back_counts_are_written_on_stop() -> None:
    clock, recorder = ManualClock(), _Recorder()
    refusals = RefusalLog(recorder, clock)
    for _ in range(4):
        await refusals.sign_in_throttled("Bob", "192.0.2.7")
    await refusals.sign_in_throttled("carol", "192.0.2.7")
    assert [(e.actor, e.details) for e in recorder.events] == [("Bob", {"count": 1}), ("carol", {"count": 1})]
    clock.advance(61)  # a new minute: the next one carries the three held back
    await refusals.sign_in_throttled("bob", "192.0.2.7")
    assert recorder.events[-1].details == {"count": 4}
    await refusals.sign_in_throttled("bob", "192.0.2.7")
    await refusals.write_due(stopping=True)
    assert recorder.events[-1].details == {"count": 1} and len(recorder.events) == 4
