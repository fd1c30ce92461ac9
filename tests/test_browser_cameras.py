"""The administrator's camera page in headless Chromium: find an ONVIF camera on the network,
add it by its address alone, change it, take it out of service; others are not offered it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from core.config import CameraConfig
from tests.browser import chromium
from tests.fixtures_onvif import OnvifDevice
from tests.gatewayutil import make_settings, running_gateway
from tests.test_browser_wall import ARTIFACTS, PASSWORD, need_chromium, sign_in, sign_out

pytestmark = pytest.mark.slow


@pytest.mark.timeout(150)
async def test_admin_finds_adds_changes_and_takes_a_camera_out_of_service(
    tmp_path: Path, onvif_device: Callable[..., OnvifDevice]
) -> None:
    need_chromium()
    device = onvif_device()
    cams = [CameraConfig(id="gate", name="Gate", source="rtsp://127.0.0.1:9/x", enabled=False)]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams)
    async with running_gateway(settings) as client, chromium() as page:
        await client.gateway.services.users.add("ops", "operator", PASSWORD)  # type: ignore[union-attr]
        await page.goto(client.url("/static/cameras.html"))
        await sign_in(page, "admin", client.admin_password())
        row = "document.querySelector('#cams-table tr[data-camera=\"{}\"]')"
        await page.wait_for(f"{row.format('gate')}?.textContent.includes('in the config file')")
        assert await page.evaluate(f"!{row.format('gate')}.querySelector('button')")

        # Find: a directed probe with the camera's credentials lists its model and profiles.
        await page.evaluate(f"""(() => {{ const f = document.getElementById('find-form').elements;
          f.targets.value = '127.0.0.1:{device.discovery_port}'; f.timeout.value = '2';
          f.username.value = {json.dumps(device.user)}; f.password.value = {json.dumps(device.password)};
          document.getElementById('find-form').requestSubmit(); }})()""")
        found = f"document.querySelector('#find-table tr[data-address=\"127.0.0.1:{device.port}\"]')"
        await page.wait_for(f"{found}?.textContent.includes('VirtualCam-1')", within_s=15)
        assert "Profile_Sub" in await page.evaluate(f"{found}.textContent")

        # Add it by its address alone: the form is filled from the search, the admin names it.
        await page.evaluate(f"{found}.querySelector('.use-device').click()")
        await page.evaluate("""(() => { const f = document.getElementById('add-form');
          f.elements.id.value = 'dome'; f.requestSubmit(); })()""")
        await page.wait_for("document.getElementById('add-result').className === 'ok'", within_s=10)
        await page.wait_for(f"!!{row.format('dome')}?.querySelector('.badge.state-online')", within_s=40)
        camera = await client.get_json("/api/v1/cameras/dome", await client.sign_in("admin", client.admin_password()))
        assert camera["source"].startswith("onvif://") and camera["device"]["model"] == "VirtualCam-1", camera
        assert device.password not in json.dumps(camera)
        await page.evaluate("document.getElementById('cams-table').scrollIntoView()")
        await page.screenshot(ARTIFACTS / "cameras.png")

        # Change its name, then take it out of service: it stays listed, with a way back.
        await page.evaluate(f"{row.format('dome')}.querySelector('button.edit').click()")
        await page.wait_for(f"!!{row.format('dome')}?.querySelector('form.edit')")
        await page.evaluate(f"""(() => {{ const f = {row.format('dome')}.querySelector('form.edit');
          f.elements.name.value = 'Dome North'; f.requestSubmit(); }})()""")
        await page.wait_for(f"{row.format('dome')}?.querySelector('th')?.textContent === 'Dome North (dome)'",
                            within_s=15)
        await page.evaluate(f"{row.format('dome')}.querySelector('button.disable').click()")
        await page.wait_for(f"!!{row.format('dome')}?.querySelector('.badge.state-disabled')"
                            f" && !!{row.format('dome')}.querySelector('button.enable')", within_s=15)
        admin = await client.sign_in("admin", client.admin_password())
        log = await client.get_json("/api/v1/access-log?action=config_changed", admin)
        dome = [e["payload"] for e in log["entries"] if e["payload"].get("camera") == "dome"]
        assert [(c["reason"], c["details"].get("changed")) for c in dome] == [
            ("camera added", None), ("camera changed", "name"), ("camera changed", "enabled")], dome
        assert device.password not in json.dumps(log)
        assert not page.errors, page.errors

        # An operator is not offered the page, and is refused on it.
        await sign_out(page)
        await sign_in(page, "ops", PASSWORD)
        assert await page.evaluate("!document.querySelector('#shell a[href=\"/static/cameras.html\"]')")
        assert await page.evaluate("!!document.querySelector('#page .error[role=alert]')")
        assert await page.evaluate("!document.getElementById('find-form')")
