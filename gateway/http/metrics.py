"""Prometheus metrics read from live objects at scrape time (no per-packet metric calls)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from cluster.owners import CameraOwners
from core.version import gateway_version
from gateway.services import Services
from webrtc.limits import Cap
from webrtc.session import SessionKind
from recorder.objectupload import UploadStatus
from recorder.status import StorageStatus
from streams.state import CameraState

REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)

# Problem names a camera can have, a fixed set to keep label values bounded: the image checks' (and
# streams.health UNDECODABLE), the
# camera's own alarms (camera_events HEALTH_ALARMS), its clock (onvif_adapters CLOCK_DRIFT) and its
# sub-stream (streams.camera SUBSTREAM_DOWN). tests/test_metrics_names.py holds the list to them.
PROBLEMS = ("frozen", "black", "blank", "blurred", "scene_changed", "undecodable", "tamper", "video_loss",
            "clock_drift", "substream")


class GatewayCollector(Collector):
    """Camera, hub and process-level figures, computed on scrape."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def collect(self) -> Iterator[Metric]:
        services = self._services
        mono = services.clock.monotonic()
        state = GaugeMetricFamily(
            "pantau_camera_state", "1 for the camera's current state", labels=["camera", "state"]
        )
        up = GaugeMetricFamily("pantau_camera_up", "1 when the camera delivers video", labels=["camera"])
        problem = GaugeMetricFamily(
            "pantau_camera_problem", "1 while an image check fails", labels=["camera", "problem"]
        )
        packets = CounterMetricFamily("pantau_camera_packets", "Packets received", labels=["camera"])
        received = CounterMetricFamily(
            "pantau_camera_received_bytes", "Compressed bytes received", labels=["camera"]
        )
        reconnects = CounterMetricFamily("pantau_camera_reconnects", "Reconnections", labels=["camera"])
        dropped = CounterMetricFamily(
            "pantau_hub_dropped_packets", "Packets dropped for slow subscribers", labels=["camera"]
        )
        subscribers = GaugeMetricFamily("pantau_hub_subscribers", "Hub subscribers", labels=["camera"])
        fps = GaugeMetricFamily("pantau_camera_frame_rate_hertz", "Video frames per second", labels=["camera"])
        bitrate = GaugeMetricFamily(
            "pantau_camera_bitrate_bits_per_second", "Received bit rate", labels=["camera"]
        )
        gop = GaugeMetricFamily(
            "pantau_camera_keyframe_interval_seconds", "Time between keyframes", labels=["camera"]
        )
        age = GaugeMetricFamily(
            "pantau_camera_last_packet_age_seconds", "Time since the last packet", labels=["camera"]
        )
        for cam in services.cameras.values():
            cid = cam.config.id
            status = cam.status
            snap = cam.stats.snapshot(mono)
            for st in CameraState:
                state.add_metric([cid, st.value], 1.0 if status.state is st else 0.0)
            if status.state is not CameraState.REMOTE:  # another node ingests it: its /metrics says
                up.add_metric([cid], 1.0 if status.state.up else 0.0)
            for name in PROBLEMS:
                problem.add_metric([cid, name], 1.0 if name in status.problems else 0.0)
            packets.add_metric([cid], snap.packets_total)
            received.add_metric([cid], snap.bytes_total)
            reconnects.add_metric([cid], snap.reconnects)
            dropped.add_metric([cid], cam.hub.dropped_total)
            subscribers.add_metric([cid], cam.hub.subscriber_count)
            fps.add_metric([cid], snap.fps)
            bitrate.add_metric([cid], snap.bitrate_bps)
            if snap.keyframe_interval_s is not None:
                gop.add_metric([cid], snap.keyframe_interval_s)
            if snap.last_packet_age_s is not None:
                age.add_metric([cid], snap.last_packet_age_s)
        yield from (state, up, problem, packets, received, reconnects, dropped, subscribers, fps,
                    bitrate, gop, age)
        yield from _whep_metrics(services)
        yield from _alert_metrics(services)
        yield from _storage_metrics(services.recorder.storage_status())
        uploads = services.recorder.upload_status()
        if uploads is not None:
            yield from _object_metrics(uploads)
        if services.owners is not None:
            yield from _cluster_metrics(services, services.owners)
        tampered = GaugeMetricFamily(
            "pantau_access_log_tampered", "1 when the stored log no longer matches its signed checkpoints"
        )
        tampered.add_metric([], 1.0 if services.access_log.tampered else 0.0)
        yield tampered
        uptime = GaugeMetricFamily("pantau_uptime_seconds", "Seconds since the gateway started")
        uptime.add_metric([], (services.clock.now() - services.started_at).total_seconds())
        yield uptime
        build = GaugeMetricFamily("pantau_build_info", "1, labelled with the running version", labels=["version"])
        build.add_metric([gateway_version()], 1.0)
        yield build


