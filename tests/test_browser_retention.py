"""The approvals page in Debian's headless Chromium: a supervisor sees a shorter camera retention an
administrator asked for, rejects one and approves another; the retention changes only then. The
administrator who asked sees their own with a button to withdraw it, and nothing to decide."""

from __future__ import annotations

from pathlib import Path

from tests.browser import chromium
from tests.gatewayutil import Client, call, make_settings, running_gateway
from tests.test_browser_wall import ARTIFACTS, need_chromium, sign_in

PASSWORD = "password-123"
CARD = "#retention .retention-change"
MERGE = {"Content-Type": "application/merge-patch+json"}


async def _asks_for_60_days(client: Client) -> str:
    """The admin adds camera lobby (kept 90 days) and asks to keep it 60: pending. Their token."""
    admin = await client.sign_in("admin", client.admin_password())
    await call(client, "POST", "/api/v1/cameras", admin, 201,
               json={"id": "lobby", "source": "demo://pattern", "enabled": False, "retention_days": 90})
    await call(client, "PATCH", "/api/v1/cameras/lobby", admin, 202, json={"retention_days": 60}, headers=MERGE)
    return admin


async def test_a_supervisor_decides_a_shorter_retention_on_the_approvals_page(tmp_path: Path) -> None:
    need_chromium()
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with running_gateway(settings) as client, chromium() as page:
        services = client.gateway.services
        assert services is not None and services.recorder is not None
        await services.users.add("sam", "supervisor", PASSWORD)
        admin = await _asks_for_60_days(client)

        await page.goto(client.url("/static/approvals.html"))
        await sign_in(page, "sam", PASSWORD)
        await page.wait_for(f"document.querySelectorAll('{CARD}').length === 1")
        text = await page.evaluate(f"document.querySelector('{CARD}').textContent")
        assert "Camera lobby: keep recordings 60 days instead of 90 (asked by admin" in text, text
        await page.evaluate(f"document.querySelector('{CARD} button.reject').click()")
        await page.wait_for("document.querySelector('#retention p.note')?.textContent === 'No shorter retention is waiting.'")
        assert services.recorder.retention.days_of("lobby") == 90

        await call(client, "PATCH", "/api/v1/cameras/lobby", admin, 202, json={"retention_days": 45}, headers=MERGE)
        await page.evaluate("document.dispatchEvent(new Event('pantau:lang'))")  # redraw, as a language change does
        await page.wait_for(f"document.querySelectorAll('{CARD}').length === 1")
        await page.evaluate(f"(() => {{ const c = document.querySelector('{CARD}');"
                            " c.querySelector('textarea').value = 'Checked with the SOP';"
                            " c.querySelector('button.approve').click(); })()")
        await page.wait_for(f"document.querySelectorAll('{CARD}').length === 0")
        assert services.recorder.retention.days_of("lobby") == 45
        await page.screenshot(ARTIFACTS / "approvals-retention.png")
        decided = (await call(client, "GET", "/api/v1/retention-changes", admin, 200))["changes"]
        assert [(c["state"], c["decided_by"]) for c in decided] == [("approved", "sam"), ("rejected", "sam")]
        assert decided[0]["note"] == "Checked with the SOP"
        assert page.errors == [], page.errors


async def test_the_one_who_asked_withdraws_it_on_the_approvals_page(tmp_path: Path) -> None:
    need_chromium()
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with running_gateway(settings) as client, chromium() as page:
        services = client.gateway.services
        assert services is not None and services.recorder is not None
        admin = await _asks_for_60_days(client)

        await page.goto(client.url("/static/approvals.html"))
        await sign_in(page, "admin", client.admin_password())
        await page.wait_for(f"document.querySelectorAll('{CARD}').length === 1")
        buttons = await page.evaluate(f"[...document.querySelectorAll('{CARD} button')].map(b => b.className)")
        assert buttons == ["withdraw"], buttons
        await page.evaluate(f"document.querySelector('{CARD} button.withdraw').click()")
        await page.wait_for("document.querySelector('#retention p.note')?.textContent === 'No shorter retention is waiting.'")
        assert services.recorder.retention.days_of("lobby") == 90
        (change,) = (await call(client, "GET", "/api/v1/retention-changes", admin, 200))["changes"]
        assert (change["state"], change["decided_by"]) == ("withdrawn", "admin")
        assert page.errors == [], page.errors
