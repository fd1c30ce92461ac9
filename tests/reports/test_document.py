"""The document model refuses what cannot print right: naive dates, ragged tables, unknown languages."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from reports import Document, Table
from tests.reports.samples import handover

WIB = timezone(timedelta(hours=7))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"created_at": datetime(2025, 6, 2, 7, 5)}, "aware UTC"),
        ({"created_at": datetime(2025, 6, 2, 7, 5, tzinfo=WIB)}, "aware UTC"),
        ({"language": "jv"}, "language"),
    ],
)
def test_document_refuses(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(handover(), **change)


def test_document_takes_utc_from_any_aware_utc_zone() -> None:
    document = replace(handover(), created_at=datetime(2025, 6, 2, tzinfo=timezone(timedelta(0))))
    assert isinstance(document, Document)
    assert handover().created_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("columns", "rows", "widths", "message"),
    [
        ((), (), None, "at least one column"),
        (("a", "b"), (("1", "2"), ("3",)), None, "row 2 has 1 cells for 2 columns"),
        (("a", "b"), (), (1.0,), "1 widths for 2 columns"),
        (("a", "b"), (), (1.0, 0.0), "positive"),
    ],
)
def test_table_refuses(
    columns: tuple[str, ...], rows: tuple[tuple[str, ...], ...], widths: tuple[float, ...] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Table(columns=columns, rows=rows, widths=widths)


def test_models_are_frozen() -> None:
    document = handover()
    with pytest.raises(AttributeError):
        document.title = "Lain"  # type: ignore[misc]
