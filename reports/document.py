"""What a printed report says, as plain frozen data; all text is already in the reader's language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

#: Languages the renderer's own words (the page numbers) come in.
LANGUAGES = ("id", "en")


@dataclass(frozen=True)
class Fact:
    """A key/value line under the title (shift, operator, period ...)."""

    label: str
    value: str


@dataclass(frozen=True)
class Table:
    """A table with a header row; `widths` are relative, `empty` is printed when there are no rows."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[float, ...] | None = None
    empty: str = ""

    def __post_init__(self) -> None:
        if not self.columns:
            raise ValueError("a table needs at least one column")
        for number, row in enumerate(self.rows, start=1):
            if len(row) != len(self.columns):
                raise ValueError(f"table row {number} has {len(row)} cells for {len(self.columns)} columns")
        if self.widths is not None:
            if len(self.widths) != len(self.columns):
                raise ValueError(f"{len(self.widths)} widths for {len(self.columns)} columns")
            if any(width <= 0 for width in self.widths):
                raise ValueError("table widths must be positive")


@dataclass(frozen=True)
class Section:
    """A heading followed by its paragraphs, then its tables."""

    heading: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()


@dataclass(frozen=True)
class Signature:
    """A signature block: role ("Yang menyerahkan"), the line to sign on, the name under it."""

    role: str
    name: str
    when: str
    note: str = ""


@dataclass(frozen=True)
class Document:
    """A report to print: title, facts, sections, signature blocks and the footer on every page."""

    title: str
    subtitle: str
    created_at: datetime
    facts: tuple[Fact, ...]
    sections: tuple[Section, ...]
    signatures: tuple[Signature, ...]
    footer: tuple[str, ...]
    watermark: str | None = None
    language: str = "id"

    def __post_init__(self) -> None:
        # The creation date goes into the PDF as is (and so into its bytes): UTC, like everything
        # stored; local time belongs in the text the caller wrote.
        offset = self.created_at.utcoffset()
        if offset is None or offset != timedelta(0):
            raise ValueError(f"created_at must be an aware UTC datetime, not {self.created_at!r}")
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}, not {self.language!r}")


@dataclass(frozen=True)
class Letterhead:
    """The room's letterhead on the first page: logo (PNG or JPEG) left, room name, subtitle."""

    room_name: str
    subtitle: str = ""
    logo: Path | None = None
