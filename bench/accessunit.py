"""What one timed access unit per frame (streams/accessunit.py) costs at ingest, per video packet.

    .venv/bin/python bench/accessunit.py [--seconds 60] [--no-results]

Encodes `--seconds` of 1080p25 H.264 (x264 ultrafast, two slices per picture, B-frames, a GOP of
50), then measures, in CPU time per video packet:

  * reference: PyAV demuxing the same packets from an MP4 in memory and detaching them as
    MediaPackets (the least the worker thread does per packet before the stage runs);
  * whole:   AccessUnits.push with whole frames (what libav's RTSP parser hands over);
  * joining: AccessUnits.push with every frame cut into one packet per NAL unit, joined again.

Ratio = stage / reference. Appends a section to bench/RESULTS.md unless --no-results.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import platform
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import numpy as np  # noqa: E402

from streams.accessunit import AccessUnits  # noqa: E402
from streams.bitstream import START_CODE_3, nal_units  # noqa: E402
from streams.packet import MediaPacket, StreamInfo  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
TB = Fraction(1, 90000)


def encode(seconds: float) -> bytes:
    """An MP4 (in memory) of a moving gradient with noise, Annex B H.264 with SPS/PPS in band."""
    buf = io.BytesIO()
    rng = np.random.default_rng(4)
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.options = {"preset": "ultrafast", "bf": "2",
                          "x264-params": "keyint=50:min-keyint=50:scenecut=0:slices=2:aud=1:repeat-headers=1"}
        base = np.add.outer(np.arange(1080) // 4, np.arange(1920) // 8)
        for i in range(int(seconds * 25)):
            picture = ((base + i * 3 + rng.integers(0, 8, base.shape)) % 256).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.repeat(picture[:, :, None], 3, axis=2), format="rgb24")
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def demux(mp4: bytes) -> tuple[list[MediaPacket], float]:
    """The file's video packets as Annex B MediaPackets, and the CPU seconds the demux took."""
    started = time.process_time()
    packets: list[MediaPacket] = []
    with av.open(io.BytesIO(mp4)) as container:
        stream = container.streams.video[0]
        bsf = av.bitstream.BitStreamFilterContext("h264_mp4toannexb", stream)
        for raw in container.demux(stream):
            for p in bsf.filter(raw) if raw.size else []:
                packets.append(MediaPacket(0, bytes(p), p.pts, p.dts, p.is_keyframe, time.monotonic(), time.time()))
    return packets, time.process_time() - started


def run_stage(packets: list[MediaPacket], whole: bool) -> tuple[float, int]:
    """CPU seconds for pushing `packets` through one AccessUnits, and the packets it gave back."""
    units = AccessUnits((StreamInfo(0, "video", "h264", TB),), whole_frames=whole)
    started = time.process_time()
    out = 0
    for packet in packets:
        out += len(units.push(packet))
    out += len(units.flush())
    return time.process_time() - started, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()
    mp4 = encode(args.seconds)
    frames, demux_s = demux(mp4)
    parts = [MediaPacket(0, START_CODE_3 + nal, p.pts, p.dts, False, p.received, p.wallclock)
             for p in frames for nal in nal_units(p.data)]
    whole_s, whole_out = run_stage(frames, True)
    join_s, join_out = run_stage(parts, False)
    assert whole_out == len(frames) == join_out, (whole_out, len(frames), join_out)
    per = {"reference (demux + detach)": demux_s / len(frames), "whole": whole_s / len(frames),
           "joining": join_s / len(frames)}
    code = subprocess.run(["git", "log", "-1", "--format=%h %ci"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    with open("/proc/loadavg") as fh:
        load = " ".join(fh.read().split()[:3])
    lines = [
        f"## Access units at ingest (bench/accessunit.py), {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", "",
        f"- Code: {code}",
        f"- Machine: {platform.platform()}; Python {platform.python_version()}; PyAV {av.__version__}",
        f"- Load average when measured: {load}",
        f"- Media: {args.seconds:g} s of 1080p25 H.264 (x264 ultrafast, 2 slices, 2 B-frames, GOP 50), "
        f"{len(frames)} frames, {len(parts)} NAL units",
        "",
        "| path | CPU us per frame | ratio to the reference |",
        "|---|---|---|",
        *[f"| {name} | {sec * 1e6:.2f} | {sec / per['reference (demux + detach)']:.3f}x |" for name, sec in per.items()],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_results:
        with open(RESULTS, "a") as fh:
            fh.write("\n" + text)


if __name__ == "__main__":
    main()
