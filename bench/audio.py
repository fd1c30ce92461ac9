"""Audio transcoding benchmark: what the recorder spends turning a camera's G.711 (A-law, 8 kHz mono)
into AAC-LC, per camera-minute, side by side with FFmpeg's CLI on the same input (issue 15).

    .venv/bin/python bench/audio.py [--minutes 10] [--repeat 3] [--no-results]

Input (made once under bench/out/, reused): `--minutes` of 640x360 25 fps H.264 (GOP 50, ~500
kbit/s) with G.711 A-law 8 kHz mono pink noise beside it, in Matroska: the sound a camera sends,
and noise rather than a tone so the encoder has something to code (it costs more than speech).

Sides, each in its own process, alternating, `--repeat` times (the run with the least CPU shown):
  - pantau: recorder/transcode.py's AudioTranscoder (what the mux thread runs per camera: decode,
    resample to 16 kHz, AAC-LC 32 kbit/s), fed the file's audio packets one by one, with the video
    packets copied beside it into an MP4 (PyAV), like the recorder writes.
  - ffmpeg: `ffmpeg -i IN -c:v copy -c:a aac -b:a 32k OUT.mp4` (8 kHz kept) and, as the like for like
    of what Pantau stores, with `-ar 16000`.
  - the audio alone: Pantau's transcoder without the video and the MP4; `ffmpeg -vn -c:a aac` (both
    rates); and the copy of the video alone (`-c:v copy -an`, and Pantau's remux without audio), whose
    CPU the full runs include.
CPU = user+sys of the process (os.wait4); Pantau workers also report the CPU of the work alone (no
interpreter start-up or imports). CPU s per camera-minute = CPU / minutes of input.
"""

from __future__ import annotations

import argparse
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

import ingest  # noqa: E402  (bench/ingest.py: versions, log, system_cpu, busy_cores)

OUT = ingest.OUT
RESULTS = ingest.RESULTS


def ensure_input(minutes: int) -> Path:
    """The benchmark's input: H.264 video and A-law 8 kHz mono audio, `minutes` long."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"camera_640x360_alaw8k_{minutes}min.mkv"
    if path.exists():
        return path
    seconds = minutes * 60
    ingest.log(f"making {path.name} ({seconds} s)")
    tmp = path.with_suffix(".partial.mkv")
    subprocess.run([
        "ffmpeg", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={seconds}",
        "-f", "lavfi", "-i", f"anoisesrc=color=pink:sample_rate=8000:amplitude=0.25:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-b:v", "500k",
        "-c:a", "pcm_alaw", "-ar", "8000", "-ac", "1", str(tmp),
    ], check=True)
    tmp.rename(path)
    return path


# ---------------------------------------------------------------------------------------------
# The Pantau worker (its own process)


def worker(mode: str, src: Path, dst: Path) -> None:
    """mode: full (video copied + audio transcoded into an MP4), audio (the transcoder alone), video
    (the video copied alone). Prints RESULT <json> with the CPU of the work."""
    import av

    from recorder.mp4 import add_stream
    from recorder.transcode import AudioTranscoder
    from streams.rtsp import stream_info, to_media_packet

    started = time.process_time()
    wall = time.monotonic()
    frames = aac_packets = 0
    with av.open(str(src)) as container:
        infos = {s.index: stream_info(s) for s in container.streams}
        video = next(i for i in infos.values() if i is not None and i.kind == "video")
        audio = next(i for i in infos.values() if i is not None and i.kind == "audio")
        transcoder = AudioTranscoder(audio) if mode in ("full", "audio") else None
        out = av.open(str(dst), "w", format="mp4") if mode in ("full", "video") else None
        tracks: dict[int, Any] = {}
        if out is not None:
            tracks[video.index] = add_stream(out, video, video.extradata)
            if transcoder is not None:
                tracks[audio.index] = add_stream(out, transcoder.output, transcoder.output.extradata)

        def mux(packet: Any, pts: int, time_base: Any, key: bool) -> None:
            if out is None:
                return
            p = av.Packet(packet.data)
            p.pts = p.dts = pts
            p.is_keyframe = key
            p.time_base = time_base
            p.stream = tracks[packet.stream]
            out.mux(p)

        for raw in container.demux():
            if raw.size == 0 or raw.pts is None:
                continue
            packet = to_media_packet(raw)
            if packet.stream == video.index:
                frames += 1
                if out is not None:
                    p = av.Packet(packet.data)
                    p.pts, p.dts, p.is_keyframe = packet.pts, packet.dts, packet.is_keyframe
                    p.time_base, p.stream = video.time_base, tracks[video.index]
                    out.mux(p)
            elif transcoder is not None and packet.stream == audio.index:
                assert packet.pts is not None
                for aac in transcoder.push(packet, packet.pts):
                    aac_packets += 1
                    mux(aac, aac.pts or 0, transcoder.time_base, True)
        if transcoder is not None:
            for aac in transcoder.flush():
                aac_packets += 1
                mux(aac, aac.pts or 0, transcoder.time_base, True)
        if out is not None:
            out.close()
    print("RESULT " + json.dumps({"work_cpu_s": time.process_time() - started, "work_wall_s": time.monotonic() - wall,
                                  "frames": frames, "aac_packets": aac_packets}), flush=True)


# ---------------------------------------------------------------------------------------------
# Running the sides


def run(cmd: list[str]) -> dict[str, Any]:
    """One side as a child process: its CPU (user+sys, from RUSAGE_CHILDREN once it is reaped: one
    child runs at a time) and wall; the worker's RESULT line if it printed one."""
    _children_cpu()
    wall = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    result: dict[str, Any] = {"cpu_s": _children_cpu(), "wall_s": time.monotonic() - wall}
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed: {proc.stderr[-500:]}")
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result.update(json.loads(line[7:]))
    return result


