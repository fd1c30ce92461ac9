"""Evidence export benchmark: Pantau's MP4 copy and evidence bundle against their references on
the same sealed segments, side by side in one run (issue 14).

    .venv/bin/python bench/export.py [--minutes 10] [--cameras 1,4] [--repeat 2] [--segment 60]
                                     [--no-api] [--fresh] [--no-results]

1. Recording: `--minutes` of 1080p25 ~3 Mbit/s H.264 (bench/ingest.py's clip, GOP 50, B-frames)
   per camera, played into idle cameras' hubs faster than real time (as tests/fastrecording.py
   does) and written, sealed, hashed and indexed by the gateway's own Recorder into SQLite under
   bench/out/. Kept and reused by later runs with the same --minutes/--segment (--fresh: remake).
2. For each camera count, every side in its own process, alternating, `--repeat` times:
   - mp4: recorder.mp4export.export_mp4 per camera (verified read, cut, remux, time-code track,
     SHA-256 + fsync of the result) vs `ffmpeg -f concat -i LIST -c copy -movflags +faststart`.
   - bundle: evidence.bundles.export_bundle (what `pantau export` runs: segments stored in a zip
     and hashed, manifest, access-log entry, proof, README, SHA-256 + fsync of the zip) vs
     `zip -0 -r` of the same segment files.
   CPU = user+sys of the process (os.wait4), wall, peak RSS (ru_maxrss); Pantau workers also
   report the CPU of the export call alone (without interpreter start-up and imports).
3. API (unless --no-api): one export job of all cameras through a running gateway
   (POST /api/v1/exports, poll to done), then `max_exports` such jobs at once.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import ingest  # noqa: E402  (bench/ingest.py: ensure_media, versions, system_cpu, busy_cores, log)

RESULTS = ingest.RESULTS
TARGET = 1.2
FPS = 25
QUEUE_HIGH = 1500  # recorder queue depth (of 4096) at which the feed waits: no packet is dropped
ADMIN_PASSWORD = "bench-password-1"


# ---------------------------------------------------------------------------------------------
# The recording


def clip_stream(media: Path, seconds: int) -> Any:
    """`seconds` of the clip as a tests/fastrecording.py `Encoded`: Annex B (SPS/PPS before every
    keyframe, as cameras send it), 90 kHz timestamps from 0; looped past the clip's length."""
    from fractions import Fraction

    import av
    import av.bitstream

    from streams.bitstream import parameter_sets
    from streams.packet import StreamInfo
    from tests.fastrecording import TIME_BASE, Encoded

    raw: list[tuple[bytes, int, int, bool]] = []
    with av.open(str(media)) as container:
        stream = container.streams.video[0]
        bsf = av.bitstream.BitStreamFilterContext("h264_mp4toannexb", stream)
        tb = Fraction(stream.time_base)
        width, height = stream.codec_context.width, stream.codec_context.height
        for packet in container.demux(stream):
            if packet.dts is None or not packet.size:
                continue
            for q in bsf.filter(packet):
                pts = q.pts if q.pts is not None else q.dts
                raw.append((bytes(q), int(pts), int(q.dts), bool(q.is_keyframe)))
    dts0 = raw[0][2]
    scale = tb / TIME_BASE
    clip_ticks = round(len(raw) / FPS / TIME_BASE)
    want = seconds * FPS
    packets: list[tuple[bytes, int, int, bool]] = []
    loop = 0
    while len(packets) < want:
        for data, pts, dts, key in raw:
            if len(packets) >= want and key:
                break
            off = loop * clip_ticks
            packets.append((data, round((pts - dts0) * scale) + off, round((dts - dts0) * scale) + off, key))
        loop += 1
    info = StreamInfo(index=0, kind="video", codec="h264", time_base=TIME_BASE,
                      extradata=parameter_sets("h264", packets[0][0]), width=width, height=height)
    keys = [i for i, p in enumerate(packets) if p[3]]
    gop = keys[1] - keys[0] if len(keys) > 1 else len(packets)
    return Encoded(info, packets, FPS, gop)


