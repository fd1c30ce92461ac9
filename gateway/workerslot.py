"""This process as worker K of N behind one HTTP port (`pantau serve --workers N`, gateway/supervisor.py):
its node id and URL, and which of the process-wide duties it takes.

Every worker is a node of its own (cluster/): it holds leases on a share of the host's cameras and
ingests and records exactly those (recovering a camera's files when its lease comes, recorder/takeover.py),
so N workers use N cores. Worker 0 also runs what cannot be shared or must not run twice: the RTSP
restream and the ONVIF facade (fixed ports) and retention; and it asks for the cluster duty
(gateway/dutywiring.py): on the one node holding it, it runs the MQTT trigger source, the alert
couriers and the shift and case watches. Its first
start, before any other worker, fails the interrupted exports and creates the keys under data_dir.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from core.clusterconfig import ClusterConfig


@dataclass(frozen=True, slots=True)
class WorkerSlot:
    """Which worker this process is, as the supervisor started it."""

    index: int
    count: int
    #: The shared public port (all workers bind it with SO_REUSEPORT).
    public_port: int
    #: The first start of worker 0 (no other worker runs yet): it tidies the interrupted exports.
    first_start: bool = False
    #: A pipe to the supervisor: "ready" is written to it once serving (None: nobody waits).
    ready_fd: int | None = None

    @property
    def singletons(self) -> bool:
        """Whether this worker runs the process-wide duties (worker 0)."""
        return self.index == 0

    @property
    def alone(self) -> bool:
        """Whether no other worker runs yet (worker 0's first start): it fails the exports a stopped
        gateway left running (a worker started beside others would fail theirs)."""
        return self.index == 0 and self.first_start

    def private_port(self, base: int | None) -> int:
        """The port of this worker's own listener: base + index, or 0 (a free one)."""
        return base + self.index if base is not None else 0

    def node_id(self, config: ClusterConfig, host_name: str) -> str:
        """NODE/wK, NODE being the configured node id or HOST NAME:PUBLIC PORT."""
        return f"{config.node_id_for(host_name, self.public_port)}/w{self.index}"

    def advertise_url(self, config: ClusterConfig, host_name: str, private_port: int, tls: bool) -> str:
        """This worker's own URL: the configured advertise_url's host with the private port, or
        http(s)://HOST NAME:PRIVATE PORT."""
        if config.advertise_url is not None:
            parts = urlsplit(config.advertise_url)
            host = parts.hostname or host_name
            netloc = f"[{host}]:{private_port}" if ":" in host else f"{host}:{private_port}"
            return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        return f"{'https' if tls else 'http'}://{host_name}:{private_port}"

    def tell_ready(self) -> None:
        """Tell the supervisor this worker serves (it starts the next one)."""
        if self.ready_fd is not None:
            try:
                os.write(self.ready_fd, b"ready\n")
                os.close(self.ready_fd)
            except OSError:
                pass  # the supervisor is gone; its death signal stops us anyway
