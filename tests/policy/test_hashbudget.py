"""The password-check budget: a bounded number of hashing threads, a bounded share per address."""

from __future__ import annotations

import asyncio
import threading
import time

from policy.identity.hashbudget import HashBudget


async def test_at_most_workers_hash_at_once_and_an_address_gets_its_share() -> None:
    budget = HashBudget(workers=2, per_address=2)
    lock = threading.Lock()
    running = peak = 0

    def slow_hash() -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return False

    async def sign_in(address: str) -> str:
        if not budget.admits(address):
            return "refused"
        async with budget.slot(address):
            await budget.run(slow_hash)
        return "checked"

    results = await asyncio.gather(*(sign_in(a) for a in ["10.0.0.1"] * 10 + ["10.0.0.2", "10.0.0.3"]))
    assert results[:10].count("checked") == 2 and results[:10].count("refused") == 8
    assert results[10:] == ["checked", "checked"]  # other addresses are not crowded out
    assert peak == 2
    assert budget.in_flight("10.0.0.1") == 0 and budget.admits("10.0.0.1")