def write_config(root: Path, cameras: int, segment_s: float) -> Path:
    """The gateway config both the recording and every Pantau worker load."""
    from tests.fastrecording import IDLE_SOURCE

    cams = "".join(
        f"  - {{id: cam{i}, source: \"{IDLE_SOURCE}\", open_timeout_s: 2, "
        "backoff: {initial_s: 60, max_s: 60, jitter: 0}}\n" for i in range(1, cameras + 1))
    config = root / "config.yaml"
    config.write_text(
        f"data_dir: {root / 'data'}\nstorage: {{path: {root / 'rec'}}}\n"
        f"database: {{url: \"sqlite+aiosqlite:///{root / 'pantau.db'}\"}}\n"
        "server: {host: 127.0.0.1, port: 0}\n"
        f"recording: {{segment_s: {segment_s:g}, min_free_bytes: 0}}\n"
        "access: {export: {admin: {groups: ['*'], max_age_h: 87600}}}\n"
        f"cameras:\n{cams}")
    return config


async def _record(config: Path, media: Path, minutes: float) -> dict[str, Any]:
    from datetime import UTC, datetime, timedelta

    from core.clock import SystemClock
    from core.configfile import load_settings
    from core.db import make_engine, make_sessionmaker
    from gateway.migrations import upgrade
    from recorder.reports import LogOnlySink
    from recorder.service import Recorder
    from streams.camera import Camera
    from streams.packet import MediaPacket
    from streams.state import CameraState

    settings = load_settings(config)
    await asyncio.to_thread(upgrade, settings.database_url)
    stream = await asyncio.to_thread(clip_stream, media, round(minutes * 60))
    clock = SystemClock()
    engine = make_engine(settings.database_url)
    cams = {c.id: Camera(c, settings.camera_health(c), settings.hub.subscriber_queue, clock)
            for c in settings.cameras}
    recorder = Recorder(settings, make_sessionmaker(engine), clock, cams, LogOnlySink())
    tasks = [asyncio.create_task(recorder.run())] + [asyncio.create_task(c.run()) for c in cams.values()]
    try:
        subs: dict[str, Any] = {}
        deadline = time.monotonic() + 30
        while len(subs) < len(cams):
            if time.monotonic() > deadline:
                raise RuntimeError("the recorder did not subscribe to the idle cameras")
            await asyncio.sleep(0.1)
            for cid, cam in cams.items():
                sub = next((s for s in cam.hub._subscribers if s.name == f"recorder-{cid}"), None)
                if sub is not None and cam.status.state is CameraState.OFFLINE:
                    subs[cid] = sub
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=stream.seconds + 120)
        t0 = time.monotonic()
        cpu0 = _self_cpu()

        async def feed(cid: str) -> None:
            hub, sub = cams[cid].hub, subs[cid]
            hub.set_streams((stream.info,))
            base = start.timestamp()
            for i, (data, pts, dts, key) in enumerate(stream.packets):
                hub.publish(MediaPacket(stream=0, data=data, pts=pts, dts=dts, is_keyframe=key,
                                        received=time.monotonic(), wallclock=base + dts / 90000))
                if i % 25 == 24:
                    await asyncio.sleep(0)
                    while sub.qsize() > QUEUE_HIGH:  # noqa: ASYNC110  (the recorder drains it)
                        await asyncio.sleep(0.005)
            hub.set_streams((), "the bench recording ended")

        await asyncio.gather(*(feed(cid) for cid in cams))
        end = start + timedelta(seconds=stream.seconds)
        segments = await _wait_sealed(make_sessionmaker(engine), list(cams), end)
        took, cpu = time.monotonic() - t0, _self_cpu() - cpu0
        dropped = sum(c.hub.dropped_total for c in cams.values())
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await engine.dispose()
    return {"start": start.isoformat(), "end": end.isoformat(), "segments": segments, "dropped": dropped,
            "record_wall_s": took, "record_cpu_s": cpu, "stream_s": stream.seconds}


