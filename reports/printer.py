"""The page every report is printed on: A4, embedded DejaVu, watermark, footer, fixed metadata."""

from __future__ import annotations

import math
from datetime import datetime
from typing import cast

from fpdf import FPDF
from fpdf.enums import Align, MethodReturnValue, XPos, YPos
from fpdf.fonts import TTFFont

from reports.fonts import FontSet

SANS = "DejaVuSans"
MONO = "DejaVuSansMono"

MARGIN_X = 20.0
MARGIN_TOP = 15.0
#: Distance from the paper's bottom edge to the last footer line.
MARGIN_BOTTOM = 10.0
#: Space kept free between the body and the footer's rule.
FOOTER_GAP = 4.0
FOOTER_SIZE = 7.0
FOOTER_LINE = 3.2
PAGE_LABEL_WIDTH = 42.0

PAGE_LABELS = {"id": "Halaman {page} dari {total}", "en": "Page {page} of {total}"}
#: fpdf2 replaces this alias by the page count when the file is written. It is live only from the
#: footer's page label to the next page's header, so a caller's "{nb}" prints as written.
TOTAL_PAGES_ALIAS = "{nb}"

WATERMARK_GREY = 220  # light enough that text over it reads, dark enough to survive a photocopy
WATERMARK_MAX_SIZE = 60.0


class ReportPDF(FPDF):
    """An A4 portrait FPDF with the report's fonts, watermark and footer on every page."""

    def __init__(
        self,
        fonts: FontSet,
        *,
        footer_lines: tuple[str, ...],
        language: str,
        watermark: str | None,
        created_at: datetime,
    ) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self._footer_lines = footer_lines
        self._page_label = PAGE_LABELS[language]
        self._watermark = watermark
        self.alias_nb_pages(TOTAL_PAGES_ALIAS)
        self._alias_off()
        self.add_font(SANS, "", str(fonts.regular))
        self.add_font(SANS, "B", str(fonts.bold))
        self.add_font(SANS, "I", str(fonts.oblique))
        self.add_font(MONO, "", str(fonts.mono))
        # Without these, fpdf2 stamps datetime.now() into /CreationDate and the /ID hash: two
        # renders of one document would differ. (No XMP packet is written unless PDF/A compliance
        # is asked for; that one would carry a ModifyDate of now.)
        self.set_creation_date(created_at)
        self.set_creator("Pantau")
        self.set_lang(language)
        self.set_margins(MARGIN_X, MARGIN_TOP, MARGIN_X)
        self._footer_height = FOOTER_LINE + 1

    def begin(self) -> None:
        """Open the first page and keep the body clear of the footer from then on."""
        self.add_page()
        # fpdf2 measures text only on an open page, so the footer's height is known from here.
        self._footer_height = self._measure_footer()
        self.set_auto_page_break(True, margin=MARGIN_BOTTOM + self._footer_height + FOOTER_GAP)
        self.set_font(SANS, size=10)

    def close_fonts(self) -> None:
        """Close the font files; fpdf2 reads them lazily and closes them only in output()."""
        for font in self.fonts.values():
            if isinstance(font, TTFFont):
                font.close()

    def header(self) -> None:
        """Watermark first, so the page's content is drawn over it."""
        self._alias_off()
        if self._watermark:
            self._draw_watermark(self._watermark)

    def footer(self) -> None:
        """The caller's footer lines (hash, access-log entry) and "Halaman X dari Y"."""
        top = self.h - MARGIN_BOTTOM - self._footer_height
        with self.local_context(draw_color=(120, 120, 120), line_width=0.2, text_color=(60, 60, 60)):
            self.line(self.l_margin, top, self.w - self.r_margin, top)
            self.set_font(MONO, size=FOOTER_SIZE)
            self.set_xy(self.l_margin, top + 1)
            for line in self._footer_lines:
                self.multi_cell(self._footer_width, FOOTER_LINE, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.set_font(SANS, size=8)
            self.set_xy(self.w - self.r_margin - PAGE_LABEL_WIDTH, top + 1)
            # The alias stays on until the next page's header: fpdf2 substitutes the page count
            # when the file is written only if an alias is set then, after the last footer.
            self._alias_on()
            label = self._page_label.format(page=self.page_no(), total=TOTAL_PAGES_ALIAS)
            self.cell(PAGE_LABEL_WIDTH, FOOTER_LINE, label, align=Align.R)

    def text_height(self, width: float, line_height: float, text: str) -> float:
        """Height `text` takes in a multi_cell of `width` with the current font."""
        lines = self.multi_cell(width, line_height, text, dry_run=True, output=MethodReturnValue.LINES)
        return len(cast(list[str], lines)) * line_height

    @property
    def _footer_width(self) -> float:
        return self.epw - PAGE_LABEL_WIDTH - 2

    def _measure_footer(self) -> float:
        with self.local_context(font_family=MONO, font_style="", font_size=FOOTER_SIZE):
            heights = [self.text_height(self._footer_width, FOOTER_LINE, line) for line in self._footer_lines]
            height = sum(heights)
        return 1 + max(height, FOOTER_LINE)

    def _draw_watermark(self, text: str) -> None:
        # Across the page's diagonal, sized so the text spans at most 3/4 of it.
        angle = math.degrees(math.atan2(self.h, self.w))
        diagonal = math.hypot(self.w, self.h)
        with self.local_context(text_color=WATERMARK_GREY):
            self.set_font(SANS, "B", WATERMARK_MAX_SIZE)
            width = self.get_string_width(text)
            size = min(WATERMARK_MAX_SIZE, WATERMARK_MAX_SIZE * 0.75 * diagonal / max(width, 1e-6))
            self.set_font(SANS, "B", size)
            width = self.get_string_width(text)
            cx, cy = self.w / 2, self.h / 2
            # text() at absolute coordinates: set_xy() would read a negative x (a watermark wider
            # than the paper before it is turned) as measured from the right edge. The baseline
            # sits a third of the size below the centre, which centres capitals on it.
            with self.rotation(angle, x=cx, y=cy):
                self.text(cx - width / 2, cy + size / self.k / 3, text)
        self.set_xy(self.l_margin, self.t_margin)

    def _alias_on(self) -> None:
        self.str_alias_nb_pages = TOTAL_PAGES_ALIAS

    def _alias_off(self) -> None:
        self.str_alias_nb_pages = None  # type: ignore[assignment]
