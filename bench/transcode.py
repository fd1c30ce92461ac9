"""Wall transcode CPU: Pantau's shared transcoder (H.265 camera -> H.264 for the wall) against
`ffmpeg -c:v libx264` doing the same work, side by side in one run (issue 15, item 3).

    .venv/bin/python bench/transcode.py                          # 1080p and 720p in; N = 1, 2; 20 s windows
    .venv/bin/python bench/transcode.py --sizes 720 --n 1 --seconds 10 --no-results

1. Media: `--seconds` + warm-up of 25 fps `testsrc2` encoded once with Debian's libx265 (veryfast, GOP 50, no
   B-frames, 4 Mbit/s at 1080p and 2 Mbit/s at 720p, as cameras send H.265) into bench/out/.
2. For each size and N, one side after the other, both in real time (a camera's pace):
   - Pantau: a worker process holds the clip's packets in memory (Annex B, parameter sets before every
     keyframe) and plays them at 25 fps into N hubs, each transcoded by the gateway's own `Transcoder`
     (webrtc/transcoder.py: its own thread, PyAV decode, scale, libx264 ultrafast zerolatency Constrained
     Baseline, forced IDR every 2 s) to `webrtc.transcode_width` (default 640), with one subscriber
     draining each output hub as a viewer would. CPU = the worker's getrusage (all threads) over the window.
   - ffmpeg: N `ffmpeg -re -i CLIP -vf scale=W:-2:flags=bilinear -c:v libx264 -preset ultrafast -tune
     zerolatency -profile:v baseline -crf 23` (the same VBV ceiling and keyframe interval) `-f null -`;
     CPU = utime+stime from /proc over a window of the same length after the same warm-up.
3. A dated section is appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import ingest  # noqa: E402  (bench/ingest.py: versions, system_cpu, busy_cores, proc_cpu_s, log)

FPS = 25
WARMUP_S = 3.0
BITRATE = {1080: "4M", 720: "2M"}
WIDTH = {1080: 1920, 720: 1280}
# A Pantau row that encoded fewer of the frames fed than this skipped stale ones (a starved machine).
MIN_ENCODED_SHARE = 0.99


def ensure_clip(height: int, seconds: float) -> Path:
    """The H.265 clip for `height` (cached in bench/out/), long enough for the warm-up and the window."""
    length = int(seconds + WARMUP_S + 2)
    clip = ingest.OUT / f"hevc_{height}p25_{BITRATE[height]}_{length}s.mp4"
    if clip.exists():
        return clip
    ingest.OUT.mkdir(parents=True, exist_ok=True)
    ingest.log(f"encoding {length} s of {height}p25 H.265 test video (once)")
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", f"testsrc2=size={WIDTH[height]}x{height}:rate={FPS}", "-t", str(length), "-c:v", "libx265",
         "-preset", "veryfast", "-pix_fmt", "yuv420p", "-b:v", BITRATE[height], "-tag:v", "hvc1",
         "-x265-params", "keyint=50:min-keyint=50:bframes=0:scenecut=0:log-level=error", str(clip)],
        check=True,
    )
    return clip


# ---------------------------------------------------------------------------------------------
# The Pantau side (a worker process)


def load_packets(clip: Path) -> tuple[Any, list[Any]]:
    """The clip's video as the hub carries a camera's: StreamInfo and Annex B MediaPackets."""
    import av

    from streams.packet import MediaPacket, StreamInfo

    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        bsf = av.BitStreamFilterContext("hevc_mp4toannexb", stream)
        packets = [MediaPacket(0, bytes(p), p.pts, p.dts, bool(p.is_keyframe), 0.0, 0.0)
                   for raw in container.demux(stream) if raw.size for p in bsf.filter(raw)]
        info = StreamInfo(0, "video", "hevc", stream.time_base, None, stream.codec_context.width,
                          stream.codec_context.height)
    return info, packets


async def caught_up(transcoders: list[Any], fed: int) -> None:
    """Wait (at most a second) until every transcoder has taken the `fed` packets it was given."""
    for _ in range(500):  # polled: the counts are plain numbers the threads bump
        if all(t.counts.packets >= fed for t in transcoders):
            return
        await asyncio.sleep(0.002)


async def pantau_side(clip: Path, n: int, seconds: float, width: int) -> dict[str, Any]:
    from streams.hub import StreamHub
    from streams.packet import MediaPacket
    from webrtc.transcoder import Transcoder

    info, packets = load_packets(clip)
    hubs = [StreamHub(f"cam{i}", 128) for i in range(n)]
    transcoders = [Transcoder(f"cam{i}", hub, width, 128) for i, hub in enumerate(hubs)]
    out = {"packets": 0, "bytes": 0, "size": ""}

    async def drain(transcoder: Transcoder) -> None:
        async with transcoder.hub.subscribe("viewer", 128) as sub:
            async for item in sub:
                if hasattr(item, "data"):
                    out["packets"] += 1
                    out["bytes"] += len(item.data)
                elif item.streams:
                    out["size"] = f"{item.streams[0].width}x{item.streams[0].height}"

    measured: dict[str, Any] = {}
    async with asyncio.TaskGroup() as tasks:
        running = [tasks.create_task(t.run()) for t in transcoders]
        drains = [tasks.create_task(drain(t)) for t in transcoders]
        await asyncio.sleep(0.2)
        for hub in hubs:
            hub.set_streams((info,))
        start = time.monotonic()
        warm = int(WARMUP_S * FPS)
        total = warm + int(seconds * FPS)
        for index, packet in enumerate(packets[:total]):
            if index == warm:
                await caught_up(transcoders, warm)  # the window counts exactly the frames fed in it
                before, machine, mark = resource.getrusage(resource.RUSAGE_SELF), ingest.system_cpu(), time.monotonic()
                counted = {"packets": out["packets"], "bytes": out["bytes"],
                           "encoded": sum(t.counts.encoded for t in transcoders)}
            delay = start + index / FPS - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            now = time.monotonic()
            for hub in hubs:
                hub.publish(MediaPacket(0, packet.data, packet.pts, packet.dts, packet.is_keyframe, now, time.time()))
        await caught_up(transcoders, total)
        after, machine_end, end = resource.getrusage(resource.RUSAGE_SELF), ingest.system_cpu(), time.monotonic()
        window = end - mark
        measured = {
            "cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
            "window_s": window, "busy": ingest.busy_cores(machine, machine_end),
            "fed": total - warm, "encoded": sum(t.counts.encoded for t in transcoders) - counted["encoded"],
            "skipped": sum(t.counts.skipped for t in transcoders),
            "decode_errors": sum(t.counts.decode_errors for t in transcoders),
            "out_kbps": (out["bytes"] - counted["bytes"]) * 8 / window / 1000 / n, "size": out["size"],
        }
        for task in [*running, *drains]:
            task.cancel()
    return measured


def worker_main(args: argparse.Namespace) -> None:
    result = asyncio.run(pantau_side(Path(args.clip), args.n[0], args.seconds, args.width))
    print(json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------
# The sides, from the parent


def pantau_phase(clip: Path, n: int, seconds: float, width: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", "--clip", str(clip), "--n", str(n), "--seconds", str(seconds),
           "--width", str(width)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"Pantau worker failed: {done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def ffmpeg_cmd(clip: Path, width: int, height: int, seconds: float) -> list[str]:
    from webrtc.reencode import BITS_PER_PIXEL, CRF, KEYFRAME_INTERVAL_S, PRESET, PROFILE, output_size

    out_w, out_h = output_size(WIDTH[height], height, width)
    maxrate = int(out_w * out_h * 25 * BITS_PER_PIXEL / 1000)
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-i", str(clip),
            "-t", str(seconds + WARMUP_S + 1), "-an", "-vf", f"scale={width}:-2:flags=bilinear",
            "-c:v", "libx264", "-preset", PRESET, "-tune", "zerolatency", "-profile:v", PROFILE, "-crf", CRF,
            "-x264-params", f"keyint=infinite:scenecut=0:vbv-maxrate={maxrate}:vbv-bufsize={maxrate}",
            "-force_key_frames", f"expr:gte(t,n_forced*{KEYFRAME_INTERVAL_S:g})", "-f", "null", "-"]


def ffmpeg_phase(clip: Path, height: int, n: int, seconds: float, width: int) -> dict[str, Any]:
    procs = [subprocess.Popen(ffmpeg_cmd(clip, width, height, seconds), stdout=subprocess.DEVNULL)
             for _ in range(n)]
    try:
        time.sleep(WARMUP_S)
        before = [ingest.proc_cpu_s(p.pid) or 0.0 for p in procs]
        machine, mark = ingest.system_cpu(), time.monotonic()
        time.sleep(seconds)
        after = [ingest.proc_cpu_s(p.pid) for p in procs]
        machine_end, window = ingest.system_cpu(), time.monotonic() - mark
        if any(a is None for a in after):
            raise RuntimeError("an ffmpeg ended before the window did")
        return {"cpu_s": sum(a - b for a, b in zip(after, before, strict=True) if a is not None),
                "window_s": window, "busy": ingest.busy_cores(machine, machine_end)}
    finally:
        for p in procs:
            p.wait(timeout=seconds + 30)
            if p.returncode != 0:
                raise RuntimeError(f"ffmpeg exited with {p.returncode}")


def render(rows: list[tuple[int, int, dict[str, Any], dict[str, Any]]], args: argparse.Namespace,
           info: dict[str, str], took: float) -> str:
    out = [f"## Wall transcode (bench/transcode.py), {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", "",
           f"- Code: {info['commit']}",
           f"- Machine: {info['machine']}; load average {os.getloadavg()[0]:.1f} at the end",
           f"- Python {info['python']}; {info['pyav']}",
           f"- ffmpeg CLI: {info['ffmpeg']}",
           f"- Input: 25 fps testsrc2 H.265 (Debian libx265 veryfast, GOP 50, no B-frames; 1080p 4 Mbit/s, "
           f"720p 2 Mbit/s), played in real time; output H.264 {args.width} wide (ultrafast, zerolatency, "
           "Constrained Baseline, crf 23 under a VBV ceiling, IDR every 2 s). "
           f"{WARMUP_S:g} s warm-up, then a {args.seconds:g} s window per side.",
           "- **cores per camera** = CPU seconds ÷ window seconds ÷ N: the CPU one transcoded camera costs per "
           "second of video. Pantau's includes its hub, thread hand-off and a draining viewer subscription.",
           "", "| input | N | Pantau cores per camera | ffmpeg cores per camera | ratio | cameras per core (Pantau) | "
           "frames encoded / fed (skipped) | output kbit/s per camera | machine busy cores P / F |",
           "|---|---|---|---|---|---|---|---|---|"]
    for height, n, p, f in rows:
        pc = p["cpu_s"] / p["window_s"] / n
        fc = f["cpu_s"] / f["window_s"] / n
        # A transcoder that skipped frames did less work than ffmpeg: no ratio (the machine was busy).
        starved = p["encoded"] < MIN_ENCODED_SHARE * p["fed"] * n
        ratio = "invalid (starved)" if starved else f"{pc / fc:.2f}x"
        out.append(f"| {WIDTH[height]}x{height} H.265 -> {p['size']} | {n} | {pc:.3f} | {fc:.3f} | {ratio} | "
                   f"{1 / pc:.1f} | {p['encoded']} / {p['fed'] * n} ({p['skipped']}) | {p['out_kbps']:.0f} | "
                   f"{p['busy']:.2f} / {f['busy']:.2f} |")
    out += ["", f"- Bench wall time {took / 60:.1f} min."]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1080,720", help="input heights: 1080, 720")
    parser.add_argument("--n", default="1,2", type=lambda v: [int(x) for x in v.split(",")],
                        help="cameras transcoded at once")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per side")
    parser.add_argument("--width", type=int, default=640, help="webrtc.transcode_width")
    parser.add_argument("--no-results", action="store_true", help="print instead of appending to bench/RESULTS.md")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--clip", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args)
        return
    started = time.monotonic()
    info = ingest.versions()
    rows = []
    for height in (int(h) for h in args.sizes.split(",")):
        clip = ensure_clip(height, args.seconds)
        for n in args.n:
            ingest.log(f"{height}p x {n}: Pantau")
            pantau = pantau_phase(clip, n, args.seconds, args.width)
            ingest.log(f"{height}p x {n}: ffmpeg")
            ff = ffmpeg_phase(clip, height, n, args.seconds, args.width)
            ingest.log(f"{height}p x {n}: Pantau {pantau['cpu_s']:.2f} CPU s, ffmpeg {ff['cpu_s']:.2f} CPU s")
            rows.append((height, n, pantau, ff))
    section = render(rows, args, info, time.monotonic() - started)
    print(section)
    if not args.no_results:
        with ingest.RESULTS.open("a") as f:
            f.write("\n" + section + "\n")


if __name__ == "__main__":
    main()