async def _wait_sealed(db: Any, cameras: list[str], end: Any) -> dict[str, list[dict[str, Any]]]:
    from datetime import timedelta

    from sqlalchemy import select

    from recorder.models import Gap, Segment

    deadline = time.monotonic() + 120
    while True:
        async with db() as session:
            segs = list((await session.scalars(select(Segment).order_by(Segment.camera_id, Segment.start))).all())
            gaps = list((await session.scalars(select(Gap))).all())
        per = {c: [s for s in segs if s.camera_id == c] for c in cameras}
        if all(p and abs(p[-1].end - end) < timedelta(seconds=0.2) for p in per.values()):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"recordings not sealed up to {end}: {[(c, p[-1].end if p else None) for c, p in per.items()]}")
        await asyncio.sleep(0.25)
    inner = [g for g in gaps if g.end is not None and per[g.camera_id][0].start < g.start < per[g.camera_id][-1].end] \
        if all(per.values()) else gaps
    if inner:
        raise RuntimeError(f"the bench recording has gaps: {[(g.camera_id, g.start, g.reason) for g in inner]}")
    return {c: [{"path": s.path, "bytes": s.bytes, "start": s.start.isoformat(), "end": s.end.isoformat()}
                for s in p] for c, p in per.items()}


def ensure_recording(args: argparse.Namespace) -> tuple[Path, Path, dict[str, Any]]:
    """(root, config, recording facts), recorded once per --minutes/--segment and camera count."""
    cameras = max(args.cameras)
    root = ingest.OUT / f"export_rec_{args.minutes:g}min_{args.segment:g}s_{cameras}cam"
    facts_file = root / "recording.json"
    if args.fresh and root.exists():
        shutil.rmtree(root)
    if facts_file.exists():
        return root, root / "config.yaml", json.loads(facts_file.read_text())
    if root.exists():
        shutil.rmtree(root)  # an interrupted recording
    root.mkdir(parents=True)
    config = write_config(root, cameras, args.segment)
    media = ingest.ensure_media()
    ingest.log(f"recording {args.minutes:g} min x {cameras} cameras through the Recorder (fed faster than real time)")
    facts = asyncio.run(_record(config, media, args.minutes))
    n = sum(len(v) for v in facts["segments"].values())
    ingest.log(f"  {n} segments sealed in {facts['record_wall_s']:.1f} s wall, {facts['record_cpu_s']:.1f} CPU s, "
               f"dropped {facts['dropped']}")
    if facts["dropped"]:
        raise RuntimeError("packets were dropped while recording; the recording is not continuous")
    facts_file.write_text(json.dumps(facts, indent=1))
    return root, config, facts


# ---------------------------------------------------------------------------------------------
# Workers (Pantau sides, each in its own process)


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _rss_mb(field: str = "VmRSS:") -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return 0.0


def worker_main(args: argparse.Namespace) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, format="worker %(levelname)s %(name)s: %(message)s")
    from datetime import datetime

    from core.configfile import load_settings

    settings = load_settings(Path(args.config))
    # What each side needs is imported before "work" starts counting (and only that: the process
    # total then holds what a process doing this export pays for its imports).
    if args.worker == "mp4":
        import recorder.mp4export  # noqa: F401
        import recorder.reader  # noqa: F401
    elif args.worker == "bundle":
        import evidence.bundles  # noqa: F401
    else:
        import gateway.app  # noqa: F401
        import tests.gatewayutil  # noqa: F401
    import aiosqlite  # noqa: F401
    import sqlalchemy.ext.asyncio  # noqa: F401

    cameras = tuple(args.cams.split(","))
    start, end, out = datetime.fromisoformat(args.start), datetime.fromisoformat(args.end), Path(args.out)
    rss0, cpu0, t0, ru0 = _rss_mb(), _self_cpu(), time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    if args.worker == "mp4":
        res = asyncio.run(_worker_mp4(settings, cameras, start, end, out))
    elif args.worker == "bundle":
        res = asyncio.run(_worker_bundle(settings, cameras, start, end, out))
    else:
        res = asyncio.run(_worker_api(settings, cameras, start, end, args.parallel))
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    res.update(work_user_s=ru1.ru_utime - ru0.ru_utime, work_sys_s=ru1.ru_stime - ru0.ru_stime, work_cpu_s=_self_cpu() - cpu0, work_wall_s=time.monotonic() - t0, rss_before_mb=rss0,
               hwm_mb=_rss_mb("VmHWM:"))
    print("RESULT " + json.dumps(res), flush=True)


