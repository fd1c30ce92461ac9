"""Offline verification of the access log: chain, gapless seq, Merkle roots, signatures, witnesses.

Feed entries in stored order to `LogVerifier`; it keeps O(log n) state, so a log of any
length streams through. Each problem names the entry it implicates; `first_bad` is the
earliest. Where a changed entry's own hash was recomputed, the next entry's link breaks
and the Merkle root at the covering checkpoint differs: that pins the change on the
earlier entry. A rewrite of every hash after the change (no broken link) can only be
placed between the last matching checkpoint and the first that differs; the earlier
bound is named.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from policy.audit.encoding import GENESIS_PREV, LogEntry, StoredCheckpoint, entry_hash, leaf_of
from policy.audit.merkle import CompactRange
from policy.audit.signednote import NoteError, NoteVerifier, open_checkpoint

_MAX_PROBLEMS = 1000


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding; `seq` is the entry it implicates (None: a checkpoint itself is bad)."""

    seq: int | None
    message: str


@dataclass
class VerifyResult:
    """Outcome of one verification."""

    entries: int = 0
    checkpoints_verified: int = 0
    witnessed_verified: int = 0
    unsigned_tail: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad(self) -> int | None:
        seqs = [p.seq for p in self.problems if p.seq is not None]
        return min(seqs) if seqs else None

    def summary(self) -> str:
        if self.ok:
            return (
                f"access log OK: {self.entries} entries, {self.checkpoints_verified} checkpoints, "
                f"{self.witnessed_verified} witnessed checkpoints verified"
                + (f"; {self.unsigned_tail} newest entries not yet covered by a checkpoint" if self.unsigned_tail else "")
            )
        first = self.first_bad
        head = f"access log INVALID: first bad entry seq={first}" if first is not None else "access log INVALID"
        details = [p for p in self.problems if p.seq == first] or self.problems
        return head + "\n" + "\n".join(f"  {'seq=' + str(p.seq) if p.seq is not None else 'checkpoint'}: {p.message}"
                                       for p in details[:10])


@dataclass
class _Target:
    size: int
    root: bytes
    source: str  # "checkpoint" or "witness"


