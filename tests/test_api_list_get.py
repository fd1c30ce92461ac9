"""MediaMTX-shaped recordings over HTTP end to end: GET /list and GET /get against a real gateway
recording a real GStreamer camera, with policy, dispositions and the access log.

One recording (three 2 s segments, a camera outage, two more; 2 s GOPs) is shared by every
test in the module, made once on SQLite and once on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import av
import av.bitstream
import pytest
import pytest_asyncio

from core.config import CameraConfig
from recorder.reader import GapMarker, SegmentOpened
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, approved_disposition, make_settings, running_gateway, until
from core.utctime import format_utc as z, parse_rfc3339 as when

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

FAST = {"stall_timeout_s": 2.0, "read_timeout_s": 2.0, "open_timeout_s": 3.0,
        "backoff": {"initial_s": 0.3, "max_s": 0.6, "jitter": 0.1}}
PASSWORD = "password-123"
# Exports without a disposition: operators (untouched copies), supervisors (with a watermark,
# which an untouched copy cannot carry), admins.
EXPORT = {"operator": {"groups": ["*"], "max_age_h": 1}, "admin": {"groups": ["*"], "max_age_h": 1},
          "supervisor": {"groups": ["*"], "max_age_h": 1, "watermark": True}}


def q(at: datetime) -> str:
    return quote(z(at))


@dataclass
class Recording:
    client: Client
    admin: str
    ops: str
    sup: str
    view: str
    before_gap: list[tuple[datetime, datetime]]
    after_gap: list[tuple[datetime, datetime]]
    gap: tuple[datetime, datetime]


async def index(client: Client, token: str) -> dict[str, Any]:
    began = datetime.now(UTC) - timedelta(minutes=5)
    path = f"/api/v1/recordings?camera=gate&start={q(began)}&end={q(began + timedelta(hours=1))}"
    return await client.get_json(path, token)  # type: ignore[no-any-return]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rec(tmp_path_factory: pytest.TempPathFactory, module_db_url: str) -> AsyncIterator[Recording]:
    tmp: Path = tmp_path_factory.mktemp("listget")
    # "noise": random pictures keep the encoder at its bitrate, so a download of it is larger
    # than the sockets buffer and a client that stops reading really holds the server up.
    server = CameraServer({"live": "ball", "noise": "snow"}, bitrate=3000)
    server.start()
    cams = [CameraConfig(id="gate", name="Gate", source=server.url("live"), **FAST),
            CameraConfig(id="noise", source=server.url("noise"), **FAST),
            CameraConfig(id="lobby", source="rtsp://127.0.0.1:9/x", enabled=False)]
    settings = make_settings(tmp, module_db_url, cams,
                             recording={"segment_s": 2, "min_free_bytes": 0}, access={"export": EXPORT})
    try:
        async with running_gateway(settings) as client:
            services = client.gateway.services
            assert services is not None
            admin = await client.sign_in("admin", client.admin_password())
            for name, role in [("ops", "operator"), ("sup", "supervisor"), ("view", "viewer")]:
                await services.users.add(name, role, PASSWORD)
            ops, sup, view = [await client.sign_in(n, PASSWORD) for n in ("ops", "sup", "view")]

            async def sealed() -> bool:
                return len((await index(client, admin))["segments"]) >= 3

            async def gap_open() -> bool:
                return any(g["end"] is None for g in (await index(client, admin))["gaps"])

            async def two_after() -> dict[str, Any] | None:
                body = await index(client, admin)
                closed = [g for g in body["gaps"] if g["end"] is not None]
                later = [s for s in body["segments"] if closed and when(s["start"]) >= when(closed[0]["start"])]
                return body if len(later) >= 2 else None

            await until(sealed, 40, "three segments")
            server.stop()  # the camera loses power
            await until(gap_open, 20, "the outage recorded as a gap")
            server.start()
            body = await until(two_after, 40, "two segments after the outage")
            segments = [(when(s["start"]), when(s["end"])) for s in body["segments"]]
            row = next(g for g in body["gaps"] if g["end"] is not None)
            gap = (when(row["start"]), when(row["end"]))
            before = [s for s in segments if s[1] <= gap[0]]
            after = [s for s in segments if s[0] >= gap[1]]
            assert len(before) >= 3 and len(after) >= 2, body
            yield Recording(client, admin, ops, sup, view, before, after, gap)
    finally:
        server.stop()


async def fetch(rec: Recording, path: str, token: str | None, status: int = 200) -> tuple[bytes, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with rec.client.http.get(rec.client.url(path), headers=headers) as resp:
        data = await resp.read()
        assert resp.status == status, (path, resp.status, data[:300])
        if status >= 400:
            assert resp.content_type == "application/problem+json", resp.content_type
            return data, json.loads(data)
        return data, resp


async def entries(rec: Recording, **match: str) -> list[dict[str, Any]]:
    """Access-log payloads matching `match`, from the whole log."""
    out: list[dict[str, Any]] = []
    after = -1
    query = "&".join(f"{k}={v}" for k, v in match.items())
    while True:
        body = await rec.client.get_json(f"/api/v1/access-log?{query}&after={after}&limit=1000", rec.admin)
        out += [e["payload"] for e in body["entries"]]
        if body["next_after"] is None:
            return out
        after = body["next_after"]


async def recorded(rec: Recording, start: datetime, end: datetime) -> list[tuple[float, bytes]]:
    """(wall clock, Annex B bytes) of the video frames an export of [start, end) must hold, read
    straight from the recorder: the first keyframe at or after start, every frame before end,
    up to the first gap."""
    services = rec.client.gateway.services
    assert services is not None and services.recorder is not None
    frames: list[tuple[float, bytes]] = []
    video: int | None = None
    async for item in services.recorder.reader.read("gate", start, end):
        if isinstance(item, GapMarker):
            if frames:
                break
        elif isinstance(item, SegmentOpened):
            video = next(s.index for s in item.streams if s.kind == "video")
        elif item.stream == video and start.timestamp() <= item.wallclock < end.timestamp():
            if frames or item.is_keyframe:
                frames.append((item.wallclock, item.data))
    return frames


def contents(data: bytes, last_may_be_cut: bool = False) -> tuple[dict[str, Any], list[float], list[bytes]]:
    """The export tag, presentation times of the decoded frames, and the samples as Annex B.
    `last_may_be_cut`: the file ends where the camera lost power, whose last frame may have reached
    the recorder cut short (the copy keeps it as recorded); only that frame may fail to decode."""
    with av.open(io.BytesIO(data)) as container:
        tag = json.loads(container.metadata["comment"])
        stream = container.streams.video[0]
        bsf = av.bitstream.BitStreamFilterContext("h264_mp4toannexb", stream)
        samples = [bytes(p) for packet in container.demux(stream) if packet.size for p in bsf.filter(packet)]
        samples += [bytes(p) for p in bsf.filter(None)]
    times: list[float] = []
    with av.open(io.BytesIO(data)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
        for i, packet in enumerate([*packets, None]):
            try:
                frames = packet.decode() if packet is not None else container.streams.video[0].codec_context.decode(None)
            except av.error.InvalidDataError:
                if not (last_may_be_cut and i == len(packets) - 1):
                    raise
                continue
            times += [float(f.time) for f in frames]
    return tag, times, samples


async def test_list_answers_spans_of_the_index_and_the_gap_splits_them(rec: Recording) -> None:
    before, after = rec.before_gap, rec.after_gap
    end = after[-1][1]
    _, resp = await fetch(rec, f"/list?path=gate&end={q(end)}", rec.admin)
    listed = await resp.json()
    # MediaMTX's shape: start (RFC 3339), duration (seconds), url of /get for the span.
    assert [set(s) for s in listed] == [{"start", "duration", "url"}] * 2
    assert [(when(s["start"]), s["duration"]) for s in listed] == [
        (before[0][0], pytest.approx((before[-1][1] - before[0][0]).total_seconds(), abs=1e-6)),
        (after[0][0], pytest.approx((end - after[0][0]).total_seconds(), abs=1e-6)),
    ]
    assert before[-1][1] <= rec.gap[0] and rec.gap[1] <= after[0][0]
    # The same spans straight from the database: touching segments, split where time jumps.
    services = rec.client.gateway.services
    assert services is not None and services.recorder is not None
    rows = await services.recorder.index.segments("gate", None, end)
    runs: list[list[datetime]] = []
    for row in rows:
        if runs and abs((row.start - runs[-1][1]).total_seconds()) <= 0.001:
            runs[-1][1] = row.end
        else:
            runs.append([row.start, row.end])
    assert [(when(s["start"]), when(s["start"]) + timedelta(seconds=s["duration"])) for s in listed] == [
        (a, pytest.approx(b, abs=timedelta(microseconds=2))) for a, b in runs]

    # Clipped to start and end; the url downloads that span.
    lo, hi = before[0][0] + timedelta(seconds=0.5), after[0][0] + timedelta(seconds=1)
    _, resp = await fetch(rec, f"/list?path=gate&start={q(lo)}&end={q(hi)}", rec.ops)
    clipped = await resp.json()
    assert [when(s["start"]) for s in clipped] == [lo, after[0][0]]
    assert clipped[1]["duration"] == pytest.approx(1.0)
    # Relative (no server.public_url here): never built from the Host header, which the client picks
    # (an address: a name the gateway does not know is refused before the route, hostcheck.py).
    assert clipped[1]["url"].startswith("/get?path=gate&"), clipped[1]["url"]
    async with rec.client.http.get(rec.client.url(f"/list?path=gate&start={q(lo)}&end={q(hi)}"),
                                   headers={"Authorization": f"Bearer {rec.ops}", "Host": "203.0.113.9"}) as forged:
        assert [s["url"] for s in await forged.json()] == [s["url"] for s in clipped]
    data, resp = await fetch(rec, clipped[1]["url"], rec.ops)
    assert resp.content_type == "video/mp4" and contents(data)[1]
    # An unencoded "+00:00" arrives as " 00:00" and is still read as UTC.
    _, resp = await fetch(rec, f"/list?path=gate&start={z(lo).replace('Z', '+00:00')}", rec.ops)
    assert when((await resp.json())[0]["start"]) == lo


@pytest.mark.parametrize("fmt", ["fmp4", "mp4"])
async def test_get_is_cut_to_the_window_to_the_frame_and_logged_as_an_export(rec: Recording, fmt: str) -> None:
    seg = rec.before_gap
    # Starts 0.7 s into a segment (after its keyframe), ends 0.9 s into a later one.
    start, end = seg[0][0] + timedelta(seconds=0.7), seg[2][0] + timedelta(seconds=0.9)
    duration = (end - start).total_seconds()
    expected = await recorded(rec, start, end)
    assert expected and expected[0][0] >= start.timestamp() + 0.5  # the keyframe after start

    data, resp = await fetch(rec, f"/get?path=gate&start={q(start)}&duration={duration}&format={fmt}", rec.ops)
    assert resp.content_type == "video/mp4" and resp.headers["Accept-Ranges"] == "none"
    if fmt == "mp4":
        assert int(resp.headers["Content-Length"]) == len(data)
        assert data.index(b"moov") < data.index(b"mdat")
    else:
        assert resp.headers["Transfer-Encoding"] == "chunked" and b"moof" in data
    tag, times, samples = contents(data)
    # Exactly the recorded frames of the window, byte for byte (remuxed, not transcoded).
    assert len(times) == len(expected) == len(samples)
    assert samples == [payload for _, payload in expected]
    first = when(tag["start"])
    assert tag["camera"] == "gate" and first.timestamp() == pytest.approx(expected[0][0], abs=1e-6)
    last = first.timestamp() + times[-1] - times[0]
    assert start <= first and last < end.timestamp()
    assert last == pytest.approx(expected[-1][0], abs=2e-3)

    logged = [e for e in await entries(rec, action="export", actor="ops", outcome="ok")
              if e["details"]["format"] == fmt and e["details"]["requested_start"] == z(start)]
    assert len(logged) == 1, logged
    entry = logged[0]
    assert entry["camera"] == "gate" and entry["role"] == "operator"
    assert when(entry["start"]).timestamp() == pytest.approx(expected[0][0], abs=1e-6)
    assert when(entry["start"]) >= start and when(entry["end"]) <= end
    assert entry["details"]["bytes"] == len(data)
    assert entry["details"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["details"]["frames"] == len(expected)
    assert entry["details"]["stopped"] == "window_end"


async def test_get_ends_at_a_gap_like_mediamtx(rec: Recording) -> None:
    start = rec.before_gap[-1][0] - timedelta(seconds=0.1)
    end = rec.after_gap[0][1]
    expected = await recorded(rec, start, end)
    assert expected and expected[-1][0] < rec.gap[0].timestamp()
    path = f"/get?path=gate&start={q(start)}&duration={(end - start).total_seconds()}&format=mp4"
    data, _ = await fetch(rec, path, rec.admin)
    tag, times, samples = contents(data, last_may_be_cut=True)
    assert samples == [payload for _, payload in expected]  # byte for byte what was recorded
    assert len(times) >= len(samples) - 1
    entry = next(e for e in await entries(rec, action="export", actor="admin")
                 if e["details"]["requested_start"] == z(start))
    # Times are float seconds on the way (2.4e-7 s resolution at today's epoch) and both ends are
    # rounded to the microsecond apart: the logged end may pass the gap's start by 1 us, no more.
    assert entry["details"]["stopped"] == "gap"
    assert when(entry["end"]) <= rec.gap[0] + timedelta(microseconds=1), (entry["end"], rec.gap[0])


async def test_policy_decides_who_lists_and_who_downloads(rec: Recording) -> None:
    seg = rec.before_gap
    start, end = seg[0][0], seg[1][1]
    get = f"/get?path=gate&start={q(start)}&duration={(end - start).total_seconds()}"
    # A viewer may neither list nor download recordings (access.playback / access.export).
    _, refused = await fetch(rec, "/list?path=gate", rec.view, 403)
    assert "list_recordings" in refused["detail"]
    await fetch(rec, get, rec.view, 403)
    # Supervisors' exports carry a watermark obligation, which an untouched copy cannot meet.
    _, refused = await fetch(rec, get, rec.sup, 403)
    assert "watermark" in refused["detail"]
    assert [e for e in await entries(rec, action="export", actor="sup") if e["outcome"] == "deny"]
    assert (await entries(rec, action="decision", actor="view", outcome="deny"))
    # No bearer, or one that is neither a session nor a token: 401.
    await fetch(rec, get, None, 401)
    await fetch(rec, get, "not.a.token", 401)
    await fetch(rec, "/list?path=gate", "pts_forged", 401)
    async with rec.client.http.head(rec.client.url(get), headers={"Authorization": f"Bearer {rec.ops}"}) as resp:
        assert resp.status == 405  # a HEAD would be an export that sends nothing


async def disposition(rec: Recording, start: datetime, end: datetime) -> tuple[str, str]:
    """File a request for camera gate and approve it: (token, token id)."""
    return await approved_disposition(rec.client, rec.ops, rec.sup, "gate", start, end)


async def test_a_disposition_token_lists_its_window_and_may_not_download(rec: Recording) -> None:
    lo, hi = rec.before_gap[1][0] + timedelta(seconds=0.3), rec.after_gap[0][0] + timedelta(seconds=1)
    token, token_id = await disposition(rec, lo, hi)
    _, resp = await fetch(rec, "/list?path=gate", token)
    listed = await resp.json()
    # Clipped to the token's window, without the client asking.
    assert [when(s["start"]) for s in listed] == [lo, rec.after_gap[0][0]]
    assert when(listed[1]["start"]) + timedelta(seconds=listed[1]["duration"]) == hi
    # A range reaching outside the window is narrowed to it; one wholly outside is refused.
    _, resp = await fetch(rec, f"/list?path=gate&start={q(lo - timedelta(minutes=1))}", token)
    assert await resp.json() == listed
    await fetch(rec, f"/list?path=gate&end={q(lo - timedelta(seconds=1))}", token, 403)
    await fetch(rec, "/list?path=lobby", token, 403)
    # Listing uses no view; a download is refused whatever the window: a token is for replay.
    get = f"/get?path=gate&start={q(lo)}&duration=1"
    _, refused = await fetch(rec, get, token, 403)
    assert "not copying" in refused["detail"]
    mine = await entries(rec, token_id=token_id)
    assert [e["outcome"] for e in mine if e["action"] == "token_redeemed"] == ["allow", "allow", "deny", "deny", "deny"]
    # A replay-only token (no copy approved) is refused export by rule T8.
    assert "token_no_copies" in mine[-1]["reason"] and mine[-1]["details"]["action"] == "export"
    assert mine[-1]["details"]["action"] == "export"
    status = await rec.client.get_json(f"/api/v1/dispositions/{token_id}", rec.sup)
    assert status["views_used"] == 0


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/list", 400),
        ("/list?path=", 400),
        ("/list?path=../x", 400),
        ("/list?path=%2e%2e%2fgate", 400),
        ("/list?path=gate%00", 400),
        ("/list?path=gate%0a", 400),
        ("/list?path=" + "a" * 300, 400),
        ("/list?path=GATE", 400),
        ("/list?path=nowhere", 404),
        ("/list?path=gate&start=yesterday", 400),
        ("/list?path=gate&start=2026-03-09", 400),
        ("/list?path=gate&start=2026-03-09T10:00:00", 400),
        ("/list?path=gate&start=2026-03-09T10:00:00Z&end=2026-03-09T09:00:00Z", 400),
        ("/list?path=gate&start=2000-01-01T00:00:00Z&end=2000-01-02T00:00:00Z", 404),
        ("/get?path=gate", 400),
        ("/get?path=gate&start=2026-03-09T10:00:00Z", 400),
        ("/get?path=..%2Fetc&start=2026-03-09T10:00:00Z&duration=1", 400),
        ("/get?path=gate&start=2026-03-09T10:00:00Z&duration=-1", 400),
        ("/get?path=gate&start=2026-03-09T10:00:00Z&duration=1h", 400),
        ("/get?path=gate&start=2026-03-09T10:00:00Z&duration=nan", 400),
        ("/get?path=gate&start=2026-03-09T10:00:00Z&duration=inf", 400),
        ("/get?path=gate&start=2026-03-09T10:00:00Z&duration=1e9", 400),
        ("/get?path=gate&start=2026-03-09T10:00:00Z&duration=1&format=avi", 400),
        ("/get?path=nowhere&start=2026-03-09T10:00:00Z&duration=1", 404),
    ],
)
async def test_bad_input_is_a_clean_4xx_that_echoes_nothing(
    rec: Recording, path: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    raw, body = await fetch(rec, path, rec.admin, status)
    assert body["status"] == status
    for probe in (b"..", b"%2e", b"\\u0000", b"aaaaaaaaaa", b"GATE", b"etc"):
        assert probe not in raw, raw
    assert any("refused GET" in r.getMessage() for r in caplog.records)
    if "path=gate" not in path and "path=nowhere" not in path and "path=" in path and not path.endswith("="):
        assert any("not a camera id" in r.getMessage() for r in caplog.records)


async def test_get_of_a_window_without_recording_is_404(rec: Recording) -> None:
    future = datetime.now(UTC) + timedelta(minutes=30)
    await fetch(rec, f"/get?path=gate&start={q(future)}&duration=5", rec.admin, 404)
    # A window wholly inside the outage: nothing to export either.
    inside = rec.gap[0] + (rec.gap[1] - rec.gap[0]) / 4
    await fetch(rec, f"/get?path=gate&start={q(inside)}&duration={(rec.gap[1] - rec.gap[0]).total_seconds() / 2}",
                rec.admin, 404)


async def test_a_download_the_client_abandons_is_logged_as_an_error(rec: Recording) -> None:
    """The client reads the headers and a few bytes, then resets the connection."""
    start = rec.before_gap[0][0]
    duration = (rec.gap[0] - start).total_seconds()
    request = (f"GET /get?path=noise&start={q(start)}&duration={duration} HTTP/1.1\r\n"
               f"Host: 127.0.0.1\r\nAuthorization: Bearer {rec.ops}\r\n\r\n").encode()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow client: a small window
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_connect(sock, ("127.0.0.1", rec.client.gateway.port))
        await loop.sock_sendall(sock, request)
        head = await asyncio.wait_for(loop.sock_recv(sock, 1024), 10)
        assert head.startswith(b"HTTP/1.1 200"), head
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    finally:
        sock.close()  # linger 0: a reset, like a client that crashed

    async def aborted() -> list[dict[str, Any]]:
        return [e for e in await entries(rec, action="export", actor="ops", outcome="error")
                if e["details"]["requested_start"] == z(start)]

    logged = (await until(aborted, 20, "the aborted export in the access log"))[0]
    assert logged["reason"].startswith("download aborted")
    assert not [e for e in await entries(rec, action="export", actor="ops", outcome="ok")
                if e["details"]["requested_start"] == z(start)]
    assert 0 < logged["details"]["bytes"] < 10_000_000 and len(logged["details"]["sha256"]) == 64
