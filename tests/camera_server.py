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
  flash    lip sync: a grey picture that turns white for one frame every FLASH_EVERY_S, and
           (with an audio modifier) silence with a 1 kHz beep of BEEP_S starting at the same
           instant; both appsrcs are fed by one thread and stamped on one running-time grid
Video: H.264 main profile, GOP 50, 25 fps, SPS/PPS in band like real cameras.
Modifiers after the kind, joined with "+" (as city cameras come): `ball+h265+pcma+320x180`
  h265     H.265 main profile instead of H.264 (VPS/SPS/PPS in band)
  bframes  H.264 with two B-frames (main/high-profile cameras reorder frames)
  WxH      this mount's size instead of --size (a sub-stream)
  aac      a second track: AAC-LC 16 kHz mono, RTP mpeg4-generic (a 440 Hz tone)
  pcma     a second track: G.711 A-law 8 kHz mono (PCMA), the default of most IP cameras
  pcmu     a second track: G.711 mu-law 8 kHz mono (PCMU)
  gopNN    a keyframe every NN frames instead of 50 (gop10: every 0.4 s; replay starts on a keyframe)
  NNNkbps  this mount's bitrate instead of --bitrate, held constant (H.264: CBR with filler data, as a
           camera set to CBR sends whatever the picture: main >> sub in a bandwidth test)
  shared   every mount with the same spec re-sends one encoder's H.264 (no audio, no B-frames): 16
           cameras' 720p streams for the price of one encode (live encoding 16 of them needs ~4 cores)
Options: --size WxH (default 640x360), --bitrate KBPS (default 1000), --sessions FILE (the number of
RTSP clients playing each mount, rewritten as JSON {"mount": n} whenever it changes).
Prints "ready PORT" on stdout once listening.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstRtspServer, GstVideo  # noqa: E402


def encoder(bitrate: int, codec: str = "h264", bframes: int = 0, cbr: bool = False, gop: int = 50) -> str:
    if codec == "h265":
        return (
            f"x265enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate={bitrate} "
            "! video/x-h265,profile=main ! h265parse config-interval=-1 ! rtph265pay name=pay0 pt=96"
        )
    # tune=zerolatency turns B-frames off; `bframes` after it turns them back on.
    reorder = f" bframes={bframes} b-adapt=false" if bframes else ""
    # x264 pads to the HRD's constant rate with filler NAL units (the test picture alone is cheap).
    constant = " vbv-buf-capacity=1000 option-string=nal-hrd=cbr:filler=1" if cbr else ""
    return (
        f"x264enc tune=zerolatency speed-preset=veryfast key-int-max={gop} bitrate={bitrate}{reorder}{constant} "
        "! video/x-h264,profile=main ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96"
    )


# The second (audio) track of a mount, by modifier: raw test tone -> encoder -> RTP payloader.
AUDIO = {
    "aac": "audio/x-raw,rate=16000,channels=1 ! avenc_aac ! aacparse ! rtpmp4gpay name=pay1 pt=97",
    "pcma": "audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay1 pt=8",
    "pcmu": "audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1 pt=0",
}


def audio_branch(codec: str) -> str:
    return f"audiotestsrc is-live=true wave=sine freq=440 volume=0.3 ! audioconvert ! audioresample ! {AUDIO[codec]}"


def parse_kind(spec: str, width: int, height: int) -> tuple[str, int, int, str, int, str | None]:
    """`ball+h265+pcma+320x180` -> (kind, width, height, video codec, bframes, audio codec)."""
    if spec.startswith("file:"):
        return spec, width, height, "h264", 0, None
    kind, *mods = spec.split("+")
    codec, bframes, audio = "h264", 0, None
    for mod in mods:
        if (mod.endswith("kbps") and mod[:-4].isdigit()) or mod == "shared" or _gop_mod(mod):
            continue  # mount_bitrate(), SharedEncoder, mount_gop()
        if mod == "h265":
            codec = "h265"
        elif mod == "bframes":
            bframes = 2
        elif mod in AUDIO:
            audio = mod
        elif "x" in mod and all(part.isdigit() for part in mod.split("x", 1)):
            width, height = (int(v) for v in mod.split("x", 1))
        else:
            raise SystemExit(f"unknown mount modifier {mod!r} in {spec!r}")
    return kind, width, height, codec, bframes, audio


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


