"""Glass-to-glass latency on loopback, and WHEP playback time to first frame.

    .venv/bin/python bench/latency.py [--seconds 30] [--size 1920x1080] [--bitrate 3000]
                                      [--playbacks 5] [--no-results]

The camera is tests/camera_server.py's `clock` mount: each frame carries the wall clock (ms, as
two rows of black/white blocks, value and complement) drawn the moment it is handed to x264
(zerolatency). Latency = time.time() when a decoded frame is in the viewer's hands minus the
time read from its blocks. Three paths, one after the other, against the same camera:

  * direct: PyAV opens the RTSP URL and decodes (camera + RTSP + decode: the floor);
  * pantau: the real gateway (bench/viewers.py's server, recording on), one aiortc viewer
    POSTing to /whep/live/cam and decoding every frame with aiortc's own receiver;
  * bare:   the bare aiortc server of bench/viewers.py (MediaPlayer + MediaRelay), same viewer.

Then, on the same gateway: POST /whep/playback/cam?start=&end= over the recording just made,
--playbacks times; time from sending the POST to the first decoded frame.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import av  # noqa: E402
import numpy as np  # noqa: E402

import ingest  # noqa: E402
import viewers  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
TARGET_MS = 300
PLAYBACK_TARGET_S = 1.0
WARMUP_S = 3.0  # frames of the first seconds of each path are dropped (start-up backlog)
# tests/camera_server.py's clock mount: 32 bits per row (see clock_block / clock_frame there).
CLOCK_BITS = 32


def clock_block(width: int) -> int:
    """Same formula as tests/camera_server.py (which needs gi and cannot be imported here)."""
    return max(16, (width // 40) // 16 * 16)


def read_clock(frame: av.VideoFrame) -> int | None:
    """The ms value drawn into a frame, or None if the two rows do not agree (not a clock frame)."""
    block = clock_block(frame.width)
    plane = frame.planes[0]
    luma = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
    if luma.shape[0] < 2 * block or frame.width < CLOCK_BITS * block:
        return None
    q = block // 4
    cells = luma[: 2 * block, : CLOCK_BITS * block].reshape(2, block, CLOCK_BITS, block)
    bits = cells[:, q:3 * q, :, q:3 * q].mean(axis=(1, 3)) > 128
    value, complement = (int("".join("1" if b else "0" for b in row), 2) for row in bits)
    if value ^ complement != 0xFFFFFFFF:
        return None
    return value


class Latencies:
    """ms per decoded frame after the warm-up; frames whose blocks did not read back counted."""

    def __init__(self) -> None:
        self.ms: list[int] = []
        self.unreadable = 0
        self.frames = 0
        self.size: tuple[int, int] | None = None
        self._start = time.monotonic()

    def add(self, frame: av.VideoFrame) -> None:
        now = int(time.time() * 1000) & 0xFFFFFFFF
        self.frames += 1
        self.size = (frame.width, frame.height)
        value = read_clock(frame)
        if value is None:
            self.unreadable += 1
        elif time.monotonic() - self._start >= WARMUP_S:
            self.ms.append((now - value) & 0xFFFFFFFF)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.ms)
        if not ordered:
            return {"n": 0, "frames": self.frames, "unreadable": self.unreadable}

        def q(f: float) -> int:
            return ordered[min(len(ordered) - 1, int(f * len(ordered)))]

        return {"n": len(ordered), "frames": self.frames, "unreadable": self.unreadable, "size": self.size,
                "p50": q(0.5), "p95": q(0.95), "max": ordered[-1], "min": ordered[0],
                "mean": round(statistics.fmean(ordered), 1)}


def direct(url: str, seconds: float) -> dict[str, Any]:
    """PyAV straight from the camera: the latency floor without any WebRTC or gateway."""
    lat = Latencies()
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(10, 5)) as container:
        end = time.monotonic() + WARMUP_S + seconds
        for frame in container.decode(video=0):
            lat.add(frame)
            if time.monotonic() > end:
                break
    return lat.summary()


async def aiortc_viewer(post_url: str, headers: dict[str, str], seconds: float) -> dict[str, Any]:
    """One aiortc peer (its own receiver and decoder) POSTing an offer; latency of every frame."""
    import aiohttp
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    lat = Latencies()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    tracks: asyncio.Queue[Any] = asyncio.Queue()
    pc.on("track", tracks.put_nowait)
    pc.addTransceiver("video", direction="recvonly")
    try:
        await pc.setLocalDescription(await pc.createOffer())
        async with aiohttp.ClientSession() as http, http.post(
                post_url, data=pc.localDescription.sdp, headers={**headers, "Content-Type": "application/sdp"}
        ) as resp:
            answer = await resp.text()
            if resp.status not in (200, 201):
                raise RuntimeError(f"offer refused: {resp.status} {answer[:300]}")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        track = await asyncio.wait_for(tracks.get(), 10)
        end = time.monotonic() + WARMUP_S + seconds
        while time.monotonic() < end:
            lat.add(await asyncio.wait_for(track.recv(), 5))
    finally:
        await pc.close()
    return lat.summary()


async def playback_first_frame(port: int, token: str, start: dt.datetime, end: dt.datetime) -> float:
    """POST /whep/playback/cam for [start, end); seconds from sending the POST to the first decoded frame."""
    import aiohttp
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    tracks: asyncio.Queue[Any] = asyncio.Queue()
    pc.on("track", tracks.put_nowait)
    pc.createDataChannel("control")
    pc.addTransceiver("video", direction="recvonly")

    def z(at: dt.datetime) -> str:
        return at.isoformat().replace("+00:00", "Z")

    try:
        await pc.setLocalDescription(await pc.createOffer())
        url = f"http://127.0.0.1:{port}/whep/playback/{viewers.CAMERA}?start={z(start)}&end={z(end)}"
        posted = time.monotonic()
        async with aiohttp.ClientSession() as http, http.post(
                url, data=pc.localDescription.sdp,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"}) as resp:
            answer = await resp.text()
            if resp.status != 201:
                raise RuntimeError(f"playback refused: {resp.status} {answer[:300]}")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        track = await asyncio.wait_for(tracks.get(), 10)
        await asyncio.wait_for(track.recv(), 10)
        return time.monotonic() - posted
    finally:
        await pc.close()


async def sign_in(port: int, password: str) -> str:
    import aiohttp

    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/v1/session", json={"username": "admin", "password": password}) as r:
            token = str((await r.json())["token"])
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(300):
            async with http.get(f"{base}/api/v1/cameras/{viewers.CAMERA}", headers=headers) as r:
                if (await r.json())["state"] == "online":
                    return token
            await asyncio.sleep(0.1)
    raise RuntimeError("the camera did not come online")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.fixtures_camera import CameraServer

    out: dict[str, Any] = {}
    camera = CameraServer({"clock": "clock"}, size=args.size, bitrate=args.bitrate)
    camera.start()
    try:
        url = camera.url("clock")
        ingest.log("direct (PyAV decode of the RTSP stream)")
        out["direct"] = direct(url, args.seconds)
        ingest.log(f"  {out['direct']}")
        with tempfile.TemporaryDirectory(prefix="bench-latency-", dir=viewers.OUT) as tmp:
            work = Path(tmp)
            server, port = viewers.start_server("pantau", url, work, record=True)
            try:
                password = (work / "data" / "initial-admin-password").read_text().strip()
                token = asyncio.run(sign_in(port, password))
                began = dt.datetime.now(dt.UTC)
                ingest.log("pantau (WHEP live, aiortc viewer)")
                s0 = ingest.proc_cpu_s(server.pid)
                out["pantau"] = asyncio.run(aiortc_viewer(
                    f"http://127.0.0.1:{port}/whep/live/{viewers.CAMERA}", {"Authorization": f"Bearer {token}"},
                    args.seconds))
                ingest.log(f"  {out['pantau']}")
                out["pantau_server_cores"] = ((ingest.proc_cpu_s(server.pid) or 0) - (s0 or 0)) / (
                    args.seconds + WARMUP_S)
                if args.playbacks:
                    # A window well inside what was recorded during the live run (4 s segments).
                    start = began + dt.timedelta(seconds=4)
                    end = start + dt.timedelta(seconds=min(10.0, args.seconds / 2))
                    ingest.log(f"pantau playback x{args.playbacks}: {start:%H:%M:%S}-{end:%H:%M:%S}")
                    out["playback_s"] = [round(asyncio.run(playback_first_frame(port, token, start, end)), 3)
                                         for _ in range(args.playbacks)]
                    ingest.log(f"  first frame {out['playback_s']}")
            finally:
                ingest.stop_all([server])
        if "bare" in args.paths:
            with tempfile.TemporaryDirectory(prefix="bench-latency-", dir=viewers.OUT) as tmp:
                server, port = viewers.start_server("bare", url, Path(tmp))
                try:
                    ingest.log("bare aiortc (MediaPlayer + MediaRelay, aiortc viewer)")
                    out["bare"] = asyncio.run(aiortc_viewer(f"http://127.0.0.1:{port}/offer", {}, args.seconds))
                    ingest.log(f"  {out['bare']}")
                finally:
                    ingest.stop_all([server])
    finally:
        camera.stop()
    return out


def render(res: dict[str, Any], args: argparse.Namespace) -> str:
    import aiortc

    info = ingest.versions()
    load = Path("/proc/loadavg").read_text().split()[:3]
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"## Glass-to-glass latency and playback first frame (bench/latency.py), {today}", "",
           f"- Code: {info['commit'].split(' + ')[0]}", f"- Machine: {info['machine']}",
           f"- Python {info['python']}; aiortc {aiortc.__version__}; {info['pyav']}",
           f"- Command: `.venv/bin/python bench/latency.py {' '.join(args.argv)}`".rstrip(),
           f"- Load average when the report was written: {' '.join(load)}",
           f"- Camera: tests/camera_server.py `clock` mount, {args.size} 25 fps, x264 zerolatency veryfast "
           f"{args.bitrate} kbit/s, GOP 50; {args.seconds:g} s per path after {WARMUP_S:g} s dropped", "",
           f"| path | frames measured | p50 ms | p95 ms | max ms | min ms | unreadable frames | "
           f"target < {TARGET_MS} ms |", "|---|---|---|---|---|---|---|---|"]
    labels = {"direct": "camera -> PyAV decode (no gateway, the floor)",
              "pantau": "camera -> Pantau -> WHEP -> aiortc viewer",
              "bare": "camera -> bare aiortc (MediaPlayer) -> aiortc viewer"}
    for key, label in labels.items():
        r = res.get(key)
        if not r:
            continue
        if not r.get("n"):
            out.append(f"| {label} | 0 | - | - | - | - | {r.get('unreadable')} | no frames |")
            continue
        met = "yes" if r["p95"] < TARGET_MS else "**no**"
        out.append(f"| {label} | {r['n']} ({r['size'][0]}x{r['size'][1]}) | {r['p50']} | {r['p95']} | {r['max']} | "
                   f"{r['min']} | {r['unreadable']} | {met} (p95) |")
    if "pantau" in res and "direct" in res and res["pantau"].get("n") and res["direct"].get("n"):
        out += ["", f"Pantau adds {res['pantau']['p50'] - res['direct']['p50']} ms at p50 over the direct decode "
                f"(gateway server {res.get('pantau_server_cores', 0):.3f} cores during the live run)."]
    if res.get("playback_s"):
        ps = res["playback_s"]
        out += ["", f"WHEP playback, POST to first decoded frame (x{len(ps)}): median {statistics.median(ps):.3f} s, "
                f"max {max(ps):.3f} s (target < {PLAYBACK_TARGET_S:g} s): {', '.join(f'{v:.3f}' for v in ps)}"]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0, help="measured seconds per path")
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--bitrate", type=int, default=3000, help="kbit/s")
    ap.add_argument("--playbacks", type=int, default=5, help="playback sessions to time (0: none)")
    ap.add_argument("--paths", default="direct,pantau,bare")
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()
    args.argv = sys.argv[1:]
    viewers.OUT.mkdir(parents=True, exist_ok=True)
    res = run(args)
    text = render(res, args)
    print(text)
    if not args.no_results:
        with open(RESULTS, "a") as f:
            f.write("\n" + text + "\n")
        ingest.log(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
