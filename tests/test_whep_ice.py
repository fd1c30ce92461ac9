"""WebRTC beyond one LAN, end to end: the gateway's STUN/TURN servers (Debian's coturn on loopback)
in its answers, Link headers, OPTIONS and pages; the local addresses offered and a NAT 1:1 address;
trickle ICE by PATCH without a bearer, as MediaMTX's WHEP reader sends it; and the session caps
under a burst of offers. Real gateway, GStreamer camera, aiortc peers and Debian's Chromium.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aioice.ice import get_host_addresses
from aiortc import RTCConfiguration, RTCIceServer, RTCSessionDescription
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from core.config import CameraConfig
from tests.browser import chromium
from tests.fixtures_camera import CameraServer
from tests.fixtures_turn import TurnServer
from tests.gatewayutil import Client, approved_disposition, make_settings, running_gateway
from tests.test_browser_wall import need_chromium, sign_in
from tests.test_whep import FAST, Viewer, problem, wait_online

PASSWORD = "password-123"
SDP = {"Content-Type": "application/sdp"}
FRAG = {"Content-Type": "application/trickle-ice-sdpfrag"}


def sqlite(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"


def candidates(sdp: str) -> list[list[str]]:
    """The fields of every a=candidate line."""
    return [line[len("a=candidate:"):].split() for line in sdp.splitlines() if line.startswith("a=candidate:")]


def link(url: str, username: str | None = None, credential: str | None = None) -> str:
    """A Link header value as the WHEP draft and MediaMTX write it."""
    value = f'<{url}>; rel="ice-server"'
    if username is not None and credential is not None:
        quote = lambda v: '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'  # noqa: E731
        value += f'; username={quote(username)}; credential={quote(credential)}; credential-type="password"'
    return value


async def options(client: Client, path: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client.http.options(client.url(path), headers=headers) as resp:
        await resp.read()
        return resp.status, resp.headers


async def test_turn_server_in_answers_link_headers_options_and_pages(
    tmp_path: Path, camera_server: Callable[..., CameraServer], turn_server: TurnServer
) -> None:
    need_chromium()
    server = camera_server({"live": "ball"})
    cams = [CameraConfig(id="gate", name="Gate", source=server.url("live"), **FAST)]
    settings = make_settings(tmp_path, sqlite(tmp_path), cams, webrtc={"ice_servers": turn_server.ice_servers()})
    stun = link(turn_server.stun_url)
    turn = link(turn_server.turn_url, turn_server.username, turn_server.password)
    async with running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        await wait_online(client, admin, "gate")

        # OPTIONS: Accept-Post and the servers; TURN (a secret) only for a bearer who may view.
        status, headers = await options(client, "/whep/live/gate")
        assert status == 204 and headers["Accept-Post"] == "application/sdp"
        assert headers.getall("Link") == [stun]
        assert "PATCH" in headers["Access-Control-Allow-Methods"]  # MediaMTX's reader trickles then
        status, headers = await options(client, "/whep/live/gate", admin)
        assert status == 204 and headers.getall("Link") == [stun, turn]
        assert (await options(client, "/whep/live/gate", "pnt_forged"))[0] == 401

        # A viewer that may only use relayed candidates (behind a NAT that lets nothing else
        # through) reaches the gateway through the TURN server and decodes the camera.
        relay_only = RTCConfiguration(
            iceServers=[RTCIceServer(urls=[turn_server.turn_url], username=turn_server.username,
                                     credential=turn_server.password)],
            iceTransportPolicy=RTCIceTransportPolicy.RELAY)
        viewer = Viewer(relay_only)
        try:
            offer = await viewer.offer()
            assert {c[7] for c in candidates(offer)} == {"relay"}
            async with client.http.post(client.url("/whep/live/gate"), data=offer,
                                        headers={**SDP, "Authorization": f"Bearer {admin}"}) as resp:
                answer = await resp.text()
                assert resp.status == 201, answer
                assert resp.headers.getall("Link") == [stun, turn]
            # The gateway's own peer used the servers: relayed and server-reflexive candidates.
            assert {"host", "srflx", "relay"} <= {c[7] for c in candidates(answer)}
            await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            frame = await viewer.first_frame(within=10)
            assert (frame.width, frame.height) == (640, 360)
        finally:
            await viewer.close()

        # The pages' configuration: signed in, or the holder of a disposition link.
        await problem(client, "GET", "/api/v1/webrtc/config", 401)
        body = await client.get_json("/api/v1/webrtc/config", admin)
        assert body == {"iceServers": turn_server.ice_servers()}
        users = client.gateway.services.users  # type: ignore[union-attr]
        await users.add("ops", "operator", PASSWORD)
        await users.add("sup", "supervisor", PASSWORD)
        ops, sup = await client.sign_in("ops", PASSWORD), await client.sign_in("sup", PASSWORD)
        now = datetime.now(UTC)
        token, _ = await approved_disposition(client, ops, sup, "gate", now - timedelta(minutes=5), now, max_views=3)
        assert await client.get_json("/api/v1/webrtc/config", token) == {"iceServers": turn_server.ice_servers()}
        # A token with a broken signature is not ours: 401 before the route (gateway/refusallog.py).
        await problem(client, "GET", "/api/v1/webrtc/config", 401, token[:-4] + "AAAA")
        status, headers = await options(client, "/whep/playback/gate", token)
        assert status == 204 and headers.getall("Link") == [stun, turn]
        # A playback's answer names them too.
        player = Viewer()
        try:
            window = f"start={(now - timedelta(minutes=5)).isoformat()}&end={now.isoformat()}".replace("+00:00", "Z")
            async with client.http.post(client.url(f"/whep/playback/gate?{window}"), data=await player.offer(),
                                        headers={**SDP, "Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == 201, await resp.text()
                assert resp.headers.getall("Link") == [stun, turn]
                assert "typ relay" in await resp.text()
        finally:
            await player.close()

        async with chromium() as page:
            # The wall's tile builds its peer with the gateway's servers, and still decodes.
            await page.goto(client.url("/"))
            await sign_in(page, "admin", client.admin_password())
            await page.wait_for("""(async () => { const t = document.querySelector('.tile[data-camera]');
              if (!t || !t.pc) return false; let frames = 0;
              (await t.pc.getStats()).forEach(r => { if (r.type === 'inbound-rtp') frames = r.framesDecoded || 0; });
              return frames > 0; })()""", within_s=20)
            servers = await page.evaluate(
                "document.querySelector('.tile[data-camera]').pc.getConfiguration().iceServers")
            # (Chromium reports an absent username or credential as "".)
            assert servers == [
                {"urls": [turn_server.stun_url], "username": "", "credential": ""},
                {"urls": [turn_server.turn_url], "username": turn_server.username, "credential": turn_server.password},
            ], servers

            # The external viewer (view.html, a disposition link) gets them with its token.
            await page.send("Page.addScriptToEvaluateOnNewDocument", source="""
              window.__configs = []; const Peer = window.RTCPeerConnection;
              window.RTCPeerConnection = function (config) { window.__configs.push(config); return new Peer(config); };
              window.RTCPeerConnection.prototype = Peer.prototype;""")
            await page.goto(client.url(f"/static/view.html#token={token}"))
            await page.wait_for("!!document.querySelector('.player button.primary')")
            await page.evaluate("document.querySelector('.player button.primary').click()")
            configs = await page.wait_for("window.__configs.length > 0 && window.__configs")
            assert json.loads(json.dumps(configs[0]))["iceServers"] == turn_server.ice_servers()


def local_addresses() -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses aioice gathers host candidates on (all but 127.0.0.1)."""
    return [ipaddress.ip_address(a) for a in get_host_addresses(use_ipv4=True, use_ipv6=True)]