async def _worker_mp4(settings: Any, cameras: tuple[str, ...], start: Any, end: Any, out: Path) -> dict[str, Any]:
    from core.db import make_engine, make_sessionmaker
    from recorder.mp4export import export_mp4
    from recorder.reader import SegmentReader
    from recorder.store import SegmentStore

    engine = make_engine(settings.database_url)
    try:
        reader = SegmentReader(make_sessionmaker(engine), SegmentStore(settings.storage.path))
        results = []
        for cam in cameras:
            results += await export_mp4(reader, cam, cam, start, end, out / f"{cam}.mp4")
    finally:
        await engine.dispose()
    return {"files": len(results), "bytes": sum(r.bytes for r in results), "frames": sum(r.frames for r in results)}


async def _worker_bundle(settings: Any, cameras: tuple[str, ...], start: Any, end: Any, out: Path) -> dict[str, Any]:
    from evidence.bundles import ExportRequest, export_bundle

    target = out / "bundle.zip"
    # hold=False: reruns would pile up evidence holds on the bench recording; a hold is two rows.
    doc, _ = await export_bundle(settings, ExportRequest(cameras, start, end, target, "bench", "benchmark", "",
                                                         hold=False), show_progress=False)
    return {"files": 1, "bytes": target.stat().st_size, "segments": doc["totals"]["segments"]}


async def _worker_api(settings: Any, cameras: tuple[str, ...], start: Any, end: Any, parallel: int) -> dict[str, Any]:
    """One job of `cameras`, then `parallel` such jobs at once, through a running gateway."""
    from gateway.migrations import upgrade
    from tests.gatewayutil import call, running_gateway

    await asyncio.to_thread(upgrade, settings.database_url)
    body = {"cameras": list(cameras), "start": _z(start), "end": _z(end), "reason": "benchmark"}
    out: dict[str, Any] = {"parallel": parallel}
    async with running_gateway(settings) as client:
        token = await client.sign_in("admin", client.admin_password())

        async def job() -> dict[str, Any]:
            created = await call(client, "POST", "/api/v1/exports", token, 202, json=body)
            t0 = time.monotonic()
            while True:
                done = await client.get_json(f"/api/v1/exports/{created['id']}", token)
                if done["state"] not in ("queued", "running"):
                    break
                await asyncio.sleep(0.1)
            if done["state"] != "done":
                raise RuntimeError(f"export job ended {done['state']}: {done.get('error')}")
            return {"wall_s": time.monotonic() - t0, "size": done["result"]["size"],
                    "started": done["started_at"], "finished": done["finished_at"]}

        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        out["single"] = await job()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        sys0, t0 = ingest.system_cpu(), time.monotonic()
        out["many"] = await asyncio.gather(*(job() for _ in range(parallel)))
        out["many_wall_s"] = time.monotonic() - t0
        out["many_busy"] = ingest.busy_cores(sys0, ingest.system_cpu())
        ru2 = resource.getrusage(resource.RUSAGE_SELF)
        out["single_cpu_s"] = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
        out["single_sys_s"] = ru1.ru_stime - ru0.ru_stime
        out["many_cpu_s"] = ru2.ru_utime + ru2.ru_stime - ru1.ru_utime - ru1.ru_stime
        out["many_sys_s"] = ru2.ru_stime - ru1.ru_stime
        out["bytes"] = out["single"]["size"]
    return out


def _z(at: Any) -> str:
    return str(at.isoformat().replace("+00:00", "Z"))


# ---------------------------------------------------------------------------------------------
# Measuring a side


