"""A test camera: GStreamer's RTSP server with named mounts.

Runs under Debian's /usr/bin/python3 (it has the `gi` bindings), not the project venv.

    /usr/bin/python3 tests/camera_server.py --port 8554 \
        --mount live=ball --mount dark=black --mount still=frozen --mount clip=file:/path.mp4

Mount kinds:
  ball     moving ball with a running clock overlay: a healthy camera
  smpte    static colour bars (identical frames while packets flow: a frozen picture)
  black    black picture
  snow     random noise (sharp, always changing)
  blur     a heavily blurred moving picture
  file:P   a file, demuxed and re-served as-is (H.264 in MP4 or Matroska)
  clock    the wall clock drawn into every frame as black/white blocks (glass-to-glass
           latency, see `clock_frame`): a moving bar on a gradient, with two rows of 32
           blocks at the top: time.time() in ms mod 2**32 (MSB first), then its complement
Video: H.264 main profile, GOP 50, 25 fps, SPS/PPS in band like real cameras.
Options: --size WxH (default 640x360), --bitrate KBPS (default 1000).
Prints "ready PORT" on stdout once listening.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def encoder(bitrate: int) -> str:
    return (
        f"x264enc tune=zerolatency speed-preset=veryfast key-int-max=50 bitrate={bitrate} "
        "! video/x-h264,profile=main ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96"
    )


# The `clock` mount: bits per row and the block size. bench/latency.py reads them back with
# the same geometry (it runs in the venv and cannot import this gi-only module).
CLOCK_BITS = 32


def clock_block(width: int) -> int:
    """Side of one clock block in pixels: macroblock-aligned, 32 of them fit across."""
    return max(16, (width // 40) // 16 * 16)


def clock_frame(width: int, height: int, ms: int, index: int, chroma: bytes) -> bytes:
    """One I420 frame: two rows of blocks (ms mod 2**32, then its complement) above a moving bar."""
    block = clock_block(width)
    value = ms & 0xFFFFFFFF
    rows = []
    for word in (value, ~value & 0xFFFFFFFF):
        line = bytearray(b"\x80" * width)
        for bit in range(CLOCK_BITS):
            on = (word >> (CLOCK_BITS - 1 - bit)) & 1
            line[bit * block:(bit + 1) * block] = (b"\xeb" if on else b"\x10") * block
        rows.append(bytes(line) * block)
    # Below the blocks: a horizontal gradient with a bar moving 8 px per frame, so the
    # encoder has motion to code (P-frames carry data, as a real scene's do).
    body = bytearray(x * 200 // width + 20 for x in range(width))
    bar = (index * 8) % width
    body[bar:bar + 48] = b"\xeb" * len(body[bar:bar + 48])
    rest = height - 2 * block
    return b"".join(rows) + bytes(body) * rest + chroma


def feed_clock(appsrc: Gst.Element, width: int, height: int) -> None:
    """Push clock frames at 25 fps until the pipeline stops taking them (run in a thread)."""
    chroma = b"\x80" * (width * height // 2)
    start = time.monotonic()
    index = 0
    while True:
        index += 1
        delay = start + index / 25 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        # Drawn the instant the frame leaves the "sensor": what glass-to-glass measures from.
        frame = clock_frame(width, height, int(time.time() * 1000), index, chroma)
        if appsrc.emit("push-buffer", Gst.Buffer.new_wrapped(frame)) != Gst.FlowReturn.OK:
            return


def pipeline(kind: str, width: int, height: int, bitrate: int) -> str:
    caps = f"video/x-raw,width={width},height={height},framerate=25/1"
    if kind == "clock":
        return (
            f"( appsrc name=clock is-live=true do-timestamp=true format=time "
            "max-buffers=2 leaky-type=downstream "
            f"caps=video/x-raw,format=I420,{caps.split(',', 1)[1]} ! {encoder(bitrate)} )"
        )
    if kind.startswith("file:"):
        path = kind[5:]
        return (
            f"( filesrc location={path} ! parsebin ! h264parse config-interval=-1 "
            "! rtph264pay name=pay0 pt=96 )"
        )
    sources = {
        "ball": "videotestsrc is-live=true pattern=ball ! timeoverlay font-desc=\"Sans 24\"",
        "smpte": "videotestsrc is-live=true pattern=smpte",
        "black": "videotestsrc is-live=true pattern=black",
        "snow": "videotestsrc is-live=true pattern=snow",
        "blur": (
            "videotestsrc is-live=true pattern=ball ! videoconvert ! videoscale "
            f"! video/x-raw,width={max(width // 32, 8)},height={max(height // 32, 8)} "
            "! videoscale method=bilinear"
        ),
    }
    if kind not in sources:
        raise SystemExit(f"unknown mount kind {kind!r}")
    return f"( {sources[kind]} ! videoconvert ! videoscale ! {caps} ! {encoder(bitrate)} )"


def start_clock(_factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia,
                width: int, height: int) -> None:
    appsrc = media.get_element().get_child_by_name("clock")
    threading.Thread(target=feed_clock, args=(appsrc, width, height), daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--mount", action="append", default=[], help="NAME=KIND")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--bitrate", type=int, default=1000)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for spec in args.mount or ["test=ball"]:
        name, _, kind = spec.partition("=")
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(pipeline(kind, width, height, args.bitrate))
        factory.set_shared(True)
        if kind == "clock":
            factory.connect("media-configure", start_clock, width, height)
        mounts.add_factory(f"/{name}", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on port {args.port}", file=sys.stderr, flush=True)
        raise SystemExit(1)
    print(f"ready {server.get_bound_port()}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
