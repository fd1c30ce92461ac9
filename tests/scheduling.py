"""How pytest-xdist hands out the test files (`--dist loadfile` with one change).

A few files measure real-time behaviour on the machine's two cores: a sixteen-tile wall decoding
in Chromium, a three-minute recording whose segments must keep time, replays that must stay in
step, live sound that must stay in step with the picture. Run side by side they starve each other
into failing (CI saw a recording 1.6 s behind and a replay group 9 s apart, both while the wall
ran). They share one unit of work here, so one worker runs them one after another, and it goes
out first, being the longest.
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadFileScheduling  # type: ignore[import-untyped]

REALTIME = "realtime"
REALTIME_FILES = frozenset({
    "tests/test_browser_substreams.py",
    "tests/recorder/test_recording.py",
    "tests/test_playback_sync.py",
    "tests/test_whep_audio.py",
    "tests/test_audio_e2e.py",  # recorded sound must start with the picture: 0.3 s late once beside the rest
    # Floods the gateway with random RTP from three hostile cameras (CPU) and measures the healthy
    # camera's frame rate and /livez beside it: apart from the other measuring files, not beside them.
    "tests/test_hostile_camera.py",
    # 32 cameras in two worker processes whose CPU shares it measures, and a stop it times.
    "tests/cluster/test_workers.py",
    # Three nodes and twelve cameras: failover within 15 s, a cut-off node stopping within its lease.
    "tests/cluster/test_three_nodes.py",
    # Bounds how soon the wall plays a camera again after kill -9 of the node that ingested it.
    "tests/cluster/test_wall_failover.py",
    # Bounds how soon an alert is delivered and the survivor of a kill -9 takes the cluster duty.
    "tests/cluster/test_duty_failover.py",
})


class RealtimeApart(LoadFileScheduling):
    """Whole files per worker, the real-time measuring files together, handed out first."""

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        return REALTIME if path in REALTIME_FILES else path

    def _assign_work_unit(self, node: Any) -> None:
        if REALTIME in self.workqueue:
            self.workqueue.move_to_end(REALTIME, last=False)
        super()._assign_work_unit(node)
