"""Printed reports: a plain document model (title, facts, tables, signature blocks, footer) and its
rendering to PDF with embedded fonts, so Indonesian text prints on any machine. Knows core only;
the shift desk and cases build the documents."""

from reports.document import Document, Fact, Letterhead, Section, Signature, Table
from reports.errors import ReportUnavailable
from reports.pdf import render

__all__ = [
    "Document",
    "Fact",
    "Letterhead",
    "ReportUnavailable",
    "Section",
    "Signature",
    "Table",
    "render",
]