_children_total = 0.0


def _children_cpu() -> float:
    """CPU of the children reaped since the last call."""
    global _children_total
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = ru.ru_utime + ru.ru_stime
    delta, _children_total = total - _children_total, total
    return delta


def sides(src: Path) -> dict[str, list[str]]:
    dst = OUT / "audio_bench_out.mp4"
    me = [sys.executable, str(Path(__file__).resolve()), "--worker"]
    ff = ["ffmpeg", "-v", "error", "-y", "-nostdin", "-i", str(src)]
    return {
        "pantau full": [*me, "full", str(src), str(dst)],
        "ffmpeg full 8k": [*ff, "-c:v", "copy", "-c:a", "aac", "-b:a", "32k", str(dst)],
        "ffmpeg full 16k": [*ff, "-c:v", "copy", "-c:a", "aac", "-b:a", "32k", "-ar", "16000", str(dst)],
        "pantau audio": [*me, "audio", str(src), str(dst)],
        "ffmpeg audio 8k": [*ff, "-vn", "-c:a", "aac", "-b:a", "32k", "-f", "null", "-"],
        "ffmpeg audio 16k": [*ff, "-vn", "-c:a", "aac", "-b:a", "32k", "-ar", "16000", "-f", "null", "-"],
        "pantau video": [*me, "video", str(src), str(dst)],
        "ffmpeg video": [*ff, "-c:v", "copy", "-an", str(dst)],
    }


