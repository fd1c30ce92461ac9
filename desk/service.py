"""The shift desk as one part the composition root builds and runs: its books, printer and watch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.alerting import Publisher
from core.clock import Clock
from core.deskconfig import DeskConfig
from desk.checks import CheckBook
from desk.handovers import HandoverBook
from desk.patrols import PatrolBook
from desk.patrolwatch import PatrolWatch
from desk.prefill import ShiftFacts
from desk.printing import Printer
from policy.audit.records import RecordWriter, SequencedLog
from desk.shifts import ShiftBook

#: Reads every probed item of equipment now: item id -> reading (as JSON).
ProbeAll = Callable[[], Awaitable[Mapping[str, Mapping[str, Any]]]]


class Desk:
    """Shifts, checks, patrols, handovers and their printing; `run()` watches for missed patrols."""

    def __init__(
        self, db: async_sessionmaker[AsyncSession], clock: Clock, config: DeskConfig, access_log: SequencedLog,
        alerts: Publisher, probe_all: ProbeAll,
    ) -> None:
        writer = RecordWriter(db, access_log)
        self.config = config
        self.shifts = ShiftBook(db, clock, config, writer)
        self.checks = CheckBook(db, clock, config, writer)
        self.patrols = PatrolBook(db, clock, config, writer)
        self.printer = Printer(config)
        self.handovers = HandoverBook(db, clock, config, writer, ShiftFacts(db, config), alerts, self.printer.handover)
        self.patrol_watch = PatrolWatch(db, clock, self.shifts, timedelta(minutes=config.patrol_interval_min), alerts)
        self._probe_all = probe_all

    async def equipment(self) -> tuple[list[dict[str, Any]], Mapping[str, Mapping[str, Any]]]:
        """The equipment list with a fresh reading of every probed item, and the readings by id."""
        readings = await self._probe_all()
        items = [{"id": i.id, "name": i.name, "kind": i.kind, "probe": dict(readings[i.id]) if i.id in readings else None}
                 for i in self.config.equipment]
        return items, readings

    async def run(self) -> None:
        """Watch open shifts for missed patrols until cancelled."""
        await self.patrol_watch.run()
