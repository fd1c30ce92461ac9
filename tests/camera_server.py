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
Video: H.264 main profile, GOP 50, 25 fps, SPS/PPS in band like real cameras.
Options: --size WxH (default 640x360), --bitrate KBPS (default 1000).
Prints "ready PORT" on stdout once listening.
"""

from __future__ import annotations

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def encoder(bitrate: int) -> str:
    return (
        f"x264enc tune=zerolatency speed-preset=veryfast key-int-max=50 bitrate={bitrate} "
        "! video/x-h264,profile=main ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96"
    )


def pipeline(kind: str, width: int, height: int, bitrate: int) -> str:
    caps = f"video/x-raw,width={width},height={height},framerate=25/1"
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
        mounts.add_factory(f"/{name}", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on port {args.port}", file=sys.stderr, flush=True)
        raise SystemExit(1)
    print(f"ready {server.get_bound_port()}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
