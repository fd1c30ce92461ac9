"""`pantau serve --workers N`: the small process that runs N worker processes of the gateway on one
host, behind one HTTP port, and keeps them running.

The supervisor migrates the database once, then starts worker 0 alone (its first start recovers the
storage and interrupted exports, and creates the keys under data_dir that every worker reads) and,
once it serves, the others. A worker that dies is started again after a backoff (its cameras come
back to it, or to the others once their leases run out). SIGTERM or SIGINT is passed to every worker,
each seals its open segments and releases its leases, and the supervisor exits when all have. A worker
is told of its supervisor's death (PR_SET_PDEATHSIG): a supervisor killed with -9 leaves no worker behind.

Each worker is the same `pantau` command with hidden `--worker-*` arguments (gateway/cli.py), so it
reads the same config file and environment. No asyncio here: a loop of waits on pipes and children.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

from core.backoff import Backoff
from core.configbase import BackoffConfig

log = logging.getLogger(__name__)

#: A worker that ran this long before it died was healthy: its next restart waits the initial delay.
STABLE_S = 30.0
#: Backoff between restarts of one worker (a worker that cannot start is retried at most every 30 s).
RESTART = BackoffConfig(initial_s=1.0, max_s=30.0, multiplier=2.0, jitter=0.2)
#: How often the loop looks at its children when nothing else wakes it.
POLL_S = 0.2
_PR_SET_PDEATHSIG = 1


@dataclass
class Worker:
    """One worker slot: its process (None while waiting to be restarted) and its restart backoff."""

    index: int
    proc: subprocess.Popen[bytes] | None = None
    ready_fd: int | None = None  # our end of its ready pipe, until it said "ready"
    ready: bool = False
    started_at: float = 0.0
    restart_at: float | None = None
    backoff: Backoff = field(default_factory=lambda: Backoff(RESTART))


class Supervisor:
    """Runs `count` workers of `command` (the `pantau ... serve` argv, without the worker arguments)."""

    def __init__(self, command: list[str], count: int, public_port: int, stop_timeout_s: float) -> None:
        self.command = command
        self.workers = [Worker(i) for i in range(count)]
        self.public_port = public_port
        self.stop_timeout_s = stop_timeout_s
        self._stopping: int | None = None  # the signal that asked us to stop
        self._first_ready = False  # worker 0 has served once: the others may start

    def run(self) -> int:
        """Start the workers, keep them running until SIGTERM/SIGINT, stop them; 0 when all stopped cleanly."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            log.info("supervisor: %d workers on port %d", len(self.workers), self.public_port)
            self._start(self.workers[0])
            while self._stopping is None:
                self._tick()
            return self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._stopping is None:
            self._stopping = signum

    def _tick(self) -> None:
        """Wait a little for a ready line, then restart what died and start what is due."""
        pipes = [w.ready_fd for w in self.workers if w.ready_fd is not None]
        try:
            readable, _, _ = select.select(pipes, [], [], POLL_S)
        except InterruptedError:
            readable = []
        for worker in self.workers:
            if worker.ready_fd is not None and worker.ready_fd in readable:
                self._read_ready(worker)
        now = time.monotonic()
        for worker in self.workers:
            if worker.proc is not None and (code := worker.proc.poll()) is not None:
                self._died(worker, code, now)
            if worker.proc is None and worker.restart_at is not None and now >= worker.restart_at:
                self._start(worker)
        if self._first_ready:
            for worker in self.workers[1:]:
                if worker.proc is None and worker.restart_at is None:
                    self._start(worker)

    def _read_ready(self, worker: Worker) -> None:
        assert worker.ready_fd is not None
        data = os.read(worker.ready_fd, 64)
        os.close(worker.ready_fd)
        worker.ready_fd = None
        if data.startswith(b"ready"):
            worker.ready = True
            log.info("supervisor: worker %d serving (pid %d)", worker.index,
                     worker.proc.pid if worker.proc else -1)
            if worker.index == 0:
                self._first_ready = True

    def _died(self, worker: Worker, code: int, now: float) -> None:
        ran = now - worker.started_at
        if ran >= STABLE_S:
            worker.backoff.reset()
        delay = worker.backoff.next_delay()
        log.warning("supervisor: worker %d (pid %d) exited with %s after %.1f s; restarting in %.1f s",
                    worker.index, worker.proc.pid if worker.proc else -1, _describe(code), ran, delay)
        self._close_pipe(worker)
        worker.proc, worker.ready, worker.restart_at = None, False, now + delay

    def _start(self, worker: Worker) -> None:
        read_end, write_end = os.pipe()
        os.set_inheritable(write_end, True)
        argv = [*self.command, "--worker-index", str(worker.index), "--worker-count", str(len(self.workers)),
                "--worker-port", str(self.public_port), "--ready-fd", str(write_end)]
        if worker.index == 0 and not self._first_ready:
            argv.append("--worker-first")  # no other worker writes yet: recover storage and exports
        try:
            # A process group of its own: a terminal's Ctrl-C reaches the supervisor alone, which stops each once.
            worker.proc = subprocess.Popen(argv, pass_fds=(write_end,), preexec_fn=_die_with_parent, process_group=0)
        except OSError as exc:
            os.close(read_end)
            log.error("supervisor: worker %d could not start: %s", worker.index, exc)
            worker.restart_at = time.monotonic() + worker.backoff.next_delay()
            return
        finally:
            os.close(write_end)
        worker.ready_fd, worker.started_at, worker.restart_at = read_end, time.monotonic(), None
        log.info("supervisor: worker %d started (pid %d)", worker.index, worker.proc.pid)

    def _stop_all(self) -> int:
        """Pass the stop on to every worker, wait for them (then kill what is left); 0 if all exited 0."""
        log.info("supervisor: stopping %d workers", sum(w.proc is not None for w in self.workers))
        running = [w for w in self.workers if w.proc is not None]
        for worker in running:
            assert worker.proc is not None
            _signal(worker.proc, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        clean = True
        for worker in running:
            assert worker.proc is not None
            try:
                code = worker.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("supervisor: worker %d did not stop within %.0f s; killing it", worker.index,
                          self.stop_timeout_s)
                worker.proc.kill()
                code = worker.proc.wait()
            clean = clean and code == 0
            self._close_pipe(worker)
        log.info("supervisor: stopped")
        return 0 if clean else 1

    @staticmethod
    def _close_pipe(worker: Worker) -> None:
        if worker.ready_fd is not None:
            os.close(worker.ready_fd)
            worker.ready_fd = None


def worker_command(argv: list[str]) -> list[str]:
    """The command line that starts a worker: this interpreter, `-m gateway`, and the same arguments."""
    return [sys.executable, "-m", "gateway", *argv]


def free_public_port(host: str) -> int:
    """A port for `server.port: 0` with several workers: they must all bind the same one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the supervisor dies, however it dies (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: a supervisor killed with -9 leaves its workers to be stopped by hand


def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"status {code}"