# The `flash` mount: one white frame every FLASH_EVERY_S (frame 0 of each period), a beep of
# BEEP_S starting with it; audio is pushed in AUDIO_CHUNK_S pieces, as cameras packetize G.711.
FLASH_EVERY_S = 2
BEEP_S = 0.1
BEEP_HZ = 1000
AUDIO_CHUNK_S = 0.02
FLASH_RATES = {"aac": 16000, "pcma": 8000, "pcmu": 8000}


def flash_audio_branch(codec: str) -> str:
    rate = FLASH_RATES[codec]
    return (
        f"appsrc name=beep is-live=true format=time max-buffers=8 "
        f"caps=audio/x-raw,format=S16LE,layout=interleaved,rate={rate},channels=1 "
        f"! audioconvert ! audioresample ! {AUDIO[codec]}"
    )


def feed_flash(video: Gst.Element, audio: Gst.Element | None, width: int, height: int, rate: int) -> None:
    """Push 25 fps frames and 20 ms audio chunks in step until the pipeline stops taking them.

    Every buffer is stamped on an exact grid of the pipeline's running time (from when the
    pipeline first runs), not with the moment it was pushed: on a busy machine a push can come
    tens of milliseconds late, and the audio encoder re-stamps its output by counting samples,
    so push-time stamps would put the picture and the sound of one instant apart."""
    luma = width * height
    grey = b"\x60" * luma + b"\x80" * (luma // 2)
    white = b"\xeb" * luma + b"\x80" * (luma // 2)
    samples = int(rate * AUDIO_CHUNK_S)
    quiet = bytes(2 * samples)
    beep_chunks = []
    for chunk in range(round(BEEP_S / AUDIO_CHUNK_S)):
        values = (round(12000 * math.sin(2 * math.pi * BEEP_HZ * (chunk * samples + i) / rate))
                  for i in range(samples))
        beep_chunks.append(b"".join(struct.pack("<h", v) for v in values))
    frames_per_flash = FLASH_EVERY_S * 25
    chunks_per_flash = round(FLASH_EVERY_S / AUDIO_CHUNK_S)
    tick_ns = int(AUDIO_CHUNK_S * Gst.SECOND)
    base = video.get_current_running_time()
    while base == Gst.CLOCK_TIME_NONE:  # not playing yet
        time.sleep(0.01)
        base = video.get_current_running_time()
    start = time.monotonic()
    tick = 0  # one tick per audio chunk (20 ms); a frame every second tick (40 ms)
    while True:
        delay = start + tick * AUDIO_CHUNK_S - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if tick % 2 == 0:
            frame = (tick // 2) % frames_per_flash
            # A new buffer per push: a pushed buffer carries its stamp, and Gst.Buffer.copy() is
            # a reference to the same one (a second push would carry the first push's time).
            picture = Gst.Buffer.new_wrapped(white if frame == 0 else grey)
            picture.pts, picture.duration = base + tick * tick_ns, 2 * tick_ns
            if video.emit("push-buffer", picture) != Gst.FlowReturn.OK:
                return
        if audio is not None:
            chunk = tick % chunks_per_flash
            sound = Gst.Buffer.new_wrapped(beep_chunks[chunk] if chunk < len(beep_chunks) else quiet)
            sound.pts, sound.duration = base + tick * tick_ns, tick_ns
            if audio.emit("push-buffer", sound) != Gst.FlowReturn.OK:
                return
        tick += 1


def mount_bitrate(spec: str) -> int | None:
    """The constant bitrate a mount's `NNNkbps` modifier asks for, or None."""
    rates = [int(mod[:-4]) for mod in spec.split("+")[1:] if mod.endswith("kbps") and mod[:-4].isdigit()]
    return rates[-1] if rates else None


def _gop_mod(mod: str) -> bool:
    return mod.startswith("gop") and mod[3:].isdigit() and int(mod[3:]) > 0


def mount_gop(spec: str) -> int:
    """Frames from one keyframe to the next a mount's `gopNN` modifier asks for; 50 by default."""
    gops = [int(mod[3:]) for mod in spec.split("+")[1:] if _gop_mod(mod)]
    return gops[-1] if gops else 50


def pipeline(spec: str, width: int, height: int, bitrate: int) -> str:
    kind, width, height, codec, bframes, audio = parse_kind(spec, width, height)
    constant = mount_bitrate(spec)
    video = video_pipeline(kind, width, height, encoder(constant or bitrate, codec, bframes, constant is not None,
                                                       mount_gop(spec)))
    if audio and kind == "flash":
        return f"( {video} {flash_audio_branch(audio)} )"
    return f"( {video} {audio_branch(audio)} )" if audio else f"( {video} )"


def video_pipeline(kind: str, width: int, height: int, encode: str) -> str:
    caps = f"video/x-raw,width={width},height={height},framerate=25/1"
    if kind == "flash":
        return (
            f"appsrc name=flash is-live=true format=time max-buffers=4 "
            f"caps=video/x-raw,format=I420,{caps.split(',', 1)[1]} ! {encode}"
        )
    if kind == "clock":
        return (
            f"appsrc name=clock is-live=true do-timestamp=true format=time "
            "max-buffers=2 leaky-type=downstream "
            f"caps=video/x-raw,format=I420,{caps.split(',', 1)[1]} ! {encode}"
        )
    if kind.startswith("file:"):
        path = kind[5:]
        return f"filesrc location={path} ! parsebin ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96"
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
    return f"{sources[kind]} ! videoconvert ! videoscale ! {caps} ! {encode}"


class SharedEncoder:
    """One encoding pipeline for every `shared` mount of the same spec: each mount's appsrc gets a copy
    of every access unit, stamped on arrival (a restreamer's view of one camera). A mount that joins
    gets the current GOP at once: its media prerolls (answers DESCRIBE) without waiting for the next
    keyframe, which with 32 clients at once kept the server's loop from answering in time."""

    APPSRC = ("appsrc name=shared is-live=true do-timestamp=true format=time "
              "caps=video/x-h264,stream-format=byte-stream,alignment=au ! h264parse config-interval=-1 "
              "! rtph264pay name=pay0 pt=96")

    def __init__(self, spec: str, width: int, height: int, bitrate: int) -> None:
        kind, width, height, codec, bframes, audio = parse_kind(spec, width, height)
        if codec != "h264" or bframes or audio:
            raise SystemExit(f"{spec!r}: `shared` takes H.264 without B-frames or audio")
        constant = mount_bitrate(spec)
        encode = encoder(constant or bitrate, codec, bframes, constant is not None, mount_gop(spec)).rsplit(
            " ! rtph264pay", 1)[0]
        self._pipeline = Gst.parse_launch(
            f"{video_pipeline(kind, width, height, encode)} ! video/x-h264,stream-format=byte-stream,alignment=au "
            "! appsink name=out emit-signals=true sync=false max-buffers=50 drop=true"
        )
        self._pipeline.get_by_name("out").connect("new-sample", self._sample)
        self._targets: list[Gst.Element] = []
        self._gop: list[Gst.Buffer] = []  # the access units since the latest keyframe
        self._lock = threading.Lock()
        self._started = False

    def configure(self, _factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
        """A mount's media was made: feed its appsrc from now on (and start encoding on the first)."""
        appsrc = media.get_element().get_child_by_name("shared")
        with self._lock:
            for buffer in self._gop:
                appsrc.emit("push-buffer", _unstamped(buffer))
            self._targets.append(appsrc)
            start, self._started = not self._started, True
        media.connect("unprepared", lambda _media: self._drop(appsrc))
        if start:
            self._pipeline.set_state(Gst.State.PLAYING)

    def _drop(self, appsrc: Gst.Element) -> None:
        with self._lock:
            if appsrc in self._targets:
                self._targets.remove(appsrc)

    def _sample(self, sink: Gst.Element) -> Gst.FlowReturn:
        buffer = sink.emit("pull-sample").get_buffer()
        with self._lock:
            if not buffer.has_flags(Gst.BufferFlags.DELTA_UNIT):
                self._gop = []
            self._gop.append(buffer)
            targets = list(self._targets)
            failed = [appsrc for appsrc in targets
                      if appsrc.emit("push-buffer", _unstamped(buffer)) != Gst.FlowReturn.OK]
            for appsrc in failed:
                self._targets.remove(appsrc)
        return Gst.FlowReturn.OK


def _unstamped(buffer: Gst.Buffer) -> Gst.Buffer:
    """A copy without timestamps: the mount's appsrc (do-timestamp) stamps it on arrival."""
    copy = buffer.copy()
    copy.pts = copy.dts = copy.duration = Gst.CLOCK_TIME_NONE
    return copy


def start_clock(_factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia,
                width: int, height: int) -> None:
    appsrc = media.get_element().get_child_by_name("clock")
    threading.Thread(target=feed_clock, args=(appsrc, width, height), daemon=True).start()


def start_flash(_factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia,
                width: int, height: int, audio: str | None) -> None:
    element = media.get_element()
    video = element.get_child_by_name("flash")
    beep = element.get_child_by_name("beep") if audio else None
    rate = FLASH_RATES[audio] if audio else 8000
    threading.Thread(target=feed_flash, args=(video, beep, width, height, rate), daemon=True).start()


def key_frame_on_join(_client: GstRtspServer.RTSPClient, ctx: GstRtspServer.RTSPContext) -> None:
    """A client joined a mount: ask its encoder for a keyframe now, as cameras do for a new client
    (the clients already watching get an extra one), rather than make it wait up to a GOP."""
    pay = ctx.media.get_element().get_child_by_name("pay0") if ctx.media is not None else None
    if pay is not None:
        pay.send_event(GstVideo.video_event_new_upstream_force_key_unit(Gst.CLOCK_TIME_NONE, True, 0))


class SessionCount:
    """The clients playing each mount, written to `path` (atomically) on every change: a PLAY adds its
    client to the mount, the client's TEARDOWN or closed connection takes it away."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.playing: dict[GstRtspServer.RTSPClient, str] = {}
        self._write()

    def connected(self, client: GstRtspServer.RTSPClient) -> None:
        client.connect("play-request", self._play)
        client.connect("teardown-request", lambda c, _ctx: self._gone(c))
        client.connect("closed", self._gone)

    def _play(self, client: GstRtspServer.RTSPClient, ctx: GstRtspServer.RTSPContext) -> None:
        path = ctx.uri.abspath if ctx.uri is not None else ""
        mount = path.strip("/").split("/")[0]
        if self.playing.get(client) != mount:
            self.playing[client] = mount
            self._write()

    def _gone(self, client: GstRtspServer.RTSPClient) -> None:
        if self.playing.pop(client, None) is not None:
            self._write()

    def _write(self) -> None:
        counts: dict[str, int] = {}
        for mount in self.playing.values():
            counts[mount] = counts.get(mount, 0) + 1
        with open(self.path + ".tmp", "w") as out:
            json.dump(counts, out)
        os.replace(self.path + ".tmp", self.path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--mount", action="append", default=[], help="NAME=KIND")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--bitrate", type=int, default=1000)
    parser.add_argument("--sessions", help="FILE: keep the playing clients per mount in it (JSON)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    encoders: dict[str, SharedEncoder] = {}
    for spec in args.mount or ["test=ball"]:
        name, _, kind = spec.partition("=")
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_shared(True)
        # A camera's stream is live: it does not start over for a client that joins. libav (and
        # rtspsrc) send `Range: npt=0.000-` with the first PLAY, and gst-rtsp-server seeks the
        # media to it; the test sources are seekable, so every client's PLAY restarted the one
        # shared pipeline at frame 0 and rewound the timestamps of the clients already watching.
        # With this clock mode the media is not seekable (rtsp-media.c check_seekable) and the
        # PLAY goes on without a seek (the SDP gains a=ts-refclk/a=mediaclk, which libav ignores).
        factory.set_publish_clock_mode(GstRtspServer.RTSPPublishClockMode.CLOCK_AND_OFFSET)
        if "shared" in kind.split("+")[1:]:
            if kind not in encoders:
                encoders[kind] = SharedEncoder(kind, width, height, args.bitrate)
            factory.set_launch(f"( {SharedEncoder.APPSRC} )")
            # Each client its own media (its own appsrc fed by the one encoder), as a camera serves
            # each RTSP session on its own: a client's media that is being torn down, or stuck, can
            # never be the one a newcomer joins (a node taking a camera over right after another
            # node let it go got no packets once on a loaded CI machine, with the media shared).
            factory.set_shared(False)
            factory.connect("media-configure", encoders[kind].configure)
            mounts.add_factory(f"/{name}", factory)
            continue
        factory.set_launch(pipeline(kind, width, height, args.bitrate))
        if kind.split("+")[0] == "clock":
            _, w, h, *_ = parse_kind(kind, width, height)
            factory.connect("media-configure", start_clock, w, h)
        elif kind.split("+")[0] == "flash":
            _, w, h, _, _, sound = parse_kind(kind, width, height)
            factory.connect("media-configure", start_flash, w, h, sound)
        mounts.add_factory(f"/{name}", factory)
    server.connect("client-connected", lambda _server, client: client.connect("play-request", key_frame_on_join))
    if args.sessions:
        sessions = SessionCount(args.sessions)
        server.connect("client-connected", lambda _server, client: sessions.connected(client))
    if server.attach(None) == 0:
        print(f"cannot listen on port {args.port}", file=sys.stderr, flush=True)
        raise SystemExit(1)
    print(f"ready {server.get_bound_port()}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