class LogVerifier:
    """Incremental verifier; `feed()` entries in order, then `finish()`."""

    def __init__(
        self,
        verifier: NoteVerifier,
        checkpoints: Iterable[StoredCheckpoint],
        *,
        origin: str | None = None,
        witness: Iterable[StoredCheckpoint] = (),
        first: int = 0,
    ) -> None:
        self.result = VerifyResult()
        self._first = first
        self._expected = first
        self._tail: str | None = GENESIS_PREV if first == 0 else None
        self._tree = CompactRange()
        self._seq_broken = False
        self._targets: dict[int, list[_Target]] = {}
        self._last_match = {"checkpoint": first, "witness": first}
        self._pending_breaks: list[int] = []
        self._diverged: dict[str, bool] = {}
        self._unexplained: tuple[int, int, str] | None = None
        self._content_bad_since = False  # a content problem seen since the last matched size
        self._max_covered = 0
        for source, items in (("checkpoint", checkpoints), ("witness", witness)):
            for stored in items:
                self._add_target(verifier, origin, stored, source)

    def add_problem(self, seq: int | None, message: str) -> None:
        """Record a finding from a check made outside the verifier (e.g. an inclusion proof)."""
        self._problem(seq, message)

    def _problem(self, seq: int | None, message: str) -> None:
        if len(self.result.problems) < _MAX_PROBLEMS:
            self.result.problems.append(Problem(seq, message))

    def _add_target(self, verifier: NoteVerifier, origin: str | None, stored: StoredCheckpoint, source: str) -> None:
        try:
            cp = open_checkpoint(stored.note, verifier, origin)
        except NoteError as exc:
            self._problem(None, f"{source} of size {stored.size}: {exc}")
            return
        if cp.size != stored.size or cp.root_hash.hex() != stored.root_hash:
            self._problem(None, f"{source} row of size {stored.size} differs from its signed note (size {cp.size})")
        if source == "checkpoint":
            self.result.checkpoints_verified += 1
        else:
            self.result.witnessed_verified += 1
        if cp.size == 0 or cp.size < self._first:
            return
        self._targets.setdefault(cp.size, []).append(_Target(cp.size, cp.root_hash, source))
        self._max_covered = max(self._max_covered, cp.size)

    def feed(self, entry: LogEntry) -> None:
        seq = entry.seq
        if seq != self._expected:
            if not self._seq_broken:
                if seq > self._expected:
                    self._problem(self._expected, f"entries {self._expected}..{seq - 1} are missing")
                else:
                    self._problem(seq, f"entry {seq} appears again or out of order after {self._expected - 1}")
            self._seq_broken = True
        own_ok = entry_hash(entry.prev_hash, entry.payload) == entry.entry_hash
        if not own_ok:
            self._content(seq, "entry hash does not match its content")
        own_ok = self._check_payload(entry) and own_ok
        if own_ok and self._tail is not None and entry.prev_hash != self._tail:
            if seq == 0:
                self._problem(0, "the first entry does not start from the genesis hash")
            else:
                # Either this prev_hash or the previous entry changed; the next checkpoint tells which.
                self._pending_breaks.append(seq)
        if self._unexplained is not None:
            self._explain(seq)
        self._tail = entry.entry_hash
        self._expected = seq + 1
        self.result.entries += 1
        if self._seq_broken or self._first:
            return
        self._tree.append(leaf_of(entry.payload))
        targets = self._targets.get(self._tree.size)
        if targets:
            root = self._tree.root()
            for target in targets:
                self._compare(target, root)

    def _content(self, seq: int, message: str) -> None:
        self._content_bad_since = True
        self._problem(seq, message)

    def _check_payload(self, entry: LogEntry) -> bool:
        try:
            obj = json.loads(entry.payload)
        except ValueError:
            self._content(entry.seq, "payload is not JSON")
            return False
        if not isinstance(obj, dict) or obj.get("seq") != entry.seq:
            seq_in = obj.get("seq") if isinstance(obj, dict) else None
            self._content(entry.seq, f"payload belongs to seq {seq_in}, stored at seq {entry.seq}")
            return False
        if obj.get("at") != entry.created_at:
            self._content(entry.seq, "created_at differs from the time in the payload")
            return False
        return True

    def _compare(self, target: _Target, root: bytes) -> None:
        size = target.size
        covered = [b for b in self._pending_breaks if b - 1 < size]
        if root == target.root:
            # Every payload below `size` is as signed: a broken link there is a changed prev_hash.
            for b in covered:
                self._problem(b, f"prev_hash of entry {b} was changed (entry {b - 1} is as signed)")
            self._pending_breaks = [b for b in self._pending_breaks if b not in covered]
            self._last_match[target.source] = size
            self._content_bad_since = False
            return
        if self._diverged.get(target.source):
            return  # once a leaf differs, every larger tree differs too: nothing new to name
        self._diverged[target.source] = True
        if covered:
            for b in covered:
                self._problem(
                    b - 1, f"entry {b - 1} was changed and rehashed: entry {b} still links to its original hash"
                )
            self._pending_breaks = [b for b in self._pending_breaks if b not in covered]
        elif not self._content_bad_since:
            # Entry size-1 may have been rehashed; the next entry's link (fed next) tells.
            self._unexplained = (self._last_match[target.source], size, target.source)

    def _explain(self, next_seq: int | None) -> None:
        assert self._unexplained is not None
        lo, size, source = self._unexplained
        self._unexplained = None
        if next_seq == size and self._pending_breaks and self._pending_breaks[-1] == size:
            self._pending_breaks.pop()
            self._problem(
                size - 1, f"entry {size - 1} was changed and rehashed: entry {size} still links to its original hash"
            )
        else:
            self._problem(
                lo, f"the tree of entries {lo}..{size - 1} differs from the {source} of size {size}: "
                "an entry in that range was changed"
            )

    def finish(self) -> VerifyResult:
        if self._unexplained is not None:
            self._explain(None)
        for b in self._pending_breaks:
            self._problem(b - 1, f"entry {b} does not link to entry {b - 1}: one of them was changed")
        self._pending_breaks = []
        count = self._expected
        if self._max_covered > count:
            sources = sorted({t.source for ts in self._targets.values() for t in ts if t.size > count})
            self._problem(
                count, f"the log ends at {count} entries but a {'/'.join(sources)} covers {self._max_covered}: "
                "entries were removed from the tail"
            )
        self.result.unsigned_tail = max(0, count - max(self._max_covered, self._first))
        return self.result


def verify_entries(
    entries: Iterable[LogEntry],
    checkpoints: Iterable[StoredCheckpoint],
    verifier: NoteVerifier,
    *,
    origin: str | None = None,
    witness: Iterable[StoredCheckpoint] = (),
) -> VerifyResult:
    """Verify a whole log (entries from seq 0)."""
    v = LogVerifier(verifier, checkpoints, origin=origin, witness=witness)
    for entry in entries:
        v.feed(entry)
    return v.finish()
