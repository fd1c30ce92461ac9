"""Runs ipycam's ONVIF device (PyPI ``ipycam``, not ours) on loopback for the tests.

Started by tests/fixtures_onvif.py with the project's interpreter. Only ipycam's
ONVIF HTTP server (device, media, PTZ services; snapshot) and its WS-Discovery
responder run: its video pipeline is not started, because the stream it
advertises is our GStreamer test camera (``--rtsp-port``, ``--main``/``--sub``
mount names). ``--clock-offset`` shifts the device's clock (what it reports in
GetSystemDateAndTime and what it checks WS-Security timestamps against), like a
camera whose clock has drifted. Prints ``ready`` once serving; exits on SIGTERM
or when stdin closes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import signal
import sys
import tempfile
import threading
import time
import types

import numpy as np

PTZ_NS = "http://www.onvif.org/ver20/ptz/wsdl"
_PRE_AUTH = re.compile(r"<(?:[\w.-]+:)?GetSystemDateAndTime\b")


def _shift_clock(offset_s: float) -> None:
    """Make ipycam's ONVIF service see a clock `offset_s` seconds away from ours."""
    import ipycam.onvif as onvif_module

    shifted_time = types.SimpleNamespace(
        gmtime=lambda secs=None: time.gmtime((time.time() if secs is None else secs) + offset_s),
        time=lambda: time.time() + offset_s,
    )

    class ShiftedDatetime(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> ShiftedDatetime:  # type: ignore[override]
            real = dt.datetime.now(tz) + dt.timedelta(seconds=offset_s)
            return cls.fromtimestamp(real.timestamp(), tz)

    onvif_module.time = shifted_time  # type: ignore[assignment]
    onvif_module.datetime = ShiftedDatetime  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--onvif-port", type=int, required=True)
    parser.add_argument("--discovery-port", type=int, required=True)
    parser.add_argument("--rtsp-port", type=int, required=True)
    parser.add_argument("--main", default="main")
    parser.add_argument("--sub", default="sub")
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    parser.add_argument("--clock-offset", type=float, default=0.0)
    parser.add_argument("--name", default="Pantau test camera")
    parser.add_argument("--serial", default="PT-0001")
    args = parser.parse_args()

    from ipycam import CameraConfig, IPCamera, IPCameraHTTPHandler, WSDiscoveryServer
    from ipycam.camera import ReusableThreadingTCPServer

    if args.clock_offset:
        _shift_clock(args.clock_offset)

    config = CameraConfig(
        name=args.name,
        manufacturer="IPyCam",
        model="VirtualCam-1",
        serial_number=args.serial,
        local_ip="127.0.0.1",
        onvif_port=args.onvif_port,
        rtsp_port=args.rtsp_port,
        main_stream_name=args.main,
        sub_stream_name=args.sub,
        main_width=640,
        main_height=360,
        sub_width=640,
        sub_height=360,
        main_fps=25,
        sub_fps=25,
        username=args.user,
        password=args.password,
    )
    # ipycam keeps its PTZ presets in ./ptz_presets.json (read at start, written on SetPreset):
    # give every device its own empty working directory so presets neither leak between tests
    # nor land in the checkout.
    workdir = tempfile.TemporaryDirectory(prefix="ipycam-")
    os.chdir(workdir.name)
    camera = IPCamera(config)
    # ipycam 1.3.0's PTZ replies use the ptz: and tptz: prefixes without declaring them, which
    # no XML parser accepts (lxml: "Invalid tag name 'ptz:PTZStatus'"). Declare both on the
    # envelope, as a conforming camera would; the replies themselves are unchanged.
    envelope = camera.onvif._templates["envelope"]
    camera.onvif._templates["envelope"] = envelope.replace(
        "<s:Envelope ",
        f'<s:Envelope xmlns:ptz="{PTZ_NS}" xmlns:tptz="{PTZ_NS}" ',
        1,
    )
    # ONVIF Core's default access policy puts GetSystemDateAndTime in class PRE_AUTH: no
    # credentials needed, which is how a client measures the clock offset before WS-Security.
    # ipycam 1.3.0 authenticates every request; restore the spec's behaviour.
    authenticate = camera.onvif.verify_usernametoken
    camera.onvif.verify_usernametoken = lambda body: bool(  # type: ignore[method-assign]
        _PRE_AUTH.search(body) or authenticate(body)
    )
    # The snapshot URI serves the latest frame; give it one (a grey test card).
    frame = np.full((360, 640, 3), 128, dtype=np.uint8)
    frame[100:260, 200:440] = (0, 160, 255)
    with camera._last_frame_lock:
        camera._last_frame = frame

    class Discovery(WSDiscoveryServer):
        MULTICAST_PORT = args.discovery_port

    discovery = Discovery(camera.onvif)
    discovery.start()
    IPCameraHTTPHandler.camera = camera
    server = ReusableThreadingTCPServer(("127.0.0.1", args.onvif_port), IPCameraHTTPHandler)
    http_thread = threading.Thread(target=server.serve_forever, daemon=True)
    http_thread.start()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def watch_stdin() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print("ready", flush=True)
    stop.wait()
    discovery.stop()
    camera.ptz.stop()
    server.shutdown()
    server.server_close()
    workdir.cleanup()


if __name__ == "__main__":
    main()