def measured(cmds: list[list[str]], cwd: Path | None = None) -> dict[str, Any]:
    """Run the commands one after the other; CPU (user+sys), wall and peak RSS of each process
    from os.wait4, summed (CPU, wall) and maxed (RSS); the last RESULT line a worker printed."""
    cpu = wall = user = 0.0
    rss = 0
    result: dict[str, Any] = {}
    sys0 = ingest.system_cpu()
    for cmd in cmds:
        with tempfile.NamedTemporaryFile("r", prefix="bench-rss-") as rss_file:
            t0 = time.monotonic()
            # ru_maxrss of a child counts the RSS of the process it was forked from (Linux keeps the
            # old mm's high-water mark across exec), so the bench's own memory would show up in every
            # side. GNU time forks the measured command from its own ~2 MB and reports %M.
            proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss_file.name, *cmd], stdout=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, text=True, cwd=cwd)
            assert proc.stdout is not None
            text = proc.stdout.read()
            # wait4 on `time` includes the command it reaped: CPU in microseconds, not time's 10 ms.
            _, status, ru = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            wall += time.monotonic() - t0
            if proc.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd[:6])}... exited {proc.returncode}:\n{text[-2000:]}")
            cpu += ru.ru_utime + ru.ru_stime
            user += ru.ru_utime
            rss = max(rss, int(rss_file.read().split()[-1]))
        for line in text.splitlines():
            if line.startswith("RESULT "):
                result = json.loads(line.split(" ", 1)[1])
    return {"cpu_s": cpu, "user_s": user, "wall_s": wall, "rss_mb": rss / 1024, "busy": ingest.busy_cores(sys0, ingest.system_cpu()),
            **result}


def worker_cmd(kind: str, config: Path, cams: list[str], start: str, end: str, out: Path) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--config", str(config),
            "--cams", ",".join(cams), "--start", start, "--end", end, "--out", str(out)]


def ffmpeg_mp4(root: Path, facts: dict[str, Any], cams: list[str], out: Path) -> dict[str, Any]:
    cmds = []
    for cam in cams:
        listing = out / f"{cam}.txt"
        listing.write_text("".join(f"file '{root / 'rec' / s['path']}'\n" for s in facts["segments"][cam]))
        cmds.append(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "concat", "-safe", "0",
                     "-i", str(listing), "-c", "copy", "-movflags", "+faststart", str(out / f"{cam}.mp4")])
    res = measured(cmds)
    res["bytes"] = sum((out / f"{c}.mp4").stat().st_size for c in cams)
    res["frames"] = sum(_nb_frames(out / f"{c}.mp4") for c in cams)
    return res


def _nb_frames(path: Path) -> int:
    text = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=nb_frames",
                           "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout
    return int(text.strip() or 0)


def zip_bundle(root: Path, facts: dict[str, Any], cams: list[str], out: Path) -> dict[str, Any]:
    paths = [s["path"] for c in cams for s in facts["segments"][c]]
    res = measured([["zip", "-0", "-q", str(out / "bundle.zip"), *paths]], cwd=root / "rec")
    res["bytes"] = (out / "bundle.zip").stat().st_size
    return res


