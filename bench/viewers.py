"""Live-viewer CPU benchmark: Pantau's WHEP passthrough against bare aiortc, N viewers of one camera.

    .venv/bin/python bench/viewers.py [--quick] [--n 1,10,50] [--window S] [--warmup S]
                                      [--profile N] [--no-results]

One camera: tests/camera_server.py re-serving bench/ingest.py's pre-encoded 1080p25 ~3 Mbit/s
H.264 file. For each N, two servers take turns, each in its own process:

  * pantau: the real gateway (gateway.app.Gateway: ingest, hub, health sampling, access log,
    WHEP sessions; recording off) with one camera; viewers POST /whep/live/cam.
  * bare:   a minimal aiortc server, no Pantau code: MediaPlayer(decode=False) on the same RTSP
    URL, MediaRelay, one RTCPeerConnection per offer (H.264 forced). The shape of the issue's
    reference numbers ("first viewer about 0.05 core incl. ingest, each further about 0.025").

N aiortc client peers run in other processes (up to --per-proc each) and count the frames their
jitter buffer completes; every peer decodes frames until its first picture (must be 1920x1080),
one peer per process decodes everything. A peer below 90 % of 25 fps in the window makes the row
invalid. Server CPU = utime+stime of the server process from /proc over the window; cores = that
/ window. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import ingest  # noqa: E402  (camera media, /proc CPU helpers, _read_until)

RESULTS = ROOT / "bench" / "RESULTS.md"
OUT = ROOT / "bench" / "out"
FPS = 25
MIN_FPS_SHARE = 0.9
CAMERA = "cam"
# Peers connecting at once; more makes 50 simultaneous DTLS handshakes time out on 2 cores.
CONNECT_CONCURRENCY = 5
TARGET_PER_CORE = 50


# --------------------------------------------------------------------------- servers (child processes)


def serve_pantau(args: argparse.Namespace) -> None:
    """The real gateway, one camera, recording off; prints READY <port>."""
    from core.config import CameraConfig, Settings
    from gateway.app import Gateway

    work = Path(args.dir)
    settings = Settings(
        data_dir=work / "data",
        server={"host": "127.0.0.1", "port": 0},
        database={"url": f"sqlite+aiosqlite:///{work / 'pantau.db'}"},
        storage={"path": work / "recordings"},
        logging={"level": "WARNING"},
        # Recording only where a bench replays (bench/latency.py): short segments, admin may replay.
        recording={"segment_s": 4, "min_free_bytes": 0},
        access={"playback": {"admin": {}}},
        cameras=[CameraConfig(id=CAMERA, source=args.url, record=args.record)],
    )
    gateway = Gateway(settings)

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        profiler = Profiler(args.cprofile) if args.cprofile else None
        await gateway.run(on_ready=lambda g: print(f"READY {g.port}", flush=True))
        del profiler

    import logging

    logging.basicConfig(level=logging.WARNING, format="pantau %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        pass


def serve_bare(args: argparse.Namespace) -> None:
    """Bare aiortc: MediaPlayer(decode=False) + MediaRelay, POST /offer -> SDP answer; READY <port>."""
    from aiohttp import web
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
    from aiortc.contrib.media import MediaPlayer, MediaRelay

    player = MediaPlayer(args.url, decode=False, options={"rtsp_transport": "tcp"})
    relay = MediaRelay()
    pcs: set[RTCPeerConnection] = set()

    async def offer(request: web.Request) -> web.Response:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pcs.add(pc)

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState in ("failed", "closed"):
                pcs.discard(pc)
                await pc.close()

        sender = pc.addTrack(relay.subscribe(player.video))
        transceiver = next(t for t in pc.getTransceivers() if t.sender is sender)
        codecs = RTCRtpSender.getCapabilities("video").codecs
        transceiver.setCodecPreferences([c for c in codecs if c.mimeType in ("video/H264", "video/rtx")])
        await pc.setRemoteDescription(RTCSessionDescription(sdp=await request.text(), type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return web.Response(status=201, text=pc.localDescription.sdp, content_type="application/sdp")

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        profiler = Profiler(args.cprofile) if args.cprofile else None
        app = web.Application()
        app.router.add_post("/offer", offer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(f"READY {port}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)
            player.video.stop()
            await runner.cleanup()
            del profiler

    try:
        asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        pass


class Profiler:
    """cProfile of the loop thread between SIGUSR1 (start) and SIGUSR2 (stop, dump to path)."""

    def __init__(self, path: str) -> None:
        import cProfile

        self.path = path
        self.prof = cProfile.Profile()
        signal.signal(signal.SIGUSR1, lambda *_: self.prof.enable())
        signal.signal(signal.SIGUSR2, self._stop)

    def _stop(self, *_: object) -> None:
        self.prof.disable()
        self.prof.dump_stats(self.path)


# --------------------------------------------------------------------------- viewers (child processes)


class PeerStats:
    """What one client peer received: complete frames (jitter buffer output) and decode results."""

    def __init__(self, full_decode: bool) -> None:
        self.full_decode = full_decode
        self.arrivals: list[float] = []
        self.keyframes = 0
        self.decoded = 0
        self.size: tuple[int, int] | None = None
        self.errors_after_first = 0
        self.first_picture = threading.Event()
        self.light_packets = 0  # RTP packets counted after the first picture (light path)
        self.key_packets = 0  # of which carry (the start of) SPS/IDR
        self.receiver: Any = None
        self.collecting: list[bytes] | None = None
        self.next_seq = 0
        self.pending_decode: Any = None
        self.first_failures = 0
        self.socket_lost = 0  # sequence gaps seen at the socket (light path)

    def lost(self) -> int:
        """RTP packets lost (RFC 3550 cumulative count, as in the receiver's reports)."""
        streams = getattr(self.receiver, "_RTCRtpReceiver__remote_streams", {})
        return self.socket_lost + sum(max(0, s.packets_lost) for s in streams.values())


STATS: dict[object, PeerStats] = {}


def has_idr(data: bytes) -> bool:
    i = data.find(b"\x00\x00\x01")
    while i != -1 and i + 3 < len(data):
        if data[i + 3] & 0x1F == 5:
            return True
        i = data.find(b"\x00\x00\x01", i + 3)
    return False


def counting_decoder_worker(loop: Any, input_q: Any, output_q: Any, decode_error: Any) -> None:
    """aiortc's decoder thread, counting (bench-local); only the full-decode peer uses it."""
    import av
    from aiortc.codecs import get_decoder

    decoder = None
    while True:
        task = input_q.get()
        if task is None:
            break
        codec, frame = task
        stats = STATS.get(output_q)
        if stats is None:
            continue
        stats.arrivals.append(time.monotonic())
        if has_idr(frame.data):
            stats.keyframes += 1
        if decoder is None:
            decoder = get_decoder(codec)
        try:
            pictures = decoder.decode(frame)
        except av.FFmpegError as exc:
            if stats.first_picture.is_set():
                stats.errors_after_first += 1
                print(f"decode error after {stats.decoded} pictures: {exc}", file=sys.stderr, flush=True)
            continue
        for picture in pictures:
            stats.decoded += 1
            stats.size = (picture.width, picture.height)
            stats.first_picture.set()


def decode_first_picture(stats: PeerStats, data: bytes) -> None:
    """Decode one keyframe access unit (in a worker thread); marks the peer's first picture."""
    import av

    codec = av.CodecContext.create("h264", "r")
    try:
        pictures = [*codec.decode(av.Packet(data)), *codec.decode(None)]
    except av.FFmpegError:
        pictures = []
    if pictures:
        stats.size = (pictures[0].width, pictures[0].height)
        stats.decoded += len(pictures)
        stats.first_picture.set()
    else:
        stats.first_failures += 1


def first_decoded(stats: PeerStats) -> None:
    stats.pending_decode = None
    if stats.first_picture.is_set():
        attach_socket_counter(stats)


def light_receiver() -> None:
    """Client peers that count what arrives instead of running aiortc's receive path (bench-local).

    aiortc's full receive path (depacketize, jitter buffer, REMB estimator, NACKs, decoder
    thread) costs the client ~3x what the server spends per viewer, and 50 such peers cannot
    run beside the server on 2 cores. A peer whose receiver has `_bench_stats` (not full_decode)
    counts RTP packets and frames (marker bit) instead, and decodes its first complete keyframe
    in a worker thread to prove the stream is decodable (1920x1080). Its receiver reports
    (RTCP RR with loss statistics) still go out as before; it sends no NACK, PLI or REMB.
    """
    from aiortc.codecs.h264 import h264_depayload
    from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics

    original = RTCRtpReceiver._handle_rtp_packet

    async def handle(self: Any, packet: Any, arrival_time_ms: int) -> None:
        stats: PeerStats | None = getattr(self, "_bench_stats", None)
        if stats is None or stats.full_decode:
            await original(self, packet, arrival_time_ms)
            return
        streams = self._RTCRtpReceiver__remote_streams
        if packet.ssrc not in streams:
            streams[packet.ssrc] = StreamStatistics(90000)
        streams[packet.ssrc].add(packet)
        stats.light_packets += 1
        payload = packet.payload
        key_start = bool(payload) and (
            payload[0] & 0x1F in (7, 24) or (payload[0] & 0x1F == 28 and len(payload) > 1
                                              and payload[1] & 0x9F == 0x85))
        if key_start:
            stats.key_packets += 1
        if not stats.first_picture.is_set() and stats.pending_decode is None:
            # Collect one keyframe access unit, in sequence, and decode it once.
            if key_start and stats.collecting is None:
                stats.collecting, stats.next_seq = [], packet.sequence_number
            if stats.collecting is not None:
                if packet.sequence_number != stats.next_seq:
                    stats.collecting = None  # a packet was lost: wait for the next keyframe
                else:
                    stats.collecting.append(h264_depayload(payload))
                    stats.next_seq = (packet.sequence_number + 1) & 0xFFFF
                    if packet.marker:
                        data, stats.collecting = b"".join(stats.collecting), None
                        stats.pending_decode = asyncio.get_running_loop().run_in_executor(
                            None, decode_first_picture, stats, data)
                        stats.pending_decode.add_done_callback(lambda _: first_decoded(stats))
        if packet.marker:
            stats.arrivals.append(time.monotonic())

    RTCRtpReceiver._handle_rtp_packet = handle  # type: ignore[method-assign]


# Client UDP receive buffer. A 1080p keyframe is ~100-150 RTP packets sent in one burst, more
# than the default 208 KiB holds on loopback; with 25 peers in one process a peer is often not
# read during its burst, and the kernel drops (Udp RcvbufErrors). 4 MiB is this machine's
# net.core.rmem_max, so no sysctl change is needed. Browsers size their sockets themselves.
CLIENT_RCVBUF = 4 * 1024 * 1024


def big_receive_buffers() -> None:
    """Bench-local: every ICE socket of the client peers gets CLIENT_RCVBUF (aioice sets 256 KiB)."""
    import aioice.turn

    aioice.turn.UDP_SOCKET_BUFFER_SIZE = CLIENT_RCVBUF


def count_at_socket() -> None:
    """Bench-local: once a light peer has shown its first picture, count its RTP at the socket.

    SRTP leaves the RTP header in the clear (RFC 3711), so the marker bit (end of a frame) and
    the sequence number (losses) can be read before decryption; the datagram goes no further.
    Everything else (STUN consent checks, DTLS, RTCP) takes aiortc's normal path.
    """
    from aioice.ice import StunProtocol

    original = StunProtocol.datagram_received

    def datagram_received(self: Any, data: bytes, addr: Any) -> None:
        stats: PeerStats | None = getattr(self, "_bench_stats", None)
        # RTP/RTCP: version 2 in the first byte; RTCP packet types 200-204 (RFC 5761).
        if stats is None or len(data) < 12 or data[0] >> 6 != 2 or 72 <= (data[1] & 0x7F) <= 76:
            original(self, data, addr)
            return
        stats.light_packets += 1
        seq = int.from_bytes(data[2:4], "big")
        if stats.next_seq >= 0:
            stats.socket_lost += (seq - stats.next_seq) & 0xFFFF if (seq - stats.next_seq) & 0xFFFF < 0x8000 else 0
        stats.next_seq = (seq + 1) & 0xFFFF
        if data[1] & 0x80:
            stats.arrivals.append(time.monotonic())

    StunProtocol.datagram_received = datagram_received  # type: ignore[method-assign]


def attach_socket_counter(stats: PeerStats) -> None:
    """Hand a peer's ICE sockets to count_at_socket (on the loop, after its first picture)."""
    connection = stats.receiver.transport.transport._connection
    stats.next_seq = -1
    for protocol in connection._protocols:
        protocol._bench_stats = stats


def udp_rcvbuf_errors() -> int:
    """Machine-wide UDP datagrams dropped for a full receive buffer (/proc/net/snmp)."""
    with open("/proc/net/snmp") as f:
        lines = [ln.split() for ln in f if ln.startswith("Udp:")]
    return int(lines[1][lines[0].index("RcvbufErrors")])


def run_clients(args: argparse.Namespace) -> None:
    import aiortc.rtcrtpreceiver

    big_receive_buffers()
    count_at_socket()

    aiortc.rtcrtpreceiver.decoder_worker = counting_decoder_worker  # type: ignore[assignment]
    light_receiver()
    if os.environ.get("VIEWERS_CLIENT_PROFILE"):  # bench debugging: where the client peers' CPU goes
        import cProfile

        cProfile.runctx("asyncio.run(_clients(args))", globals(), {"args": args},
                        os.environ["VIEWERS_CLIENT_PROFILE"] + f".{os.getpid()}")
        return
    asyncio.run(_clients(args))


async def _clients(args: argparse.Namespace) -> None:
    import aiohttp
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    base = f"http://127.0.0.1:{args.port}"
    headers = {"Content-Type": "application/sdp"}
    pcs: list[RTCPeerConnection] = []
    stats: list[PeerStats] = []
    async with aiohttp.ClientSession() as http:
        if args.kind == "pantau":
            password = args.password_file.read_text().strip()  # noqa: ASYNC240  (once, before any peer)
            async with http.post(f"{base}/api/v1/session", json={"username": "admin", "password": password}) as r:
                token = (await r.json())["token"]
            headers["Authorization"] = f"Bearer {token}"
            url = f"{base}/whep/live/{CAMERA}"
            for _ in range(200):  # the camera must be online before viewers can be served
                async with http.get(f"{base}/api/v1/cameras/{CAMERA}", headers=headers) as r:
                    if (await r.json())["state"] == "online":
                        break
                await asyncio.sleep(0.1)
        else:
            url = f"{base}/offer"
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def connect(i: int) -> None:
            async with gate:
                pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
                peer = PeerStats(full_decode=(i == 0 and args.full_decode))
                pcs.append(pc)
                stats.append(peer)

                @pc.on("track")
                def _track(track: Any) -> None:
                    STATS[track._queue] = peer  # the queue aiortc hands its decoder thread

                transceiver = pc.addTransceiver("video", direction="recvonly")
                transceiver.receiver._bench_stats = peer
                peer.receiver = transceiver.receiver
                await pc.setLocalDescription(await pc.createOffer())
                async with http.post(url, data=pc.localDescription.sdp, headers=headers) as r:
                    answer = await r.text()
                    if r.status not in (200, 201):
                        raise RuntimeError(f"offer refused: {r.status} {answer[:200]}")
                await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

        started = time.monotonic()
        await asyncio.gather(*(connect(i) for i in range(args.n)))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(s.first_picture.is_set() for s in stats):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        print("CONNECTED " + json.dumps({
            "peers": len(stats), "pictures": sum(s.first_picture.is_set() for s in stats),
            "seconds": round(time.monotonic() - started, 2),
            "states": dict(collections.Counter(pc.connectionState for pc in pcs))}), flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        _, t0, t1 = line.split()
        a, b = float(t0), float(t1)
        span = b - a
        result = [{
            "fps": sum(a <= t < b for t in s.arrivals) / span,
            "keyframes": s.keyframes, "decoded": s.decoded, "size": s.size, "full": s.full_decode,
            "light_packets": s.light_packets, "key_packets": s.key_packets, "lost": s.lost(),
            "errors": s.errors_after_first,
        } for s in stats]
        print(f"clients: states at the end {dict(collections.Counter(pc.connectionState for pc in pcs))}",
              file=sys.stderr, flush=True)
        print("RESULT " + json.dumps(result), flush=True)
        await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)


# --------------------------------------------------------------------------- orchestration


def start_server(kind: str, url: str, work: Path, cprofile: str | None = None,
                 record: bool = False) -> tuple[subprocess.Popen[str], int]:
    """A server process (pantau or bare) on a free port; returns it once it listens."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--url", url, "--dir", str(work)]
    if cprofile:
        cmd += ["--cprofile", cprofile]
    if record:
        cmd += ["--record"]
    err = open(work / f"{kind}.stderr", "w")  # noqa: SIM115  (closed with the process)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
    try:
        line = ingest._read_until(proc, "READY", 90)
    except RuntimeError:
        ingest.stop_all([proc])
        raise RuntimeError(f"{kind} server did not start: {(work / f'{kind}.stderr').read_text()[-3000:]}") from None
    return proc, int(line.split()[1])


def phase(kind: str, n: int, camera_url: str, args: argparse.Namespace, profile: str = "") -> dict[str, Any]:
    """One server process, n viewers in client processes; server CPU over the window."""
    with tempfile.TemporaryDirectory(prefix=f"bench-viewers-{kind}-", dir=OUT) as tmp:
        work = Path(tmp)
        cprofile = str(OUT / f"cprofile_{kind}_n{n}.prof") if profile else None
        server, port = start_server(kind, camera_url, work, cprofile)
        clients: list[subprocess.Popen[str]] = []
        try:
            procs = max(1, math.ceil(n / args.per_proc)) if n else 0
            for k in range(procs):
                share = n // procs + (1 if k < n % procs else 0)
                cmd = [sys.executable, str(Path(__file__).resolve()), "--clients", "--kind", kind,
                       "--port", str(port), "--n", str(share), *(["--full-decode"] if k == 0 else []),
                       "--password-file", str(work / "data" / "initial-admin-password")]
                clients.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                                cwd=ROOT))
            connected = [json.loads(ingest._read_until(c, "CONNECTED", 120).split(" ", 1)[1]) for c in clients]
            ingest.log(f"  connected: {connected}")
            if not n:
                time.sleep(8)  # the camera comes online and the health monitor takes its first samples
            time.sleep(args.warmup)
            s0, c0 = ingest.proc_cpu_s(server.pid), [ingest.proc_cpu_s(c.pid) for c in clients]
            t0, sys0, drops0 = time.monotonic(), ingest.system_cpu(), udp_rcvbuf_errors()
            if profile == "perf":
                subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "-g", "-p", str(server.pid),
                                "-o", str(OUT / f"perf_{kind}_n{n}.data"), "--", "sleep", str(args.window)],
                               check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            elif profile == "cprofile":
                server.send_signal(signal.SIGUSR1)
                time.sleep(args.window)
                server.send_signal(signal.SIGUSR2)
            else:
                time.sleep(args.window)
            t1, sys1, drops1 = time.monotonic(), ingest.system_cpu(), udp_rcvbuf_errors()
            s1, c1 = ingest.proc_cpu_s(server.pid), [ingest.proc_cpu_s(c.pid) for c in clients]
            peers: list[dict[str, Any]] = []
            for c in clients:
                assert c.stdin is not None
                c.stdin.write(f"STOP {t0} {t1}\n")
                c.stdin.flush()
                peers += json.loads(ingest._read_until(c, "RESULT", 60).split(" ", 1)[1])
            for c in clients:  # they close their peers and exit by themselves
                try:
                    c.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            ingest.stop_all(clients)
            ingest.stop_all([server])
        span = t1 - t0
        return {
            "kind": kind, "n": n, "window_s": span, "server_cpu_s": (s1 or 0) - (s0 or 0),
            "client_cpu_s": sum((b or 0) - (a or 0) for a, b in zip(c0, c1, strict=True)),
            "busy_cores": ingest.busy_cores(sys0, sys1), "client_procs": len(clients),
            "connected": connected, "peers": peers, "udp_rcvbuf_errors": drops1 - drops0,
        }


def cores(res: dict[str, Any]) -> float:
    return float(res["server_cpu_s"] / res["window_s"])


def valid(res: dict[str, Any]) -> bool:
    peers = res["peers"]
    return len(peers) == res["n"] and all(
        p["fps"] >= MIN_FPS_SHARE * FPS and p["size"] == [1920, 1080] and not p["errors"] for p in peers)


def fps_text(res: dict[str, Any]) -> str:
    fps = [p["fps"] for p in res["peers"]]
    if not fps:
        return "-"
    return f"{statistics.median(fps):.1f} (min {min(fps):.1f})"


def describe(res: dict[str, Any]) -> str:
    full = [p for p in res["peers"] if p["full"]]
    decoded = sum(p["decoded"] for p in full)
    sizes = {tuple(p["size"]) if p["size"] else None for p in res["peers"]}
    return (f"{res['kind']} N={res['n']}: server {cores(res):.3f} cores, clients "
            f"{res['client_cpu_s'] / res['window_s']:.2f} cores in {res['client_procs']} procs, machine busy "
            f"{res['busy_cores']:.2f}; fps {fps_text(res)}; first pictures {sizes}; full-decode peers decoded "
            f"{decoded} frames; decode errors {sum(p['errors'] for p in res['peers'])}; machine-wide UDP "
            f"RcvbufErrors {res['udp_rcvbuf_errors']}; RTP packets lost "
            f"{sum(p['lost'] for p in res['peers'])}; RTP packets counted at the peers' sockets "
            f"{sum(p['light_packets'] for p in res['peers'])}")


def render(rows: dict[tuple[str, int], dict[str, Any]], ns: list[int], args: argparse.Namespace,
           profile_text: str) -> str:
    info = ingest.versions()
    import aiortc

    load = Path("/proc/loadavg").read_text().split()[:3]
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"## Live viewers: Pantau WHEP vs bare aiortc (bench/viewers.py), {today}", ""]
    out += [f"- Code: {info['commit'].split(' + ')[0]}", f"- Machine: {info['machine']}",
            f"- Python {info['python']}; aiortc {aiortc.__version__}; {info['pyav']}",
            f"- Command: `.venv/bin/python bench/viewers.py {' '.join(args.argv)}`".rstrip(),
            f"- Load average when the report was written: {' '.join(load)} (other engineers' tests share the "
            "2 cores; see machine busy)",
            f"- Camera: tests/camera_server.py `file:` mount, {ingest.MEDIA.name} (1080p25 H.264 Main ~3 Mbit/s, "
            "GOP 50); one RTSP pull per server",
            f"- Window {args.window:g} s after {args.warmup:g} s warm-up; every server and each group of up to "
            f"{args.per_proc} client peers in its own process; server CPU from /proc/PID/stat", ""]
    out += ["| N | Pantau cores | bare aiortc cores | ratio | Pantau viewers/core (marginal) | "
            "bare viewers/core (marginal) | fps per peer P / bare, med (min) | clients cores P / bare | "
            "machine busy P / bare | valid |", "|---|---|---|---|---|---|---|---|---|---|"]
    first = {k: rows.get((k, ns[0])) for k in ("pantau", "bare")}

    def cell(r: dict[str, Any] | None, fmt: Any) -> str:
        return "-" if r is None else str(fmt(r))

    def client_cores(r: dict[str, Any]) -> str:
        return f"{r['client_cpu_s'] / r['window_s']:.2f}"

    def busy(r: dict[str, Any]) -> str:
        return f"{r['busy_cores']:.2f}"

    def marginal(r: dict[str, Any] | None, f: dict[str, Any] | None) -> str:
        if r is None or f is None or r["n"] <= f["n"]:
            return "-"
        per = (cores(r) - cores(f)) / (r["n"] - f["n"])
        return f"{per:.4f} core/viewer = {1 / per:.0f}" if per > 0 else "n/a"

    for n in [0, *ns]:
        p, b = rows.get(("pantau", n)), rows.get(("bare", n))
        if p is None and b is None:
            continue
        ratio = f"{cores(p) / cores(b):.2f}x" if p and b and cores(b) > 0 else "-"
        ok = all(valid(r) for r in (p, b) if r is not None and r["n"])
        out.append(" | ".join([
            f"| {n}", cell(p, lambda r: f"{cores(r):.3f}"), cell(b, lambda r: f"{cores(r):.3f}"), ratio,
            marginal(p, first["pantau"]), marginal(b, first["bare"]),
            f"{cell(p, fps_text)} / {cell(b, fps_text)}",
            f"{cell(p, client_cores)} / {cell(b, client_cores)}",
            f"{cell(p, busy)} / {cell(b, busy)}",
            ("yes" if ok else "**no**") + " |",
        ]))
    out += ["", "Per phase:", ""] + [f"- {describe(r)}" for r in rows.values()]
    if profile_text:
        out += ["", profile_text]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N=1,10; 15 s windows")
    ap.add_argument("--n", default=None, help="comma-separated viewer counts (default 1,10,50)")
    ap.add_argument("--window", type=float, default=None)
    ap.add_argument("--warmup", type=float, default=None)
    ap.add_argument("--per-proc", type=int, default=25, help="client peers per client process")
    ap.add_argument("--sides", default="pantau,bare")
    ap.add_argument("--profile", type=int, default=0, help="N for perf and cProfile runs of both servers (0: none)")
    ap.add_argument("--no-results", action="store_true", help="do not append to bench/RESULTS.md")
    ap.add_argument("--serve", choices=("pantau", "bare"), help=argparse.SUPPRESS)
    ap.add_argument("--clients", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--kind", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--password-file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--cprofile", help=argparse.SUPPRESS)
    ap.add_argument("--full-decode", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--record", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.argv = sys.argv[1:]
    if args.serve == "pantau":
        serve_pantau(args)
        return
    if args.serve == "bare":
        serve_bare(args)
        return
    if args.clients:
        args.n = int(args.n)
        run_clients(args)
        return
    ns = [int(v) for v in (args.n or ("1,10" if args.quick else "1,10,50")).split(",")]
    args.window = args.window or (15.0 if args.quick else 30.0)
    args.warmup = args.warmup if args.warmup is not None else 5.0
    sides = args.sides.split(",")
    media = ingest.ensure_media()
    OUT.mkdir(parents=True, exist_ok=True)
    from tests.fixtures_camera import CameraServer

    camera = CameraServer({"clip": f"file:{media}"})
    camera.start()
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    profile_text = ""
    try:
        url = camera.url("clip")
        if "pantau" in sides:
            ingest.log("pantau N=0 (ingest + health, no viewer)")
            rows[("pantau", 0)] = phase("pantau", 0, url, args)
            ingest.log(describe(rows[("pantau", 0)]))
        for n in ns:
            for kind in sides:  # alternate sides per N so both see the same machine load
                ingest.log(f"{kind} N={n}")
                rows[(kind, n)] = res = phase(kind, n, url, args)
                ingest.log(describe(res))
        if args.profile:
            profile_text = profile_all(args.profile, url, args, sides)
    finally:
        camera.stop()
    text = render(rows, ns, args, profile_text)
    print(text)
    if not args.no_results:
        with open(RESULTS, "a") as f:
            f.write("\n" + text + "\n")
        ingest.log(f"appended to {RESULTS}")


# cProfile of the loop thread, grouped by where the time is spent (first match wins).
PROFILE_GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("socket sendto (UDP to the viewers)", ("<method 'sendto' of '_socket.socket' objects>",)),
    ("SRTP protect (pylibsrtp / libsrtp)", ("pylibsrtp", "srtp", "_cffi_backend")),
    ("aiortc H.264 packetize (split + FU-A/STAP-A)", ("aiortc/codecs/",)),
    ("aiortc RTP packet + header extensions + serialize", ("aiortc/rtp.py", "aiortc/clock.py")),
    ("aiortc sender, DTLS and ICE transport glue", ("aiortc/",)),
    ("aioice send path", ("aioice/",)),
    ("Pantau (hub, hubtrack, sessions, camera, health)", ("/gateway/", "/streams/")),
    ("MediaPlayer / MediaRelay (bare)", ("aiortc/contrib/",)),
    ("asyncio machinery", ("asyncio/", "selectors.py")),
]


def summarize_cprofile(path: Path) -> list[tuple[str, float]]:
    """Share of the loop thread's busy time per group (epoll waiting excluded)."""
    import pstats

    shares: dict[str, float] = collections.Counter()
    for (file, _line, name), (_cc, _nc, tottime, _ct, _callers) in pstats.Stats(str(path)).stats.items():  # type: ignore[attr-defined]
        where = f"{file}:{name}"
        if "select.epoll" in name:
            continue
        group = next((g for g, pats in PROFILE_GROUPS if any(p in where for p in pats)),
                     "builtins called from those (struct, datetime, len, ...)")
        if group == "aiortc sender, DTLS and ICE transport glue" and "aiortc/contrib/" in where:
            group = "MediaPlayer / MediaRelay (bare)"
        shares[group] += tottime
    busy = sum(shares.values())
    return [(g, 100 * v / busy) for g, v in sorted(shares.items(), key=lambda kv: -kv[1])]


def summarize_perf(data: Path) -> list[tuple[str, float]]:
    names = {"[kernel.kallsyms]": "kernel (UDP send, loopback delivery, scheduler)",
             "libpython3.11.so.1.0": "CPython interpreter (aiortc, aioice, asyncio, Pantau)",
             "libc.so.6": "libc (malloc, memcpy)", "_binding.abi3.so": "libsrtp (pylibsrtp: AES-CM + HMAC-SHA1)",
             "_cffi_backend.cpython-311-x86_64-linux-gnu.so": "cffi (calls into libsrtp)"}
    rows: dict[str, float] = collections.Counter()
    for pct, dso in ingest._perf_report(data, "--no-children", "--sort", "dso"):
        label = names.get(dso, "libav* (RTSP demux, health keyframe decode)" if "libav" in dso or "libsw" in dso
                          else "everything else")
        rows[label] += pct
    return sorted(rows.items(), key=lambda kv: -kv[1])


def profile_all(n: int, url: str, args: argparse.Namespace, sides: list[str]) -> str:
    """perf (whole server process) and cProfile (loop thread) of each server at n viewers."""
    tables: dict[str, dict[str, list[tuple[str, float]]]] = {}
    runs = []
    for kind in sides:
        tables[kind] = {}
        if shutil.which("perf"):
            ingest.log(f"profile {kind} N={n}: perf")
            r = phase(kind, n, url, args, profile="perf")
            runs.append(f"perf {describe(r)}")
            tables[kind]["perf"] = summarize_perf(OUT / f"perf_{kind}_n{n}.data")
        ingest.log(f"profile {kind} N={n}: cProfile")
        r = phase(kind, n, url, args, profile="cprofile")
        runs.append(f"cProfile {describe(r)}")
        tables[kind]["cprofile"] = summarize_cprofile(OUT / f"cprofile_{kind}_n{n}.prof")
    out = [f"### Where a server's CPU goes at N={n} (separate runs; profilers slow the servers down)", ""]
    for tool, title in (("perf", "perf, on-CPU samples of the whole server process (all threads)"),
                        ("cprofile", "cProfile of the event loop thread, share of its busy time (epoll wait "
                                     "excluded; cProfile's overhead inflates Python-heavy rows)")):
        present = [k for k in sides if tool in tables[k]]
        if not present:
            continue
        out += [f"{title}:", "", "| " + " | ".join(["where", *present]) + " |",
                "|" + "---|" * (len(present) + 1)]
        labels = list(dict.fromkeys(label for k in present for label, _ in tables[k][tool]))
        for label in labels:
            cells = [f"{dict(tables[k][tool]).get(label, 0.0):.1f} %" for k in present]
            out.append("| " + " | ".join([label, *cells]) + " |")
        out.append("")
    out += ["Profiled runs:", ""] + [f"- {r}" for r in runs]
    out += ["", f"Raw data (not committed): bench/out/perf_*_n{n}.data (`perf report -i ...`), "
            f"bench/out/cprofile_*_n{n}.prof (`python -m pstats ...`)."]
    return "\n".join(out)


if __name__ == "__main__":
    main()
