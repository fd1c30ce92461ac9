"""The RTSP restream end to end: a GStreamer camera through a real gateway to ffmpeg, with Digest
sign-in, visibility, the access log, and hostile clients beside a healthy one."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from core.config import CameraConfig
from tests.fixtures_camera import free_port
from tests.gatewayutil import Client, make_settings, running_gateway, until

pytestmark = pytest.mark.slow

PASSWORD = "nvr-password-1"
FPS = 25  # the test camera's rate


def rtsp_settings(tmp_path: Path, camera_url: str, hidden_url: str, max_clients: int = 8,
                  extra: tuple[CameraConfig, ...] = (), **camera: Any) -> Any:
    db = f"sqlite+aiosqlite:///{tmp_path / 'pantau.db'}"
    cameras = [CameraConfig(id="cam", source=camera_url, groups=["gates"], **camera),
               CameraConfig(id="vault", source=hidden_url, groups=["vault"]), *extra]
    return make_settings(
        tmp_path, db, cameras,
        access={"visibility": {"admin": ["*"], "integrator": ["gates"]}},
        restream={"rtsp": {"enabled": True, "host": "127.0.0.1", "port": free_port(), "max_clients": max_clients}},
    )


async def ffmpeg(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-hide_banner", "-nostdin", *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), 90)
    except TimeoutError:
        proc.kill()
        _out, err = await proc.communicate()
        raise AssertionError(f"ffmpeg {' '.join(args)} did not end: {err.decode(errors='replace')}") from None
    return proc.returncode or 0, err.decode(errors="replace")


async def frames_in(path: Path, stream: str = "v:0") -> int:
    return int((await probe(path, stream, "nb_read_frames")) or 0)


async def probe(path: Path, stream: str, entry: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-count_frames", "-select_streams", stream, "-show_entries",
        f"stream={entry}", "-of", "csv=p=0", str(path), stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return out.decode().strip()


async def decode_errors(path: Path) -> str:
    _rc, err = await ffmpeg("-v", "error", "-i", str(path), "-f", "null", "-")
    return err.strip()


async def rtsp_status(port: int, request: bytes) -> int:
    """Send one raw request, return the status of the answer (0: the server closed)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    match = re.match(rb"RTSP/1.0 (\d{3})", line)
    return int(match.group(1)) if match else 0


async def entries(client: Client, token: str, action: str) -> list[dict[str, Any]]:
    body = await client.get_json(f"/api/v1/access-log?action={action}&limit=1000", token)
    return [e["payload"] for e in body["entries"]]


async def test_rtsp_restream(tmp_path: Path, camera_server: Any) -> None:
    camera = camera_server({"live": "ball", "hidden": "ball"})
    settings = rtsp_settings(tmp_path, camera.url("live"), camera.url("hidden"), max_clients=1)
    port = settings.restream.rtsp.port
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None and client.gateway.rtsp is not None
        assert client.gateway.rtsp.port == port
        await services.users.add("nvr", "integrator", PASSWORD)
        await until(lambda: _async(_online(services, "cam") and _online(services, "vault")), 20, "cameras online")
        url = f"rtsp://nvr:{PASSWORD}@127.0.0.1:{port}"
        out = tmp_path / "tcp.mp4"

        # The 20 s read, over TCP, while hostile clients and one too many come and go beside it.
        reading = asyncio.create_task(ffmpeg("-v", "error", "-rtsp_transport", "tcp", "-i", f"{url}/cam",
                                             "-t", "20", "-c", "copy", "-y", str(out)))
        half_open = socket.create_connection(("127.0.0.1", port))
        half_open.sendall(b"DESCRIBE rtsp://127.0.0.1/cam RTSP/1.0\r\nCSeq: 1\r\n")  # and silence
        await asyncio.sleep(2)
        rc, err = await ffmpeg("-v", "error", "-rtsp_transport", "tcp", "-i",
                               f"rtsp://nvr:wrong-password@127.0.0.1:{port}/cam", "-t", "1", "-f", "null", "-")
        assert rc != 0 and "401" in err, err
        rc, err = await ffmpeg("-v", "error", "-rtsp_transport", "tcp", "-i", f"{url}/vault", "-t", "1",
                               "-f", "null", "-")
        assert rc != 0 and "404" in err, err
        rc, err = await ffmpeg("-v", "error", "-rtsp_transport", "tcp", "-i", f"{url}/nosuch", "-t", "1",
                               "-f", "null", "-")
        assert rc != 0 and "404" in err, err
        rc, err = await ffmpeg("-v", "error", "-rtsp_transport", "tcp", "-i", f"{url}/cam", "-t", "1", "-f", "null", "-")
        assert rc != 0 and "503" in err, err  # max_clients: 1
        assert await rtsp_status(port, b"OPTIONS rtsp://127.0.0.1/cam RTSP/1.0\r\nCSeq: 1\r\n\r\n") == 401
        assert await rtsp_status(port, b"\x16\x03\x01garbage\r\n\r\n") in (0, 400)
        huge = b"DESCRIBE rtsp://127.0.0.1/cam RTSP/1.0\r\nCSeq: 2\r\nX-Pad: " + b"a" * 100_000 + b"\r\n\r\n"
        assert await rtsp_status(port, huge) in (0, 400, 401)
        rc, err = await reading
        # The half-open client was closed by the server (restream/server.py REQUEST_TIMEOUT_S).
        half_open.settimeout(5)
        assert half_open.recv(1024) == b""
        half_open.close()
        assert rc == 0, err
        assert await decode_errors(out) == ""
        frames = await frames_in(out)
        assert 20 * FPS * 0.9 <= frames <= 20 * FPS * 1.1, frames

        # UDP, briefly.
        out_udp = tmp_path / "udp.mp4"
        rc, err = await ffmpeg("-v", "error", "-rtsp_transport", "udp", "-i", f"{url}/cam", "-t", "5",
                               "-c", "copy", "-y", str(out_udp))
        assert rc == 0, err
        assert await decode_errors(out_udp) == ""
        assert await frames_in(out_udp) >= 5 * FPS * 0.8

        admin = await client.sign_in("admin", client.admin_password())

        async def stops() -> list[dict[str, Any]]:
            found = [e for e in await entries(client, admin, "live_stop") if e["details"].get("via") == "rtsp"]
            return found if len(found) >= 2 else []

        stopped = await until(stops, 10, "two live_stop entries")
        started = [e for e in await entries(client, admin, "live_start") if e["details"].get("via") == "rtsp"]
        assert {e["details"]["transport"] for e in started} == {"tcp", "udp"}
        assert {e["details"]["transport"] for e in stopped} == {"tcp", "udp"}
        for entry in stopped:
            assert entry["actor"] == "nvr" and entry["camera"] == "cam" and entry["client"] == "127.0.0.1"
            assert entry["details"]["bytes"] > 0 and entry["details"]["duration_s"] > 4
        failed = [e for e in await entries(client, admin, "sign_in_failed") if e["details"].get("via") == "rtsp"]
        assert failed and failed[0]["actor"] == "nvr"
        denied = [e for e in await entries(client, admin, "decision")
                  if e["details"].get("via") == "rtsp" and e["outcome"] == "deny"]
        assert "vault" in {e["camera"] for e in denied}
        assert all(e["details"]["action"] == "live" for e in denied)


