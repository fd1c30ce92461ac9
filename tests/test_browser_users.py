"""The users page in Debian's headless Chromium against a running gateway: an administrator finds it
in the menu, disables and enables an account, changes a role, is refused (409) when demoting the
last administrator, and reads the page in Indonesian."""

from __future__ import annotations

from pathlib import Path

from tests.browser import chromium
from tests.gatewayutil import make_settings, running_gateway
from tests.test_browser_displays import api
from tests.test_browser_wall import ARTIFACTS, need_chromium, sign_in

PASSWORD = "password-123"
ROW = "#users-table tr[data-user={name}]"


async def test_an_administrator_disables_enables_and_re_roles_on_the_page(tmp_path: Path) -> None:
    need_chromium()
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with running_gateway(settings) as client, chromium() as page:
        services = client.gateway.services
        assert services is not None
        await services.users.add("vera", "viewer", PASSWORD)
        vera = await client.sign_in("vera", PASSWORD)
        admin = await client.sign_in("admin", client.admin_password())
        await page.goto(client.url("/static/users.html"))
        await sign_in(page, "admin", client.admin_password())
        assert "Users" in await page.evaluate("[...document.querySelectorAll('nav a')].map(a => a.textContent)")
        await page.wait_for("document.querySelectorAll('#users-table tbody tr').length === 2")
        vera_row = ROW.format(name="vera")
        assert await page.evaluate(f"document.querySelector('{vera_row} td:nth-of-type(4)').textContent") != "never"

        await page.evaluate(f"document.querySelector('{vera_row} button.disable').click()")
        await page.wait_for(f"document.querySelector('{vera_row}').dataset.enabled === 'false'")
        assert await page.evaluate("document.getElementById('users-result').textContent") == (
            "vera is disabled; their sessions have ended.")
        await api(client, "GET", "/api/v1/cameras", vera, 401)
        await page.evaluate(f"document.querySelector('{vera_row} button.enable').click()")
        await page.wait_for(f"document.querySelector('{vera_row}').dataset.enabled === 'true'")

        await page.evaluate(f"(() => {{ const s = document.querySelector('{vera_row} select[name=role]');"
                            " s.value = 'operator'; s.dispatchEvent(new Event('change')); })()")
        await page.wait_for("document.getElementById('users-result').textContent === 'vera is now operator.'")
        listed = {u["username"]: u for u in (await api(client, "GET", "/api/v1/users", admin, 200))["users"]}
        assert (listed["vera"]["role"], listed["vera"]["enabled"]) == ("operator", True)

        admin_row = ROW.format(name="admin")
        await page.evaluate(f"(() => {{ const s = document.querySelector('{admin_row} select[name=role]');"
                            " s.value = 'viewer'; s.dispatchEvent(new Event('change')); })()")
        await page.wait_for("document.getElementById('users-result').className === 'error'")
        assert "last enabled administrator" in await page.evaluate("document.getElementById('users-result').textContent")
        assert await page.evaluate(f"document.querySelector('{admin_row} select[name=role]').value") == "admin"
        await page.screenshot(ARTIFACTS / "users-admin.png")

        await page.evaluate("(() => { const s = document.getElementById('lang'); s.value = 'id';"
                            " s.dispatchEvent(new Event('change')); })()")
        await page.wait_for("document.querySelector('h1').textContent === 'Pengguna'")
        assert await page.evaluate(f"document.querySelector('{vera_row} button.disable').textContent") == "Nonaktifkan"
        assert page.errors == [], page.errors
