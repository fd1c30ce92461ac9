"""The one error reports raise on purpose: the machine cannot render (fonts, logo)."""

from __future__ import annotations

from core.errors import PantauError


class ReportUnavailable(PantauError):
    """A report cannot be rendered on this server (a font or the letterhead logo is missing or
    unreadable): a misconfiguration the operator of the server fixes, not the person asking."""

    status = 500
    kind = "report-unavailable"
    title = "Report cannot be rendered"
    retriable = False