def run_pair(kind: str, root: Path, config: Path, facts: dict[str, Any], cams: list[str],
             repeat: int) -> dict[str, list[dict[str, Any]]]:
    """Both sides of one comparison, alternating which goes first."""
    first = facts["segments"][cams[0]][0]["start"]
    last = min(facts["segments"][c][-1]["end"] for c in cams)
    runs: dict[str, list[dict[str, Any]]] = {"pantau": [], "ref": []}
    for i in range(repeat):
        order = ["pantau", "ref"] if i % 2 == 0 else ["ref", "pantau"]
        for side in order:
            with tempfile.TemporaryDirectory(prefix="bench-export-", dir=ingest.OUT) as tmp:
                out = Path(tmp)
                if side == "pantau":
                    res = measured([worker_cmd(kind, config, cams, first, last, out)])
                elif kind == "mp4":
                    res = ffmpeg_mp4(root, facts, cams, out)
                else:
                    res = zip_bundle(root, facts, cams, out)
            runs[side].append(res)
            ingest.log(f"  {kind} {len(cams)} cam {side}: cpu {res['cpu_s']:.2f} s, wall {res['wall_s']:.2f} s, "
                       f"rss {res['rss_mb']:.0f} MB, {res['bytes'] / 1e6:.0f} MB, busy {res['busy']:.2f}")
    return runs


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the least CPU (the least disturbed by other load)."""
    return min(runs, key=lambda r: r["cpu_s"])


# ---------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="recording per camera (default 10)")
    ap.add_argument("--cameras", default="1,4", help="camera counts to export (default 1,4)")
    ap.add_argument("--segment", type=float, default=60.0, help="segment length of the recording (default 60 s)")
    ap.add_argument("--repeat", type=int, default=2, help="runs per side, alternating (default 2; best CPU kept)")
    ap.add_argument("--no-api", action="store_true", help="skip the export jobs through a running gateway")
    ap.add_argument("--fresh", action="store_true", help="record again even if bench/out has this recording")
    ap.add_argument("--no-results", action="store_true", help="print the section, do not add it to RESULTS.md")
    ap.add_argument("--worker", choices=["mp4", "bundle", "api"], help=argparse.SUPPRESS)
    for hidden in ("--config", "--cams", "--start", "--end", "--out"):
        ap.add_argument(hidden, help=argparse.SUPPRESS)
    ap.add_argument("--parallel", type=int, default=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker_main(args)
        return
    args.cameras = [int(v) for v in str(args.cameras).split(",")]
    t_start = time.monotonic()
    load0 = os.getloadavg()
    root, config, facts = ensure_recording(args)
    all_cams = sorted(facts["segments"])
    rows = []
    for n in args.cameras:
        cams = all_cams[:n]
        ingest.log(f"{n} camera(s) x {args.minutes:g} min")
        rows.append((n, run_pair("mp4", root, config, facts, cams, args.repeat),
                     run_pair("bundle", root, config, facts, cams, args.repeat)))
    api = None
    if not args.no_api:
        from core.configfile import load_settings

        parallel = load_settings(config).recording.max_exports
        ingest.log(f"API: one job of {len(all_cams)} cameras, then {parallel} at once")
        first = facts["segments"][all_cams[0]][0]["start"]
        last = min(facts["segments"][c][-1]["end"] for c in all_cams)
        cmd = worker_cmd("api", config, all_cams, first, last, ingest.OUT) + ["--parallel", str(parallel)]
        api = measured([cmd])
        _drop_job_results(root)
    load1 = os.getloadavg()
    info = ingest.versions()
    text = render(rows, api, facts, args, info, (load0, load1), time.monotonic() - t_start)
    print(text)
    if not args.no_results:
        old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
        RESULTS.write_text(old.rstrip("\n") + "\n\n" + text + "\n")
        ingest.log(f"appended to {RESULTS}")


def _drop_job_results(root: Path) -> None:
    """The API jobs' zips (kept export_keep_h by the gateway) are not worth the disk."""
    for path in (root / "data").rglob("*.zip"):
        path.unlink()


