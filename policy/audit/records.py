"""How a record the SOP asks for (a shift record, a case event) is made permanent: canonical JSON,
its SHA-256, an access-log entry, then an insert-only row that carries the entry's sequence number
(printed in the report's footer)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import Base
from core.errors import Conflict
from policy.audit.entries import AccessAction, AccessEvent, Scalar

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts at the desk: the signed-in user, their role and address."""

    user: str
    role: str | None = None
    client: str | None = None


class SequencedLog(Protocol):
    """The access log as the desk needs it: append one entry and learn its sequence number."""

    async def append(self, event: AccessEvent) -> int: ...


def canonical(content: Mapping[str, Any]) -> str:
    """The one spelling of a record that is hashed, stored and printed from."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    """SHA-256 of UTF-8 text, hex."""
    return hashlib.sha256(text.encode()).hexdigest()


class RecordWriter:
    """Logs a record's hash, then stores it; a store that fails after logging is logged too."""

    def __init__(self, db: async_sessionmaker[AsyncSession], access_log: SequencedLog) -> None:
        self._db = db
        self._log = access_log

    async def commit(
        self,
        content: Mapping[str, Any],
        action: AccessAction,
        who: Actor,
        make_row: Callable[[str, str, int], Base],
        details: Mapping[str, Scalar] | None = None,
        conflict: str = "the record already exists",
        also: Callable[[AsyncSession, int], Awaitable[None]] | None = None,
    ) -> tuple[str, str, int]:
        """(canonical text, sha256, log seq) of `content`, logged as `action` by `who` and stored as
        `make_row(text, sha256, seq)`; `also(session, seq)` runs first in the same transaction (the
        state the record changes, a row it refers to); Conflict when a row collides."""
        text = canonical(content)
        digest = sha256_hex(text)
        entry = {"record": str(content.get("kind", "")), "id": str(content["id"]), "sha256": digest, **(details or {})}
        seq = await self._log.append(AccessEvent(action, actor=who.user, role=who.role, client=who.client, details=entry))
        try:
            async with self._db() as session:
                if also is not None:
                    await also(session, seq)
                session.add(make_row(text, digest, seq))
                await session.commit()
        except IntegrityError as exc:
            await self._not_stored(action, who, entry, seq, "conflict")
            raise Conflict(conflict) from exc
        except Exception:
            await self._not_stored(action, who, entry, seq, "error")
            raise
        return text, digest, seq

    async def _not_stored(
        self, action: AccessAction, who: Actor, entry: Mapping[str, Scalar], seq: int, why: str
    ) -> None:
        # The entry above says the record was accepted; this one says it was not stored after all,
        # so an auditor never looks for a row that does not exist.
        try:
            await self._log.append(AccessEvent(action, actor=who.user, role=who.role, client=who.client, outcome="error",
                                               reason=f"not stored ({why}); see entry {seq}", details=entry))
        except Exception:
            log.exception("could not log that record %s was not stored", entry.get("id"))