def without_candidates(sdp: str) -> str:
    """An SDP with no a=candidate or a=end-of-candidates line: a trickling client's first offer,
    or (for the client below) an answer whose candidates it does not use."""
    return "".join(line + "\r\n" for line in sdp.splitlines()
                   if not line.startswith(("a=candidate:", "a=end-of-candidates")))


def fragment(offer: str, *lines: str, ufrag: str | None = None) -> str:
    """A trickle-ice-sdpfrag for the offer's first media section, as MediaMTX's WHEP reader writes
    one (its m= line, a=mid, a=ice-ufrag, a=ice-pwd), with `lines` after."""
    media = next(line for line in offer.splitlines() if line.startswith("m="))
    attr = {k: v for k, _, v in (line[2:].partition(":") for line in offer.splitlines() if line.startswith("a="))}
    return "\r\n".join([media, f"a=mid:{attr['mid']}", f"a=ice-ufrag:{ufrag or attr['ice-ufrag']}",
                        f"a=ice-pwd:{attr['ice-pwd']}", *lines]) + "\r\n"


async def test_trickled_candidates_by_patch_without_a_bearer(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    addresses = local_addresses()
    ipv4 = next(a for a in addresses if a.version == 4)
    server = camera_server({"live": "ball"})
    cams = [CameraConfig(id="gate", source=server.url("live"), **FAST)]
    # Offer only one local address; a NAT 1:1 forwards 203.0.113.7 (and an IPv6 one) to this machine.
    settings = make_settings(tmp_path, sqlite(tmp_path), cams, webrtc={
        "interfaces": [str(ipv4)], "additional_hosts": ["203.0.113.7", "2001:db8::7"]})
    async with running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        await wait_online(client, admin, "gate")
        await problem(client, "PATCH", "/whep/sessions/AAAAAAAAAAAAAAAAAAAAAAAA", 404,
                      data="a=end-of-candidates\r\n", headers=dict(FRAG))
        status, headers = await options(client, "/whep/playback/gate")
        assert status == 204 and headers["Accept-Post"] == "application/sdp" and "Link" not in headers

        viewer = Viewer()
        try:
            full_offer = await viewer.offer()
            trickled = [line for line in full_offer.splitlines() if line.startswith("a=candidate:")]
            assert trickled
            async with client.http.post(client.url("/whep/live/gate"), data=without_candidates(full_offer),
                                        headers={**SDP, "Authorization": f"Bearer {admin}"}) as resp:
                answer = await resp.text()
                assert resp.status == 201, answer
                location, etag = resp.headers["Location"], resp.headers["ETag"]

            # Only the chosen interface, and the NAT's address on that candidate's port; the IPv6
            # one has no local IPv6 candidate to share a port with.
            offered = candidates(answer)
            hosts = {(c[4], c[5]) for c in offered if c[7] == "host"}
            port = next(p for h, p in hosts if h == str(ipv4))
            assert hosts == {(str(ipv4), port), ("203.0.113.7", port)}, hosts

            # Refusals: each says why, and changes nothing.
            await problem(client, "PATCH", location, 415, data=fragment(full_offer, trickled[0]),
                          headers={"Content-Type": "text/plain"})
            await problem(client, "PATCH", location, 412, data=fragment(full_offer, trickled[0]),
                          headers={**FRAG, "If-Match": '"someone-else"'})
            await problem(client, "PATCH", location, 400, data="a=candidate:1 1 udp nonsense\r\n", headers=dict(FRAG))
            body = await problem(client, "PATCH", location, 422, headers=dict(FRAG),
                                 data=fragment(full_offer, trickled[0], ufrag="restart1234"))
            assert "restart" in body["detail"]

            # The candidates, one PATCH each as MediaMTX's reader sends them, with no bearer; then
            # the end. The client ignores the answer's candidates, so the two peers meet only if
            # the gateway checks towards the trickled ones.
            for line in trickled:
                async with client.http.patch(client.url(location), data=fragment(full_offer, line),
                                             headers={**FRAG, "If-Match": etag}) as resp:
                    assert resp.status == 204, await resp.text()
            async with client.http.patch(client.url(location), data=fragment(full_offer, "a=end-of-candidates"),
                                         headers=dict(FRAG)) as resp:
                assert resp.status == 204
            await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=without_candidates(answer), type="answer"))
            frame = await viewer.first_frame(within=10)
            assert (frame.width, frame.height) == (640, 360)
            # Ended by its owner while the viewer is still there (once the viewer's peer closes, the
            # gateway may end the session by itself first, and the DELETE would find nothing).
            async with client.http.delete(client.url(location), headers={"Authorization": f"Bearer {admin}"}) as resp:
                assert resp.status == 200
        finally:
            await viewer.close()
        await problem(client, "PATCH", location, 404, data=fragment(full_offer, trickled[0]), headers=dict(FRAG))


