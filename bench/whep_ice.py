"""WHEP networking benchmark: what STUN/TURN servers, trickle ICE and the session caps cost a viewer.

    .venv/bin/python bench/whep_ice.py [--sessions N] [--no-results]

One gateway per side (in this process, SQLite, recording off) with one GStreamer test camera
(640x360 "ball"), and aiortc viewers on this machine. Sides, each N sessions one after the other:

  * reference: no `webrtc.ice_servers` (host candidates only: the gateway before this work);
  * servers:   coturn on loopback as STUN and TURN; the viewer may use every candidate;
  * relay:     the same servers; the viewer may use relayed candidates only (media through TURN);
  * trickle:   no servers; the viewer posts its offer without candidates and PATCHes them after.

Per session: POST -> 201 (the gateway negotiates and gathers), and 201 -> the first decoded frame.
Then a burst: 100 offers at once against `max_sessions: 10`, timed until every one is answered.
Results (ratios to the reference) are appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiortc import RTCConfiguration, RTCIceServer, RTCSessionDescription  # noqa: E402
from aiortc.rtcconfiguration import RTCIceTransportPolicy  # noqa: E402

from core.config import CameraConfig  # noqa: E402
from tests.fixtures_camera import CameraServer  # noqa: E402
from tests.fixtures_turn import TurnServer, running_turn  # noqa: E402
from tests.gatewayutil import Client, make_settings, running_gateway  # noqa: E402
from tests.test_whep import Viewer, wait_online  # noqa: E402
from tests.test_whep_ice import fragment, without_candidates  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SDP = {"Content-Type": "application/sdp"}
FRAG = {"Content-Type": "application/trickle-ice-sdpfrag"}


async def one_session(client: Client, token: str, side: str, turn: TurnServer | None) -> tuple[float, float]:
    """(POST -> 201, 201 -> first frame) in seconds for one viewer of `side`."""
    config = None
    if side == "relay" and turn is not None:
        config = RTCConfiguration(iceServers=[RTCIceServer(urls=[turn.turn_url], username=turn.username,
                                                           credential=turn.password)],
                                  iceTransportPolicy=RTCIceTransportPolicy.RELAY)
    viewer = Viewer(config)
    try:
        offer = await viewer.offer()
        body = without_candidates(offer) if side == "trickle" else offer
        started = time.monotonic()
        async with client.http.post(client.url("/whep/live/cam"), data=body,
                                    headers={**SDP, "Authorization": f"Bearer {token}"}) as resp:
            answer = await resp.text()
            assert resp.status == 201, answer
            location = resp.headers["Location"]
        answered = time.monotonic()
        if side == "trickle":
            lines = [line for line in offer.splitlines() if line.startswith("a=candidate:")]
            async with client.http.patch(client.url(location), data=fragment(offer, *lines, "a=end-of-candidates"),
                                         headers=FRAG) as resp:
                assert resp.status == 204
        await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await viewer.first_frame(within=15)
        framed = time.monotonic()
        async with client.http.delete(client.url(location), headers={"Authorization": f"Bearer {token}"}):
            pass
        return answered - started, framed - answered
    finally:
        await viewer.close()


async def burst(client: Client, token: str) -> tuple[float, int, int]:
    """100 offers at once (max_sessions 10): seconds until all are answered, 201s, 503s."""
    probe = Viewer()
    try:
        offer = without_candidates(await probe.offer())
    finally:
        await probe.close()

    async def post() -> tuple[int, str]:
        async with client.http.post(client.url("/whep/live/cam"), data=offer,
                                    headers={**SDP, "Authorization": f"Bearer {token}"}) as resp:
            await resp.read()
            return resp.status, resp.headers.get("Location", "")

    started = time.monotonic()
    results = await asyncio.gather(*(post() for _ in range(100)))
    took = time.monotonic() - started
    for status, location in results:
        if status == 201:
            async with client.http.delete(client.url(location), headers={"Authorization": f"Bearer {token}"}):
                pass
    statuses = [s for s, _ in results]
    return took, statuses.count(201), statuses.count(503)


async def side_run(work: Path, camera: CameraServer, side: str, turn: TurnServer | None, n: int) -> dict[str, Any]:
    webrtc: dict[str, Any] = {"max_sessions": 10, "max_sessions_per_user": 100}
    if side in ("servers", "relay") and turn is not None:
        webrtc["ice_servers"] = turn.ice_servers()
    directory = work / side
    directory.mkdir()
    settings = make_settings(directory, f"sqlite+aiosqlite:///{directory / 'p.db'}",
                             [CameraConfig(id="cam", source=camera.url("live"), record=False)],
                             webrtc=webrtc, logging={"level": "WARNING"})
    async with running_gateway(settings) as client:
        token = await client.sign_in("admin", client.admin_password())
        await wait_online(client, token, "cam")
        await one_session(client, token, side, turn)  # warm-up
        timings = [await one_session(client, token, side, turn) for _ in range(n)]
        out: dict[str, Any] = {"answer": [t[0] for t in timings], "frame": [t[1] for t in timings]}
        if side == "reference":
            out["burst"] = await burst(client, token)
        return out


def _commit() -> str:
    return subprocess.run(["git", "log", "-1", "--format=%h %ci"], cwd=ROOT, capture_output=True, text=True,
                          check=False).stdout.strip()


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def worst_ms(values: list[float]) -> float:
    return max(values) * 1000


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="pantau-bench-ice-"))
    camera = CameraServer({"live": "ball"})
    camera.start()
    load_start = os.getloadavg()[0]
    started = time.monotonic()
    try:
        with running_turn(work / "coturn") as turn:
            results = {side: await side_run(work, camera, side, turn, args.sessions)
                       for side in ("reference", "servers", "relay", "trickle")}
    finally:
        camera.stop()
    ref = results["reference"]
    commit = await asyncio.to_thread(_commit)
    lines = [
        f"## WHEP networking (bench/whep_ice.py), {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- Code: {commit}",
        f"- Machine: {os.cpu_count()} CPUs, {platform.platform()}; load average {load_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end",
        f"- One gateway per side (SQLite, recording off), camera tests/camera_server.py `ball` 640x360; coturn "
        f"on loopback; aiortc viewers on this machine; {args.sessions} sessions per side after one warm-up, "
        "one after the other.",
        "",
        "| side | POST -> 201 median ms (worst) | ratio to reference | 201 -> first frame median ms (worst) | ratio |",
        "|---|---|---|---|---|",
    ]
    for side, out in results.items():
        lines.append(
            f"| {side} | {median_ms(out['answer']):.0f} ({worst_ms(out['answer']):.0f}) | "
            f"{median_ms(out['answer']) / median_ms(ref['answer']):.2f}x | "
            f"{median_ms(out['frame']):.0f} ({worst_ms(out['frame']):.0f}) | "
            f"{median_ms(out['frame']) / median_ms(ref['frame']):.2f}x |")
    took, ok, busy = ref["burst"]
    lines += [
        "",
        f"- Burst: 100 offers at once against `max_sessions: 10` were all answered in {took:.2f} s: "
        f"{ok} x 201, {busy} x 503 (the refused ones before any negotiation).",
        f"- Bench wall time {(time.monotonic() - started) / 60:.1f} min.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_results:
        with RESULTS.open("a") as results_file:
            results_file.write("\n" + text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--no-results", action="store_true")
    asyncio.run(main(parser.parse_args()))
