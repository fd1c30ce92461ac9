"""The periodic clock check of an onvif:// source: drift raises the problem, a fixed clock clears it."""

from __future__ import annotations

import asyncio
import time

from core.config import OnvifConfig
from onvif_adapters.source import CLOCK_DRIFT, OnvifSource
from tests.onvif.fakesoap import FakeSoapServer, recorded, system_date_and_time


async def test_watch_reports_drift_and_its_end() -> None:
    reports: list[tuple[str, str | None]] = []
    changed = asyncio.Event()

    def report(name: str, text: str | None) -> None:
        reports.append((name, text))
        changed.set()

    async def next_report() -> tuple[str, str | None]:
        await asyncio.wait_for(changed.wait(), 10)
        changed.clear()
        return reports[-1]

    # The model's bounds keep a real config at >= 10 s; the test checks every 0.1 s.
    settings = OnvifConfig.model_construct(**{**OnvifConfig().model_dump(), "clock_check_interval_s": 0.1})
    async with FakeSoapServer({"GetSystemDateAndTime": (200, recorded("axis_get_system_date_and_time.xml"))}) as srv:
        source = OnvifSource("gate", f"onvif://u:p@127.0.0.1:{srv.port}", settings)
        watch = asyncio.create_task(source.watch(report))
        try:
            name, text = await next_report()
            assert name == CLOCK_DRIFT and text is not None and "behind ours (limit 5 s)" in text
            srv.answers["GetSystemDateAndTime"] = (200, system_date_and_time(time.time() + 3))
            while (await next_report())[1] is not None:
                pass
            assert reports[-1] == (CLOCK_DRIFT, None)
        finally:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
