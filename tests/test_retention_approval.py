"""A shorter retention asked through the API waits for a second person (a supervisor who did not ask);
a longer one takes effect at once. Every step is an access-log entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.gatewayutil import Client, call, make_settings, running_gateway

PASSWORD = "password-123"
MERGE = {"Content-Type": "application/merge-patch+json"}


async def _patch(client: Client, token: str, body: dict[str, Any], status: int) -> Any:
    return await call(client, "PATCH", "/api/v1/cameras/lobby", token, status, json=body, headers=MERGE)


async def _verdict(client: Client, token: str, change: str, verdict: str, status: int) -> Any:
    return await call(client, "POST", f"/api/v1/retention-changes/{change}/{verdict}", token, status,
                      json={"note": "checked with the SOP"})


def _days(client: Client) -> float:
    services = client.gateway.services
    assert services is not None and services.recorder is not None
    return services.recorder.retention.days_of("lobby")


async def test_a_shorter_retention_waits_for_a_second_person(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url, access={"retention_approver_roles": ["supervisor", "admin"]})
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None
        admin = await client.sign_in("admin", client.admin_password())
        for name, role in {"sam": "supervisor", "vera": "viewer", "ada": "admin"}.items():
            await services.users.add(name, role, PASSWORD)
        sam, vera, ada = [await client.sign_in(n, PASSWORD) for n in ("sam", "vera", "ada")]
        await call(client, "POST", "/api/v1/cameras", admin, 201,
                   json={"id": "lobby", "source": "demo://pattern", "enabled": False})
        assert _days(client) == 30

        # Longer: at once.
        assert (await _patch(client, admin, {"retention_days": 60}, 200))["id"] == "lobby"
        assert _days(client) == 60

        # Shorter: pending, nothing changes yet; not mixed with other changes; one at a time.
        await _patch(client, admin, {"retention_days": 40, "name": "Lobby"}, 422)
        change = await _patch(client, admin, {"retention_days": 40}, 202)
        assert (change["state"], change["from_days"], change["to_days"], change["requested_by"]) == (
            "pending", 60, 40, "admin"), change
        assert _days(client) == 60
        await _patch(client, admin, {"retention_days": 35}, 409)
        listed = await call(client, "GET", "/api/v1/retention-changes?state=pending", sam, 200)
        assert [c["id"] for c in listed["changes"]] == [change["id"]]
        await call(client, "GET", "/api/v1/retention-changes", vera, 403)

        # The one who asked cannot approve (even in an approver role); a viewer cannot; a supervisor can.
        refused = await _verdict(client, admin, change["id"], "approval", 403)
        assert "own_request" in refused["detail"], refused
        await _verdict(client, vera, change["id"], "approval", 403)
        approved = await _verdict(client, sam, change["id"], "approval", 200)
        assert (approved["state"], approved["decided_by"]) == ("approved", "sam"), approved
        assert _days(client) == 40
        assert services.camera_store is not None
        stored = await services.camera_store.get("lobby")
        assert stored is not None and stored.retention_days == 40
        await _verdict(client, ada, change["id"], "rejection", 409)  # decided once

        # Rejected: nothing changes.
        change = await _patch(client, admin, {"retention_days": 35}, 202)
        rejected = await _verdict(client, ada, change["id"], "rejection", 200)
        assert (rejected["state"], rejected["decided_by"]) == ("rejected", "ada")
        assert _days(client) == 40

        # Withdrawn by the one who asked (nobody else may): nothing changes, another may be asked; not decided after.
        change = await _patch(client, admin, {"retention_days": 38}, 202)
        await _verdict(client, ada, change["id"], "withdrawal", 403)  # an administrator, but not the one who asked
        await _verdict(client, sam, change["id"], "withdrawal", 403)
        withdrawn = await _verdict(client, admin, change["id"], "withdrawal", 200)
        assert (withdrawn["state"], withdrawn["decided_by"]) == ("withdrawn", "admin"), withdrawn
        assert _days(client) == 40
        await _verdict(client, sam, change["id"], "approval", 409)
        await _verdict(client, admin, change["id"], "withdrawal", 409)

        # Back to the default (null) is a shortening too; approved after the retention changed: refused.
        change = await _patch(client, admin, {"retention_days": None}, 202)
        assert (change["to_days"], change["retention_days"]) == (30, None), change
        await _patch(client, admin, {"retention_days": 50}, 200)
        await _verdict(client, sam, change["id"], "approval", 409)
        assert _days(client) == 50

        log = await call(client, "GET", "/api/v1/access-log?limit=1000", admin, 200)
        entries = [e["payload"] for e in log["entries"]]
        steps = [(e["action"], e["actor"]) for e in entries if e["action"].startswith("retention_change")]
        assert steps == [("retention_change_requested", "admin"), ("retention_change_approved", "sam"),
                         ("retention_change_requested", "admin"), ("retention_change_rejected", "ada"),
                         ("retention_change_requested", "admin"), ("retention_change_withdrawn", "admin"),
                         ("retention_change_requested", "admin")], steps
        shortened = [e for e in entries if e["action"] == "config_changed" and e.get("camera") == "lobby"
                     and e["details"].get("approved_by")]
        assert len(shortened) == 1 and shortened[0]["details"]["requested_by"] == "admin", shortened
        assert shortened[0]["details"]["changed"] == "retention_days"
        denials = [e for e in entries if e["action"] == "decision" and e["outcome"] == "deny"]
        assert {(e["actor"], e["details"]["action"]) for e in denials} >= {
            ("admin", "decide_retention"), ("vera", "decide_retention"), ("vera", "read_retention_changes"),
            ("ada", "withdraw_retention"), ("sam", "withdraw_retention")}


async def test_by_default_admins_do_not_approve(tmp_path: Path) -> None:
    """`access.retention_approver_roles` is supervisors by default: an admin asks, a supervisor decides."""
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None
        admin = await client.sign_in("admin", client.admin_password())
        await services.users.add("ada", "admin", PASSWORD)
        ada = await client.sign_in("ada", PASSWORD)
        await call(client, "POST", "/api/v1/cameras", admin, 201,
                   json={"id": "lobby", "source": "demo://pattern", "enabled": False, "retention_days": 90})
        change = await _patch(client, admin, {"retention_days": 31}, 202)
        refused = await _verdict(client, ada, change["id"], "approval", 403)
        assert "not_permitted" in refused["detail"], refused
        assert _days(client) == 90