def render(rows: list[tuple[int, dict, dict]], api: dict[str, Any] | None, facts: dict[str, Any],
           args: argparse.Namespace, info: dict[str, str], loads: tuple[tuple[float, ...], tuple[float, ...]],
           took: float) -> str:
    segs = facts["segments"]
    per_cam = len(next(iter(segs.values())))
    mb_per_cam = sum(s["bytes"] for s in next(iter(segs.values()))) / 1e6
    out = [f"## Evidence export (bench/export.py), {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", "",
           f"- Code: {info['commit']}",
           f"- Machine: {info['machine']}; load average {loads[0][0]:.1f} at the start, {loads[1][0]:.1f} at the end",
           f"- Python {info['python']}; {info['pyav']}",
           f"- ffmpeg CLI: {info['ffmpeg']}; zip: {_zip_version()}",
           f"- Recording: {args.minutes:g} min per camera of {ingest.MEDIA.name} (1080p25 H.264 Main ~3 Mbit/s, "
           f"GOP 50, B-frames), written by the gateway's Recorder ({args.segment:g} s segments: {per_cam} per camera, "
           f"{mb_per_cam:.0f} MB per camera; recorded in {facts['record_wall_s']:.0f} s, {facts['record_cpu_s']:.0f} CPU s, "
           f"dropped {facts['dropped']})",
           f"- Each side in its own process, {args.repeat} run(s) each, alternating; the run with the least CPU is shown. "
           "CPU = user+sys (os.wait4), RSS = peak (ru_maxrss). \"work\" = the Pantau worker's own CPU around the "
           "export call (no interpreter start-up, no imports). Files come from the page cache on both sides.",
           "", "| cameras | what | Pantau CPU s (work) | reference CPU s | CPU ratio (target <= 1.2x) | "
           "ratio on work | wall s P / ref | peak RSS MB P / ref | output MB P / ref | machine busy cores P / ref |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for n, mp4, bundle in rows:
        for what, runs, ref_name in (("MP4 copy", mp4, "ffmpeg -c copy"), ("bundle zip", bundle, "zip -0")):
            p, r = best(runs["pantau"]), best(runs["ref"])
            out.append(f"| {n} | {what} vs {ref_name} | {p['cpu_s']:.2f} ({p['work_cpu_s']:.2f}) | {r['cpu_s']:.2f} | "
                       f"{p['cpu_s'] / r['cpu_s']:.2f}x | {p['work_cpu_s'] / r['cpu_s']:.2f}x | "
                       f"{p['wall_s']:.1f} / {r['wall_s']:.1f} | {p['rss_mb']:.0f} / {r['rss_mb']:.0f} | "
                       f"{p['bytes'] / 1e6:.1f} / {r['bytes'] / 1e6:.1f} | {p['busy']:.2f} / {r['busy']:.2f} |")
            every = "; ".join(f"{s} " + ", ".join(f"{x['cpu_s']:.2f}" for x in runs[s]) for s in ("pantau", "ref"))
            extra = ""
            if what == "MP4 copy":
                extra = f"; video frames Pantau {p['frames']} / ffmpeg {r['frames']}"
            notes.append(f"- {n} cam {what}: CPU s of every run ({every}); shown runs user/sys: Pantau "
                         f"{p['user_s']:.2f}/{p['cpu_s'] - p['user_s']:.2f} (work {p['work_user_s']:.2f}/"
                         f"{p['work_sys_s']:.2f}), ref {r['user_s']:.2f}/{r['cpu_s'] - r['user_s']:.2f}; Pantau RSS "
                         f"{p['rss_before_mb']:.0f} MB before the export, VmHWM {p['hwm_mb']:.0f} MB{extra}")
    out += [""] + notes
    if api is not None:
        single, many = api["single"], api["many"]
        scale = api["parallel"] * single["wall_s"] / api["many_wall_s"]
        cams = len(segs)
        each = ", ".join(f"{m['wall_s']:.1f}" for m in many)
        out += ["", f"Export jobs through a running gateway (POST /api/v1/exports, polled every 0.1 s; format bundle, "
                f"{cams} cameras x {args.minutes:g} min, {single['size'] / 1e6:.0f} MB zip each):", "",
                "| jobs at once | wall s (created -> done) | gateway CPU s | throughput MB/s |", "|---|---|---|---|",
                f"| 1 | {single['wall_s']:.1f} | {api['single_cpu_s']:.1f} | {single['size'] / 1e6 / single['wall_s']:.0f} |",
                f"| {api['parallel']} (max_exports) | {api['many_wall_s']:.1f} (each: "
                f"{each}) | {api['many_cpu_s']:.1f} | "
                f"{api['parallel'] * single['size'] / 1e6 / api['many_wall_s']:.0f} |", "",
                f"- Scaling: {api['parallel']} jobs took {api['many_wall_s'] / single['wall_s']:.2f}x the wall time of one "
                f"(speed-up {scale:.2f} of {api['parallel']}); gateway process peak RSS {api['rss_mb']:.0f} MB; "
                f"gateway sys CPU {api['single_sys_s']:.1f} s (1 job) / {api['many_sys_s']:.1f} s ({api['parallel']} jobs); "
                f"machine busy cores while {api['parallel']} ran: {api['many_busy']:.2f}."]
    out += ["", f"- Bench wall time {took / 60:.1f} min."]
    return "\n".join(out)


def _zip_version() -> str:
    text = subprocess.run(["zip", "-v"], capture_output=True, text=True).stdout.splitlines()
    return next((ln.strip() for ln in text if ln.startswith("This is Zip")), "zip")


if __name__ == "__main__":
    main()