async def post_offer(client: Client, path: str, offer: str, token: str) -> tuple[int, Any, str]:
    async with client.http.post(client.url(path), data=offer,
                                headers={**SDP, "Authorization": f"Bearer {token}"}) as resp:
        return resp.status, resp.headers, await resp.text()


async def metric(client: Client, name: str) -> float:
    async with client.http.get(client.url("/metrics")) as resp:
        text = await resp.text()
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, name
    return float(match.group(1))


async def test_session_caps_hold_under_a_burst_of_offers(tmp_path: Path) -> None:
    # An offline camera is accepted (its video starts when it returns): no camera server needed.
    cams = [CameraConfig(id="lobby", source="demo://pattern", enabled=False)]
    settings = make_settings(tmp_path, sqlite(tmp_path), cams,
                             webrtc={"max_sessions": 10, "max_sessions_per_user": 3})
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None
        names = ["ops1", "ops2", "ops3", "ops4"]
        for name in names:
            await services.users.add(name, "operator", PASSWORD)
        tokens = {name: await client.sign_in(name, PASSWORD) for name in names}
        # One offer serves every POST (each gets its own peer on the gateway). Without candidates
        # the gateway's peers wait for trickled ones (up to 30 s) instead of failing ICE at once.
        probe = Viewer()
        try:
            offer = without_candidates(await probe.offer())
        finally:
            await probe.close()

        # 100 offers at once from four users (25 each): at most 3 per user, 10 in all, exactly.
        burst = [(name, post_offer(client, "/whep/live/lobby", offer, tokens[name])) for name in names * 25]
        results = await asyncio.gather(*(call for _, call in burst))
        statuses = [status for status, _, _ in results]
        assert statuses.count(201) == 10 and statuses.count(503) == 90, statuses
        assert all(headers["Retry-After"].isdigit() for status, headers, _ in results if status == 503)
        per_user = {name: sum(1 for (n, _), (s, _, _) in zip(burst, results, strict=True) if n == name and s == 201)
                    for name in names}
        assert all(1 <= n <= 3 for n in per_user.values()), per_user
        details = {json.loads(body)["detail"] for status, _, body in results if status == 503}
        assert any("webrtc.max_sessions)" in d for d in details), details
        assert await metric(client, "pantau_whep_sessions_reserved") == 10
        assert await metric(client, 'pantau_whep_sessions_refused_total{cap="max_sessions"}') + await metric(
            client, 'pantau_whep_sessions_refused_total{cap="max_sessions_per_user"}') == 90

        # Closed sessions give their places back: new ones open again.
        for (name, _), (status, headers, _) in zip(burst, results, strict=True):
            if status == 201:
                async with client.http.delete(client.url(headers["Location"]),
                                              headers={"Authorization": f"Bearer {tokens[name]}"}) as resp:
                    assert resp.status == 200
        assert await metric(client, "pantau_whep_sessions_reserved") == 0
        owners = names * 2
        again = await asyncio.gather(*(post_offer(client, "/whep/live/lobby", offer, tokens[n]) for n in owners))
        assert [status for status, _, _ in again] == [201] * 8
        for name, (_, headers, _) in zip(owners, again, strict=True):
            async with client.http.delete(client.url(headers["Location"]),
                                          headers={"Authorization": f"Bearer {tokens[name]}"}) as resp:
                assert resp.status == 200

        # A disposition link counts as one viewer: its fourth playback is refused before it uses a view.
        ops, sup = "ops1", "sup"
        await services.users.add(sup, "supervisor", PASSWORD)
        now = datetime.now(UTC)
        token, token_id = await approved_disposition(
            client, tokens[ops], await client.sign_in(sup, PASSWORD), "lobby", now - timedelta(minutes=10), now,
            max_views=10)
        window = f"start={(now - timedelta(minutes=10)).isoformat()}&end={now.isoformat()}".replace("+00:00", "Z")
        played = [await post_offer(client, f"/whep/playback/lobby?{window}", offer, token) for _ in range(4)]
        assert [status for status, _, _ in played] == [201, 201, 201, 503], played
        assert "max_sessions_per_user" in json.loads(played[3][2])["detail"]
        disposition = await client.get_json(f"/api/v1/dispositions/{token_id}", tokens[ops])
        assert disposition["views_used"] == 3
