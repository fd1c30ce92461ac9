"""The test camera serves several clients of one mount as a camera does: a client that joins later
does not rewind the others (gst-rtsp-server seeks a seekable shared media on every PLAY with a
Range header, which libav always sends; that put frames 1/90000 s apart into recordings)."""

from __future__ import annotations

import threading
from typing import Any

import av

FRAME = 3600  # 25 fps in RTP's 90 kHz clock


def _open(url: str) -> Any:
    return av.open(url, options={"rtsp_transport": "tcp", "timeout": "5000000"})


def test_a_second_client_joining_does_not_rewind_the_first(camera_server: Any) -> None:
    server = camera_server({"cam": "ball"})
    first = _open(server.url("cam"))
    joined = threading.Event()
    second: list[Any] = []

    def join() -> None:
        second.append(_open(server.url("cam")))
        for packet in second[0].demux(video=0):  # read until it has a picture: fully playing
            if packet.is_keyframe:
                break
        joined.set()

    try:
        stamps: list[int] = []
        joiner: threading.Thread | None = None
        after_join = 0
        for packet in first.demux(video=0):
            if packet.pts is None:
                continue
            stamps.append(packet.pts)
            if len(stamps) == 25:
                joiner = threading.Thread(target=join)
                joiner.start()
            if joined.is_set():
                after_join += 1
                if after_join >= 25:
                    break
            if len(stamps) > 400:
                break
        assert joiner is not None
        joiner.join(10)
        assert joined.is_set(), "the second client never got a picture"
        steps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
        assert steps and all(step == FRAME for step in steps[1:]), steps
    finally:
        first.close()
        for container in second:
            container.close()