def _whep_metrics(services: Services) -> Iterator[Metric]:
    """Live and playback viewers per camera, the compressed video handed to them, and the wall's
    transcodes."""
    webrtc = services.webrtc
    viewers = GaugeMetricFamily("pantau_whep_sessions", "Open WHEP live sessions", labels=["camera"])
    sent = CounterMetricFamily(
        "pantau_whep_sent_bytes", "H.264 bytes handed to WHEP viewers", labels=["camera"]
    )
    sent_packets = CounterMetricFamily(
        "pantau_whep_sent_packets", "H.264 access units handed to WHEP viewers", labels=["camera"]
    )
    playback = GaugeMetricFamily(
        "pantau_whep_playback_sessions", "Open WHEP playback sessions (recordings)", labels=["camera"]
    )
    playback_sent = CounterMetricFamily(
        "pantau_whep_playback_sent_bytes", "Recorded H.264 bytes handed to playback viewers", labels=["camera"]
    )
    transcoding = GaugeMetricFamily(
        "pantau_whep_transcoding", "1 while the camera's video is transcoded to H.264 for the wall", labels=["camera"]
    )
    transcodes = GaugeMetricFamily("pantau_whep_transcodes", "Cameras transcoded for the wall now")
    transcodes.add_metric([], len(webrtc.transcodes.cameras))
    limit = GaugeMetricFamily("pantau_whep_transcodes_limit", "webrtc.max_transcodes")
    limit.add_metric([], webrtc.transcodes.limit)
    for cid in services.cameras:
        transcoding.add_metric([cid], 1.0 if webrtc.transcodes.transcoder(cid) is not None else 0.0)
        viewers.add_metric([cid], webrtc.viewers(cid))
        sent.add_metric([cid], webrtc.sent_bytes[cid])
        sent_packets.add_metric([cid], webrtc.sent_packets[cid])
        playback.add_metric([cid], webrtc.viewers(cid, SessionKind.PLAYBACK))
        playback_sent.add_metric([cid], webrtc.playback_sent_bytes[cid])
    yield from (viewers, sent, sent_packets, playback, playback_sent, transcoding, transcodes, limit)
    limits = webrtc.limits
    reserved = GaugeMetricFamily(
        "pantau_whep_sessions_reserved", "WHEP sessions open or being negotiated, live and playback (webrtc.max_sessions)"
    )
    reserved.add_metric([], limits.in_use)
    cap = GaugeMetricFamily("pantau_whep_sessions_max", "webrtc.max_sessions")
    cap.add_metric([], limits.max_sessions)
    refused = CounterMetricFamily(
        "pantau_whep_sessions_refused", "WHEP offers refused with 503 by a session cap", labels=["cap"]
    )
    for which in Cap:
        refused.add_metric([which.value], limits.refused[which])
    yield from (reserved, cap, refused)


def _alert_metrics(services: Services) -> Iterator[Metric]:
    """Alerts stored (sink "outbox") and delivered per sink and kind, failures, and the backlog."""
    published = CounterMetricFamily(
        "pantau_alerts_published", "Alerts stored in the outbox (sink=outbox) or delivered by a sink",
        labels=["sink", "kind"],
    )
    for kind, count in sorted(services.alerts.published.items()):
        published.add_metric(["outbox", kind.value], count)
    failed = CounterMetricFamily("pantau_alerts_failed", "Failed deliveries (each is retried)", labels=["sink"])
    for courier in services.couriers:
        for kind_name, count in sorted(courier.delivered.items()):
            published.add_metric([courier.sink.name, kind_name], count)
        failed.add_metric([courier.sink.name], courier.failed)
    depth = GaugeMetricFamily(
        "pantau_alerts_outbox_depth", "Alerts the slowest sink has not delivered yet (0 without sinks)"
    )
    depth.add_metric([], max((c.lag for c in services.couriers), default=0))
    dropped = CounterMetricFamily("pantau_alerts_dropped", "Alerts lost because the bus queue was full")
    dropped.add_metric([], services.alerts.dropped)
    yield from (published, failed, depth, dropped)


