"""Table rows too tall for one page, cut into rows that each fit (fpdf2 cannot split a row)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from fpdf import FPDF
from fpdf.enums import MethodReturnValue
from fpdf.util import Padding

def fitting_rows(
    pdf: FPDF,
    rows: Sequence[tuple[str, ...]],
    column_widths: Sequence[float],
    padding_x: float,
    max_lines: int,
) -> list[tuple[str, ...]]:
    """`rows` with every row taller than `max_lines` lines cut into continuation rows.

    Measured as the table draws its cells: `column_widths` in mm, `padding_x` the table's left and
    right padding, in the current font; `max_lines` what a fresh page holds below the header row.
    fpdf2 raises ValueError for a row higher than a page (a 20,000-character
    note in a cell); cut at line breaks as fpdf2 itself wraps, the row reads on across pages."""
    fitted: list[tuple[str, ...]] = []
    for row in rows:
        cells = list(zip(row, column_widths, strict=True))
        if not any(_may_be_tall(pdf, text, width - 2 * padding_x, max_lines) for text, width in cells):
            fitted.append(row)
            continue
        wrapped = [_wrap(pdf, text, width, padding_x) for text, width in cells]
        height = max(len(lines) for lines in wrapped)
        for start in range(0, height, max_lines):
            fitted.append(tuple("\n".join(lines[start : start + max_lines]) for lines in wrapped))
    return fitted


def _may_be_tall(pdf: FPDF, text: str, width: float, max_lines: int) -> bool:
    # A cheap estimate first: width over the column, plus the line breaks. Wrapping at spaces can
    # waste up to half a line when words are long, so anything above half the limit is measured.
    estimate = text.count("\n") + 1 + pdf.get_string_width(text) / max(width, 1e-6)
    return estimate > max_lines / 2


def _wrap(pdf: FPDF, text: str, width: float, padding_x: float) -> list[str]:
    # The same width and padding as the table's cell (without horizontal padding fpdf2 keeps its
    # c_margin clear on both sides instead), so the lines break where the table would break them.
    padding = Padding(top=0, right=padding_x, bottom=0, left=padding_x)
    lines = pdf.multi_cell(width, 1, text, dry_run=True, output=MethodReturnValue.LINES, padding=padding)
    return cast(list[str], lines) or [""]
