"""Rendering a Document to PDF: letterhead, title, facts, sections, tables, signature blocks."""

from __future__ import annotations

from io import BytesIO

from fpdf.enums import Align, TableBordersLayout, XPos, YPos
from fpdf.fonts import FontFace

from reports.document import Document, Fact, Letterhead, Section, Signature, Table
from reports.fonts import default_fonts
from reports.logo import Logo, load_logo
from reports.printer import SANS, ReportPDF
from reports.rows import fitting_rows

BODY_SIZE = 10.0
BODY_LINE = 5.0
TABLE_SIZE = 9.0
TABLE_LINE = 4.4
TABLE_PADDING = (1.0, 1.5)  # top and bottom, left and right
FACT_PADDING_Y = 0.6
LOGO_BOX = (40.0, 20.0)  # width, height in mm: the logo is scaled to fit, keeping its shape
#: A heading needs this much room below it (itself, a table's header row and first row), or it
#: starts the next page: no heading alone at the foot of a page.
HEADING_KEEP = 25.0
SIGNING_SPACE = 20.0  # room for the hand signature above the line
SIGNING_LINE = 58.0

HEADING_STYLE = FontFace(family=SANS, emphasis="BOLD", fill_color=(232, 232, 232))
EMPTY_STYLE = FontFace(family=SANS, emphasis="ITALICS", color=(90, 90, 90))
FACT_LABEL_STYLE = FontFace(family=SANS, emphasis="BOLD")


def render(document: Document, letterhead: Letterhead) -> bytes:
    """The document as an A4 PDF; the same inputs give the same bytes. Blocking: call it in a thread."""
    logo = load_logo(letterhead.logo) if letterhead.logo is not None else None
    pdf = ReportPDF(
        default_fonts(),
        footer_lines=document.footer,
        language=document.language,
        watermark=document.watermark,
        created_at=document.created_at,
    )
    try:
        pdf.set_title(document.title)
        pdf.begin()
        _letterhead(pdf, letterhead, logo)
        _title(pdf, document)
        _facts(pdf, document.facts)
        for section in document.sections:
            _section(pdf, section)
        _signatures(pdf, document.signatures)
        return bytes(pdf.output())
    finally:
        pdf.close_fonts()


def _letterhead(pdf: ReportPDF, letterhead: Letterhead, logo: Logo | None) -> None:
    top = pdf.get_y()
    text_left = pdf.l_margin
    bottom = top
    if logo is not None:
        logo_width, logo_height = logo.fit(*LOGO_BOX)
        pdf.image(BytesIO(logo.data), x=pdf.l_margin, y=top, w=logo_width, h=logo_height)
        text_left = pdf.l_margin + logo_width + 5
        bottom = top + logo_height
    # Centred in the room the logo leaves, as on a printed kop surat.
    width = pdf.w - pdf.r_margin - text_left
    text_height = _letterhead_text_height(pdf, letterhead, width)
    y = top + max(0.0, ((bottom - top) - text_height) / 2)
    pdf.set_xy(text_left, y)
    pdf.set_font(SANS, "B", 14)
    pdf.multi_cell(width, 6.5, letterhead.room_name, align=Align.C, new_x=XPos.LEFT, new_y=YPos.NEXT)
    if letterhead.subtitle:
        pdf.set_font(SANS, "", 9)
        pdf.multi_cell(width, 4.5, letterhead.subtitle, align=Align.C, new_x=XPos.LEFT, new_y=YPos.NEXT)
    bottom = max(bottom, pdf.get_y()) + 2
    # The double rule under an Indonesian letterhead: thick, then thin.
    with pdf.local_context(line_width=0.7):
        pdf.line(pdf.l_margin, bottom, pdf.w - pdf.r_margin, bottom)
    with pdf.local_context(line_width=0.2):
        pdf.line(pdf.l_margin, bottom + 1.1, pdf.w - pdf.r_margin, bottom + 1.1)
    pdf.set_xy(pdf.l_margin, bottom + 6)


def _letterhead_text_height(pdf: ReportPDF, letterhead: Letterhead, width: float) -> float:
    pdf.set_font(SANS, "B", 14)
    height = pdf.text_height(width, 6.5, letterhead.room_name)
    if letterhead.subtitle:
        pdf.set_font(SANS, "", 9)
        height += pdf.text_height(width, 4.5, letterhead.subtitle)
    return height