def _storage_metrics(status: StorageStatus) -> Iterator[Metric]:
    """Recording storage: bytes, segments, seal latency, the full-disk alarm, oldest recording."""
    simple = [
        ("pantau_storage_used_bytes", "Bytes of sealed segments", status.bytes_used),
        ("pantau_storage_free_bytes", "Free bytes on the storage filesystem", status.bytes_free),
        ("pantau_storage_size_bytes", "Size of the storage filesystem", status.bytes_total),
        ("pantau_storage_full", "1 while recording is stopped for lack of space", 1.0 if status.state == "full" else 0.0),
        ("pantau_recording_cameras", "Cameras being recorded", status.recording_cameras),
    ]
    for name, doc, value in simple:
        gauge = GaugeMetricFamily(name, doc)
        gauge.add_metric([], value)
        yield gauge
    for name, doc, value in [
        ("pantau_segments_sealed", "Segments sealed since start", status.segments_sealed_total),
        ("pantau_segments_recovered", "Segments recovered after a crash since start", status.segments_recovered_total),
        ("pantau_segments_deleted", "Segments deleted by retention since start", status.segments_deleted_total),
    ]:
        counter = CounterMetricFamily(name, doc)
        counter.add_metric([], value)
        yield counter
    buckets = [(f"{bound:g}", count) for bound, count in status.seal_latency_buckets]
    yield HistogramMetricFamily(
        "pantau_seal_latency_seconds", "Time from a segment's cut to its sealed index row, every seal since start",
        buckets=[*buckets, ("+Inf", status.segments_sealed_total)], sum_value=status.seal_latency_sum_s)
    oldest = GaugeMetricFamily(
        "pantau_recording_oldest_timestamp_seconds", "Start of the oldest kept recording", labels=["camera"]
    )
    for camera_id, start in sorted(status.oldest.items()):
        oldest.add_metric([camera_id], start.timestamp())
    yield oldest


def _object_metrics(status: UploadStatus) -> Iterator[Metric]:
    """The object storage tier (storage.object): what waits to be uploaded, what was, the local cache."""
    for name, doc, value in [
        ("pantau_object_upload_backlog", "Sealed segments not yet uploaded to the object store", status.backlog),
        ("pantau_object_upload_backlog_bytes", "Bytes of sealed segments not yet uploaded", status.backlog_bytes),
        ("pantau_object_cache_bytes", "Local copies of uploaded segments (evicted over the cache budget)",
         status.cached_bytes),
        ("pantau_object_store_failing", "1 while the last attempt to reach the object store failed",
         1.0 if status.last_error else 0.0),
    ]:
        gauge = GaugeMetricFamily(name, doc)
        gauge.add_metric([], value)
        yield gauge
    for name, doc, value in [
        ("pantau_object_uploads", "Segments uploaded and verified since start", status.uploaded_total),
        ("pantau_object_upload_failures", "Failed upload attempts since start", status.failed_total),
    ]:
        counter = CounterMetricFamily(name, doc)
        counter.add_metric([], value)
        yield counter


def _cluster_metrics(services: Services, owners: CameraOwners) -> Iterator[Metric]:
    """Several nodes: which node answers, the cluster as this node last read it (cameras per node,
    cameras nobody holds), and whether its lease keeper reaches the database."""
    node = GaugeMetricFamily("pantau_node_info", "1, labelled with the id of the node that answers", labels=["node"])
    node.add_metric([owners.node_id], 1.0)
    nodes = GaugeMetricFamily("pantau_cluster_nodes", "Nodes registered and not stopped, as last read")
    nodes.add_metric([], len(owners.nodes))
    per_node = GaugeMetricFamily("pantau_cluster_node_cameras", "Cameras each node holds the lease of, as last read",
                                 labels=["node"])
    counts = Counter(ref.node_id for ref in owners.by_camera.values())
    for node_id in sorted(set(owners.nodes) | set(counts)):
        per_node.add_metric([node_id], counts.get(node_id, 0))
    unowned = GaugeMetricFamily("pantau_cluster_unowned_cameras",
                                "Enabled cameras no node holds the lease of (nobody ingests or records them)")
    unowned.add_metric([], sum(1 for cam in services.cameras.values()
                                if cam.config.enabled and owners.owner_of(cam.id) is None))
    reach = services.cluster_reach
    reachable = GaugeMetricFamily("pantau_cluster_database_reachable",
                                  "1 while this node's lease keeper reaches the database, 0 while cut off")
    reachable.add_metric([], 0.0 if reach is not None and reach.unreachable_since is not None else 1.0)
    yield from (node, nodes, per_node, unowned, reachable)


def build_registry(services: Services) -> CollectorRegistry:
    """A registry of our own (never the global one), so two gateways in one process don't clash."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(services))
    # process_* as every exporter names them (dashboards and alerts expect them so).
    ProcessCollector(registry=registry)
    return registry