async def test_h265_with_its_sound_and_the_sub_stream(tmp_path: Path, camera_server: Any, silent_camera: Any) -> None:
    """H.265 with AAC passes untouched, sound and picture in one media; the sub-stream has its own mount;
    a camera that never answers is 503 at once and holds up nobody."""
    camera = camera_server({"live": "ball+h265+aac", "small": "ball+320x180", "hidden": "ball+320x180"})
    dead = CameraConfig(id="dead", source=silent_camera.url(), groups=["gates"])
    settings = rtsp_settings(tmp_path, camera.url("live"), camera.url("hidden"), substream=camera.url("small"),
                             extra=(dead,))
    port = settings.restream.rtsp.port
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None
        await services.users.add("nvr", "integrator", PASSWORD)
        await until(lambda: _async(_online(services, "cam") and services.cameras["cam"].sub is not None
                                   and bool(services.cameras["cam"].sub.hub.streams)), 20, "camera online")
        url = f"rtsp://nvr:{PASSWORD}@127.0.0.1:{port}"
        main, sub = tmp_path / "main.mkv", tmp_path / "sub.mkv"
        results = await asyncio.gather(
            ffmpeg("-v", "error", "-rtsp_transport", "tcp", "-i", f"{url}/dead", "-t", "1", "-f", "null", "-"),
            ffmpeg("-v", "error", "-rtsp_transport", "tcp", "-i", f"{url}/cam", "-t", "5", "-c", "copy", "-y", str(main)),
            ffmpeg("-v", "error", "-rtsp_transport", "udp", "-i", f"{url}/cam/sub", "-t", "5", "-c", "copy", "-y",
                   str(sub)))
        assert results[0][0] != 0 and "503" in results[0][1], results[0]
        assert all(rc == 0 for rc, _err in results[1:]), results
        assert await decode_errors(main) == "" and await decode_errors(sub) == ""
        assert await probe(main, "v:0", "codec_name") == "hevc" and await probe(main, "a:0", "codec_name") == "aac"
        assert await frames_in(main) >= 5 * FPS * 0.8
        assert await frames_in(main, "a:0") >= 5 * 15 * 0.8  # 16 kHz AAC: 15.6 frames a second
        assert await probe(sub, "v:0", "width") == "320" and await frames_in(sub) >= 5 * FPS * 0.8

        # A camera reconfigured while an NVR plays it: the NVR's connection is closed (it reconnects
        # to the camera as it is now), its live_stop says why, and the mount serves the new camera.
        watching = asyncio.create_task(ffmpeg("-v", "error", "-rtsp_transport", "tcp", "-i", f"{url}/cam",
                                              "-t", "60", "-f", "null", "-"))
        admin = await client.sign_in("admin", client.admin_password())

        async def started() -> bool:
            return sum(e["details"].get("via") == "rtsp" for e in await entries(client, admin, "live_start")) >= 3

        await until(started, 30, "the third live_start")
        changed = services.cameras["cam"].config.model_copy(update={"name": "Renamed"})
        await services.fleet.replace(changed)
        rc, err = await asyncio.wait_for(watching, 30)  # ended by the server, not by -t 60

        async def stopped() -> list[dict[str, Any]]:
            return [e for e in await entries(client, admin, "live_stop")
                    if e["reason"] == "camera reconfigured by an administrator"]

        assert (await until(stopped, 20, "live_stop of the reconfigured camera"))[0]["camera"] == "cam"
        await until(lambda: _async(_online(services, "cam")), 40, "the camera back")
        rc, err = await ffmpeg("-v", "error", "-rtsp_transport", "tcp", "-i", f"{url}/cam", "-t", "2", "-f", "null", "-")
        assert rc == 0, err


def _online(services: Any, camera: str) -> bool:
    return any(s.kind == "video" for s in services.cameras[camera].hub.streams)


async def _async(value: bool) -> bool:
    return value