def _title(pdf: ReportPDF, document: Document) -> None:
    pdf.set_font(SANS, "B", 13)
    pdf.multi_cell(0, 6.5, document.title, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if document.subtitle:
        pdf.set_font(SANS, "", 10)
        pdf.multi_cell(0, BODY_LINE, document.subtitle, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(5)


def _facts(pdf: ReportPDF, facts: tuple[Fact, ...]) -> None:
    if not facts:
        return
    pdf.set_font(SANS, "", BODY_SIZE)
    widths = (40, 4, pdf.epw - 44)
    facts_rows = [(fact.label, ":", fact.value) for fact in facts]
    rows = fitting_rows(pdf, facts_rows, widths, 0, _lines_per_page(pdf, BODY_LINE, 2 * FACT_PADDING_Y))
    # "Label : value", the way Indonesian forms line up their particulars.
    with pdf.table(
        col_widths=widths,
        width=pdf.epw,
        first_row_as_headings=False,
        borders_layout=TableBordersLayout.NONE,
        text_align=(Align.L, Align.C, Align.L),
        line_height=BODY_LINE,
        padding=(FACT_PADDING_Y, 0),
    ) as table:
        for label, colon, value in rows:
            row = table.row()
            row.cell(label, style=FACT_LABEL_STYLE)
            row.cell(colon)
            row.cell(value)
    pdf.ln(4)


def _section(pdf: ReportPDF, section: Section) -> None:
    pdf.set_font(SANS, "B", 11)
    if pdf.will_page_break(HEADING_KEEP):
        pdf.add_page()
    pdf.multi_cell(0, 6, section.heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)
    pdf.set_font(SANS, "", BODY_SIZE)
    for paragraph in section.paragraphs:
        pdf.multi_cell(0, BODY_LINE, paragraph, align=Align.J, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
    for table in section.tables:
        _table(pdf, table)
        pdf.ln(3)
    pdf.ln(3)


def _table(pdf: ReportPDF, table: Table) -> None:
    pdf.set_font(SANS, "", TABLE_SIZE)
    relative = table.widths or (1.0,) * len(table.columns)
    widths = [pdf.epw * share / sum(relative) for share in relative]
    # A row goes below the header row, repeated on every page: what remains is a row's limit.
    with pdf.local_context(font_style="B"):
        pad_x = TABLE_PADDING[1]
        columns = zip(widths, table.columns, strict=True)
        header = max(pdf.text_height(width - 2 * pad_x, TABLE_LINE, text) for width, text in columns)
    max_lines = _lines_per_page(pdf, TABLE_LINE, header + 4 * TABLE_PADDING[0])
    with pdf.table(
        col_widths=widths,
        width=pdf.epw,
        headings_style=HEADING_STYLE,
        text_align=Align.L,
        line_height=TABLE_LINE,
        padding=TABLE_PADDING,
        repeat_headings=1,
        v_align="TOP",
    ) as drawn:
        drawn.row(table.columns)
        for cells in fitting_rows(pdf, table.rows, widths, TABLE_PADDING[1], max_lines):
            drawn.row(cells)
        if not table.rows and table.empty:
            drawn.row().cell(table.empty, colspan=len(table.columns), align=Align.C, style=EMPTY_STYLE)


def _lines_per_page(pdf: ReportPDF, line_height: float, taken: float) -> int:
    """Lines of `line_height` a fresh page's body holds besides `taken` mm (header row, padding)."""
    # A millimetre spare: fpdf2 compares heights in floating point.
    room = pdf.page_break_trigger - pdf.t_margin - taken - 1
    return max(1, int(room // line_height))


def _signatures(pdf: ReportPDF, signatures: tuple[Signature, ...]) -> None:
    if not signatures:
        return
    pdf.ln(4)
    column = pdf.epw / 2
    for start in range(0, len(signatures), 2):
        pair = signatures[start : start + 2]
        height = max(_signature_height(pdf, signature, column) for signature in pair)
        if pdf.will_page_break(height):
            pdf.add_page()
        top = pdf.get_y()
        # A lone block in the last row is centred, as "Mengetahui" is on Indonesian forms.
        lefts = [pdf.l_margin, pdf.l_margin + column] if len(pair) == 2 else [pdf.l_margin + column / 2]
        for left, signature in zip(lefts, pair, strict=True):
            _signature(pdf, signature, left, top, column)
        pdf.set_xy(pdf.l_margin, top + height + 6)


def _signature_height(pdf: ReportPDF, signature: Signature, width: float) -> float:
    inner = width - 6
    pdf.set_font(SANS, "", BODY_SIZE)
    height = pdf.text_height(inner, BODY_LINE, signature.role)
    pdf.set_font(SANS, "", 8.5)
    height += pdf.text_height(inner, 4.2, signature.when)
    height += SIGNING_SPACE + 1
    pdf.set_font(SANS, "B", BODY_SIZE)
    height += pdf.text_height(inner, BODY_LINE, signature.name)
    if signature.note:
        pdf.set_font(SANS, "I", 8)
        height += pdf.text_height(inner, 4, signature.note)
    return height


def _signature(pdf: ReportPDF, signature: Signature, left: float, top: float, width: float) -> None:
    inner = width - 6
    x = left + 3
    pdf.set_xy(x, top)
    pdf.set_font(SANS, "", BODY_SIZE)
    pdf.multi_cell(inner, BODY_LINE, signature.role, align=Align.C, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(SANS, "", 8.5)
    pdf.multi_cell(inner, 4.2, signature.when, align=Align.C, new_x=XPos.LEFT, new_y=YPos.NEXT)
    line_y = pdf.get_y() + SIGNING_SPACE
    line_left = left + (width - SIGNING_LINE) / 2
    with pdf.local_context(line_width=0.3):
        pdf.line(line_left, line_y, line_left + SIGNING_LINE, line_y)
    pdf.set_xy(x, line_y + 1)
    pdf.set_font(SANS, "B", BODY_SIZE)
    pdf.multi_cell(inner, BODY_LINE, signature.name, align=Align.C, new_x=XPos.LEFT, new_y=YPos.NEXT)
    if signature.note:
        pdf.set_font(SANS, "I", 8)
        pdf.multi_cell(inner, 4, signature.note, align=Align.C, new_x=XPos.LEFT, new_y=YPos.NEXT)

