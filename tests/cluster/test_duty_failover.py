"""The cluster duty across two real nodes on one PostgreSQL (ISSUE 18): node B (`pantau serve`, a
process the test can kill) takes the duty alone, node A joins in the test's loop; an alert published
on A is delivered to a webhook receiver exactly once (by B's courier, from the shared outbox), both
nodes' /health name B as the holder; kill -9 B and A takes the duty within lease_s plus a few seconds
and delivers the next alert, once; `pantau nodes` (the overview) marks A."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alerts.delivery import IDLE_WAIT_S
from cluster.duty import duty_node
from cluster.overview import cluster_overview, overview_text
from core.alerting import AlertKind, Notice
from tests.alerts.webhook_receiver import Receiver, receiving
from tests.cluster.test_failover import CLUSTER, LEASE_S, node_b, wait_for
from tests.cluster.test_three_nodes import health
from tests.fixtures_camera import free_port
from tests.gatewayutil import Client, make_settings, running_gateway

HOOK = "city-room"


def alerts_section(receiver: Receiver) -> dict[str, Any]:
    return {"webhooks": [{"name": HOOK, "url": receiver.url, "kinds": [AlertKind.CAMERA_ALARM.value],
                          "retry": {"initial_s": 0.2, "max_s": 1.0}}]}


def alarms(receiver: Receiver) -> list[str]:
    return [str(body["details"]["alarm"]) for body in receiver.bodies]


def duty_check(body: dict[str, Any]) -> dict[str, Any]:
    (check,) = body["checks"]["cluster:duty"]
    return dict(check)


async def health_of(client: Client) -> dict[str, Any]:
    async with client.http.get(client.url("/health")) as response:
        return dict(await response.json(content_type=None))


async def holder(sessions: async_sessionmaker[AsyncSession]) -> str | None:
    async with sessions() as session:
        return await duty_node(await session.connection())


@pytest.mark.timeout(90)
async def test_one_delivery_with_two_nodes_and_the_survivor_of_a_kill_9_takes_the_duty(
    tmp_path: Path, pg_url: str, db: async_sessionmaker[AsyncSession],
) -> None:
    log = tmp_path / "b" / "gateway.log"
    port_b = free_port()
    async with receiving() as receiver:
        with node_b(tmp_path, pg_url, [], port_b, sections={"alerts": alerts_section(receiver)}) as proc:
            await wait_for(lambda: _is(holder(db), "node-b"), 30, "node B, alone, takes the duty", log)
            settings = make_settings(tmp_path / "a", pg_url, [], alerts=alerts_section(receiver),
                                     cluster={"node_id": "node-a", **CLUSTER})
            async with running_gateway(settings) as client:
                services = client.gateway.services
                assert services is not None and services.duty is not None
                await asyncio.sleep(2 * CLUSTER["renew_s"])
                assert not services.duty.holding and services.duty.terms == 0

                # Published on A, stored in the shared outbox, delivered by B's courier alone.
                services.alerts.publish(Notice(AlertKind.CAMERA_ALARM, "gate", {"alarm": "one"}))
                await wait_for(lambda: alarms(receiver) == ["one"], IDLE_WAIT_S + 3, "the first alarm delivered", log)
                await asyncio.sleep(IDLE_WAIT_S + 1)  # past A's courier's poll, had it been running
                assert alarms(receiver) == ["one"]
                for body in (await health_of(client), await asyncio.to_thread(health, port_b)):
                    check = duty_check(body)
                    assert check["status"] == "pass" and check["componentId"] == "node-b", check

                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
                killed = time.monotonic()
                await wait_for(lambda: services.duty is not None and services.duty.holding, LEASE_S + 3,
                               "node A takes the duty")
                took = time.monotonic() - killed
                services.alerts.publish(Notice(AlertKind.CAMERA_ALARM, "gate", {"alarm": "two"}))
                await wait_for(lambda: alarms(receiver) == ["one", "two"], 5, "the second alarm delivered by A")
                check = duty_check(await health_of(client))
                assert check["componentId"] == "node-a" and "(this node)" in check["output"], check
                views = {view.node_id: view for view in await cluster_overview(db, LEASE_S)}
                assert views["node-a"].duty and not views["node-b"].duty
                assert "[duty]" in next(line for line in overview_text(list(views.values())).splitlines()
                                        if line.startswith("node-a"))
                await asyncio.sleep(1.5)
    assert alarms(receiver) == ["one", "two"]
    assert len(set(receiver.ids)) == 2 and receiver.rejected == []
    print(f"duty: node A took the duty {took:.2f} s after node B was killed (bound lease_s + 3 = {LEASE_S + 3:g} s)")


async def _is(value: Any, expected: str) -> bool:
    return bool(await value == expected)
