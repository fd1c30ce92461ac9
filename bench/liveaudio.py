"""CPU of a WHEP viewer's sound: what Pantau does per viewer, side by side with ffmpeg doing the same.

    .venv/bin/python bench/liveaudio.py [--seconds 60] [--runs 3] [--no-results]

Two cases, each on the same input for both sides (made once in bench/out/):

  * AAC camera -> Opus: 16 kHz mono AAC-LC (a tone with noise, 1024-sample frames as cameras send).
    Pantau: per packet `PcmShaper.push` (decode, resample to 48 kHz, cut into 20 ms pieces, the
    event loop's work), `LipSync.due` per piece, and aiortc's `OpusEncoder.encode` per piece (what
    aiortc's sender runs in its executor; 96 kbit/s, stereo, application voip).
    Reference: `ffmpeg -i in.aac -c:a libopus -b:a 96k -ac 2 -ar 48000 -application voip -f null -`.
    The event loop's share alone (everything but the Opus encoder) is measured too, against the
    same reference.
  * G.711 A-law camera -> PCMA: 8 kHz mono, 20 ms packets. Pantau: `g711_pieces`, `LipSync.due`,
    an `av.Packet` per piece and aiortc's `PcmEncoder.pack` (passthrough, nothing re-encoded).
    Reference: `ffmpeg -f alaw -ar 8000 -ac 1 -i in.al -c:a copy -f null -`.

CPU is user+sys of the process that did the work (Pantau: this process, `resource.getrusage`
around the loop; ffmpeg: `os.wait4` of the child, so its start-up is included: the input is long
enough that it does not matter much, and it is said in the table). Each side runs `--runs` times,
alternating; the least CPU counts. Results are appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import numpy as np  # noqa: E402
from aiortc.codecs.g711 import PcmaEncoder  # noqa: E402
from aiortc.codecs.opus import OpusEncoder  # noqa: E402

from streams.packet import StreamInfo  # noqa: E402
from webrtc.audioframes import PcmShaper, g711_pieces  # noqa: E402
from webrtc.audiotrack import RtpClock, audio_frame  # noqa: E402
from webrtc.lipsync import LipSync  # noqa: E402

OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "RESULTS.md"
AAC_RATE = 16_000


def signal(seconds: float, rate: int) -> np.ndarray:
    """A 440 Hz tone with some noise (a camera microphone is never silent), float32 mono."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(1)
    return (0.25 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


def make_aac(seconds: float) -> tuple[Path, StreamInfo, list[tuple[bytes, float]]]:
    """ADTS AAC for ffmpeg, and the same packets (raw, with times) for Pantau."""
    path = OUT / f"liveaudio_{int(seconds)}s.aac"
    OUT.mkdir(parents=True, exist_ok=True)
    out = av.open(str(path), "w", format="adts")
    stream = out.add_stream("aac", rate=AAC_RATE, layout="mono")
    sound = signal(seconds, AAC_RATE)
    packets: list[tuple[bytes, float]] = []
    for start in range(0, len(sound), 1024):
        frame = av.AudioFrame.from_ndarray(sound[None, start:start + 1024], format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = AAC_RATE, start, Fraction(1, AAC_RATE)
        for packet in stream.encode(frame):
            packets.append((bytes(packet), float(packet.pts * packet.time_base)))
            out.mux(packet)
    for packet in stream.encode(None):
        packets.append((bytes(packet), float(packet.pts * packet.time_base)))
        out.mux(packet)
    extradata = bytes(stream.codec_context.extradata or b"")
    out.close()
    info = StreamInfo(1, "audio", "aac", Fraction(1, AAC_RATE), extradata, sample_rate=AAC_RATE, channels=1)
    return path, info, packets


def make_alaw(seconds: float) -> tuple[Path, list[tuple[bytes, float]]]:
    """Raw A-law for ffmpeg, and the same bytes as 20 ms packets for Pantau."""
    path = OUT / f"liveaudio_{int(seconds)}s.al"
    enc = av.CodecContext.create("pcm_alaw", "w")
    enc.sample_rate, enc.layout, enc.format = 8000, "mono", "s16"
    enc.open()
    pcm = (signal(seconds, 8000) * 32767).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
    frame.sample_rate = 8000
    data = b"".join(bytes(p) for p in enc.encode(frame))
    path.write_bytes(data)
    return path, [(data[i:i + 160], i / 8000) for i in range(0, len(data), 160)]


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pantau_aac(info: StreamInfo, packets: list[tuple[bytes, float]], encode: bool = True) -> tuple[float, int]:
    """CPU s for one viewer's AAC -> Opus, and the Opus packets made (without `encode`: the event
    loop's share only, and the 20 ms frames made)."""
    before = cpu()
    shaper, sync, opus, clock = PcmShaper(info, 48_000), LipSync(), OpusEncoder(), RtpClock(48_000)
    made = 0
    for data, at in packets:
        for piece in shaper.push(data, at):
            sync.due("audio", piece.at, piece.at + 0.1, piece.at + 0.1)
            frame = audio_frame(piece, 48_000, clock.stamp(piece.at, piece.samples))
            made += len(opus.encode(frame)[0]) if encode else 1
    return cpu() - before, made


def pantau_alaw(packets: list[tuple[bytes, float]]) -> tuple[float, int]:
    """CPU s for one viewer's G.711 passthrough, and the RTP payloads made."""
    before = cpu()
    sync, encoder, clock = LipSync(), PcmaEncoder(), RtpClock(8000)
    made = 0
    for data, at in packets:
        for piece in g711_pieces(data, at):
            sync.due("audio", piece.at, piece.at + 0.02, piece.at + 0.02)
            packet = av.Packet(piece.data)
            packet.pts, packet.time_base = clock.stamp(piece.at, piece.samples), Fraction(1, 8000)
            payloads, _ = encoder.pack(packet)
            made += len(payloads)
    return cpu() - before, made


def ffmpeg(args: list[str]) -> float:
    """CPU s (user+sys) of one ffmpeg run."""
    proc = subprocess.Popen(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", *args],
                            stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"ffmpeg failed: {args}")
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args()
    started = time.monotonic()
    load0 = os.getloadavg()[0]
    aac_path, info, aac_packets = make_aac(args.seconds)
    alaw_path, alaw_packets = make_alaw(args.seconds)
    ref_aac = ["-i", str(aac_path), "-c:a", "libopus", "-b:a", "96k", "-ac", "2", "-ar", "48000",
               "-application", "voip", "-f", "null", "-"]
    ref_alaw = ["-f", "alaw", "-ar", "8000", "-ac", "1", "-i", str(alaw_path), "-c:a", "copy", "-f", "null", "-"]
    rows = []
    for name, ours, theirs in (
        ("AAC 16 kHz mono -> Opus 48 kHz (decode, resample, 20 ms pieces, lip sync, aiortc's Opus encoder)",
         lambda: pantau_aac(info, aac_packets), ref_aac),
        ("the same, the event loop's share only (no Opus encoding)",
         lambda: pantau_aac(info, aac_packets, encode=False), ref_aac),
        ("G.711 A-law 8 kHz -> PCMA passthrough (20 ms pieces, lip sync, aiortc's pack)",
         lambda: pantau_alaw(alaw_packets), ref_alaw),
    ):
        pantau_runs, ref_runs, made = [], [], 0
        for _ in range(args.runs):
            spent, made = ours()
            pantau_runs.append(spent)
            ref_runs.append(ffmpeg(theirs))
        p, r = min(pantau_runs), min(ref_runs)
        per_min = 60 / args.seconds
        rows.append(f"| {name} | {p * per_min:.3f} | {r * per_min:.3f} | {p / r:.2f}x | {p / args.seconds * 100:.2f}% "
                    f"| {made} |")
        print(rows[-1], flush=True)
    load1 = os.getloadavg()[0]
    commit = subprocess.run(["git", "log", "-1", "--format=%h %ci"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n", 1)[0]
    section = "\n".join([
        "", f"## Live sound per viewer (bench/liveaudio.py), {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", "",
        f"- Code: {commit}",
        f"- Machine: {os.cpu_count()} CPUs (nproc), {platform.platform()}; load average {load0:.1f} at the start, "
        f"{load1:.1f} at the end",
        f"- Python {platform.python_version()}; PyAV {av.__version__}; reference: {version}",
        f"- Input: {args.seconds:g} s per case, the same for both sides; {args.runs} runs each, alternating; the "
        "least CPU shown. Pantau: this process's user+sys around the loop; ffmpeg: the child's user+sys "
        "(start-up included).",
        "",
        "| case | Pantau CPU s per audio-min | ffmpeg CPU s per audio-min | ratio | Pantau % of a core | "
        "RTP payloads made |",
        "|---|---|---|---|---|---|",
        *rows,
        "", f"- Bench wall time {(time.monotonic() - started) / 60:.1f} min.", "",
    ])
    print(section)
    if not args.no_results:
        with RESULTS.open("a") as fh:
            fh.write(section)


if __name__ == "__main__":
    main()
