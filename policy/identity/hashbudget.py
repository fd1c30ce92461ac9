"""The password checks sign-ins may run at once: scrypt is deliberately expensive, so an anonymous
spray must not be able to take all of it (or all of the loop's default worker threads).

At most WORKERS checks hash at a time, in worker threads (never on the event loop); the others
wait their turn. One client address has at most PER_ADDRESS checks admitted (hashing or waiting);
one more from it is refused at once, before any hashing, so a single address cannot fill the
queue in front of everyone else's sign-in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

# Each check costs ~32 MiB and most of a core for ~60 ms (policy/identity/passwords.py): two at
# once keep a 2-core gateway serving video while a spray runs, and bound the memory to ~64 MiB.
WORKERS = 2
# A person signs in once; two in flight leaves room for a second tab or a retry from a shared
# (NAT) address while one address can never hold more than that.
PER_ADDRESS = 2

T = TypeVar("T")


class HashBudget:
    """Admits password checks per client address and runs them in a bounded number of threads."""

    def __init__(self, workers: int = WORKERS, per_address: int = PER_ADDRESS) -> None:
        self._workers = asyncio.Semaphore(workers)
        self._per_address = per_address
        self._admitted: dict[str, int] = {}

    def admits(self, address: str) -> bool:
        """Whether `address` may start one more check now."""
        return self._admitted.get(address, 0) < self._per_address

    def in_flight(self, address: str) -> int:
        """Checks admitted for `address` and not finished."""
        return self._admitted.get(address, 0)

    @asynccontextmanager
    async def slot(self, address: str) -> AsyncIterator[None]:
        """Hold one of `address`'s checks for the block (ask `admits` first, with no await between)."""
        self._admitted[address] = self._admitted.get(address, 0) + 1
        try:
            yield
        finally:
            left = self._admitted[address] - 1
            if left:
                self._admitted[address] = left
            else:
                del self._admitted[address]

    async def run(self, check: Callable[[], T]) -> T:
        """Run a hashing call in a worker thread once one of the WORKERS turns is free."""
        async with self._workers:
            return await asyncio.to_thread(check)