def render(best: dict[str, dict[str, Any]], every: dict[str, list[float]], minutes: int, repeat: int,
           info: dict[str, str], load: tuple[float, float]) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    per = {name: r["cpu_s"] / minutes for name, r in best.items()}
    work = {name: r["work_cpu_s"] / minutes for name, r in best.items() if "work_cpu_s" in r}

    def ratio(a: str, b: str) -> str:
        return f"{per[a] / per[b]:.2f}x ({work[a] / per[b]:.2f}x)"

    lines = [
        f"## Audio transcoding (bench/audio.py), {when}", "",
        f"- Code: {info['commit']}", f"- Machine: {info['machine']}; load average {load[0]:.1f} at the start, "
        f"{load[1]:.1f} at the end", f"- Python {info['python']}; {info['pyav']}", f"- ffmpeg CLI: {info['ffmpeg']}",
        f"- Input: {minutes} min of 640x360 25 fps H.264 (~500 kbit/s, GOP 50) + G.711 A-law 8 kHz mono pink noise "
        "(Matroska); AAC-LC 32 kbit/s on every side",
        f"- Each side in its own process, {repeat} run(s) each, alternating; the run with the least CPU is shown. "
        "CPU = user+sys (os.wait4); \"work\" = the Pantau worker's own CPU around the loop (no interpreter start-up, "
        "no imports).", "",
        "| what | Pantau CPU s per camera-minute (work) | reference | reference CPU s per camera-minute "
        "| ratio (on work) |",
        "|---|---|---|---|---|",
        f"| G.711 -> AAC alone (decode, 8->16 kHz, encode) | {per['pantau audio']:.3f} ({work['pantau audio']:.3f}) "
        f"| `ffmpeg -vn -c:a aac -ar 16000` | {per['ffmpeg audio 16k']:.3f} | {ratio('pantau audio', 'ffmpeg audio 16k')} |",
        f"| same, reference at 8 kHz | | `ffmpeg -vn -c:a aac` (8 kHz kept) | {per['ffmpeg audio 8k']:.3f} "
        f"| {ratio('pantau audio', 'ffmpeg audio 8k')} |",
        f"| video copied + audio to AAC, into MP4 | {per['pantau full']:.3f} ({work['pantau full']:.3f}) "
        f"| `ffmpeg -c:v copy -c:a aac -ar 16000` | {per['ffmpeg full 16k']:.3f} "
        f"| {ratio('pantau full', 'ffmpeg full 16k')} |",
        f"| same, reference at 8 kHz | | `ffmpeg -c:v copy -c:a aac` | {per['ffmpeg full 8k']:.3f} "
        f"| {ratio('pantau full', 'ffmpeg full 8k')} |",
        f"| video copied alone, into MP4 | {per['pantau video']:.3f} ({work['pantau video']:.3f}) "
        f"| `ffmpeg -c:v copy -an` | {per['ffmpeg video']:.3f} | {ratio('pantau video', 'ffmpeg video')} |",
        "",
        f"- The sound's own cost in the recorder: {work['pantau audio']:.3f} CPU s per camera-minute "
        f"({work['pantau audio'] / 60 * 100:.2f} % of one core per camera); full minus video-only: "
        f"{per['pantau full'] - per['pantau video']:.3f} (Pantau), "
        f"{per['ffmpeg full 16k'] - per['ffmpeg video']:.3f} (ffmpeg, 16 kHz), "
        f"{per['ffmpeg full 8k'] - per['ffmpeg video']:.3f} (ffmpeg, 8 kHz).",
        "- CPU s of every run: " + "; ".join(f"{name} " + ", ".join(f"{c:.2f}" for c in cpus)
                                             for name, cpus in every.items()),
        f"- AAC packets: {best['pantau full'].get('aac_packets')} (Pantau, 1024 samples at 16 kHz each); "
        f"video frames {best['pantau full'].get('frames')}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-results", action="store_true", help="print the section, do not append it")
    ap.add_argument("--worker", nargs=3, metavar=("MODE", "IN", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]), Path(args.worker[2]))
        return
    src = ensure_input(args.minutes)
    info = ingest.versions()
    load_start = os.getloadavg()[0]
    started = time.monotonic()
    every: dict[str, list[float]] = {}
    best: dict[str, dict[str, Any]] = {}
    for round_ in range(args.repeat):
        for name, cmd in sides(src).items():
            result = run(cmd)
            ingest.log(f"round {round_ + 1}: {name}: {result['cpu_s']:.2f} CPU s, {result['wall_s']:.1f} s")
            every.setdefault(name, []).append(result["cpu_s"])
            if name not in best or result["cpu_s"] < best[name]["cpu_s"]:
                best[name] = result
    (OUT / "audio_bench_out.mp4").unlink(missing_ok=True)
    section = render(best, every, args.minutes, args.repeat, info, (load_start, os.getloadavg()[0]))
    section += f"- Bench wall time {(time.monotonic() - started) / 60:.1f} min.\n"
    print(section)
    if not args.no_results:
        with RESULTS.open("a") as fh:
            fh.write("\n" + section)


if __name__ == "__main__":
    main()
