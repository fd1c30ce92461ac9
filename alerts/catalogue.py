"""What each alert kind means to a person: its severity and its summary in English and Indonesian.

The summaries are the room's words (the SOP is Indonesian); a field a publisher did not give shows
as "?" rather than failing, so a wrong detail never loses an alert.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass

from core.alerting import AlertKind, Scalar, Severity


@dataclass(frozen=True, slots=True)
class Entry:
    severity: Severity
    en: str
    id: str


CATALOGUE: Mapping[AlertKind, Entry] = {
    AlertKind.CAMERA_ONLINE: Entry(
        Severity.INFO, "Camera {camera} is online", "Kamera {camera} daring"),
    AlertKind.CAMERA_OFFLINE: Entry(
        Severity.CRITICAL, "Camera {camera} is offline: {reason}", "Kamera {camera} terputus: {reason}"),
    AlertKind.CAMERA_DEGRADED: Entry(
        Severity.WARNING, "Camera {camera} picture problem: {problems}", "Gambar kamera {camera} bermasalah: {problems}"),
    AlertKind.CAMERA_RECOVERED: Entry(
        Severity.INFO, "Camera {camera} picture is normal again", "Gambar kamera {camera} kembali normal"),
    AlertKind.CAMERA_FLAPPING: Entry(
        Severity.WARNING,
        "Camera {camera} keeps dropping and reconnecting ({changes} changes in {window_s} s)",
        "Kamera {camera} berulang kali putus-sambung ({changes} kali dalam {window_s} detik)"),
    AlertKind.CAMERA_ALARM: Entry(
        Severity.WARNING, "Camera {camera} alarm: {alarm}", "Alarm kamera {camera}: {alarm}"),
    AlertKind.RECORDING_STALLED: Entry(
        Severity.CRITICAL,
        "Camera {camera} is online but nothing was recorded for {seconds} s",
        "Kamera {camera} daring tetapi tidak ada rekaman selama {seconds} detik"),
    AlertKind.RECORDING_RESUMED: Entry(
        Severity.INFO, "Recording of camera {camera} resumed", "Perekaman kamera {camera} berjalan kembali"),
    AlertKind.STORAGE_FULL: Entry(
        Severity.CRITICAL, "Recording stopped: storage full ({problem})",
        "Perekaman berhenti: penyimpanan penuh ({problem})"),
    AlertKind.STORAGE_OK: Entry(
        Severity.INFO, "Storage has room again; recording resumed",
        "Penyimpanan kembali cukup; perekaman berjalan lagi"),
    AlertKind.STORAGE_LOW: Entry(
        Severity.WARNING, "Storage low: {free_gib} GiB free", "Penyimpanan hampir penuh: sisa {free_gib} GiB"),
    AlertKind.ACCESSLOG_TAMPERED: Entry(
        Severity.CRITICAL,
        "The access log no longer matches its signed checkpoints: {problem}",
        "Log akses tidak lagi cocok dengan checkpoint bertanda tangan: {problem}"),
    AlertKind.SIGNIN_BURST: Entry(
        Severity.WARNING,
        "{failures} failed sign-ins in {window_s} s (last: user {username} from {client})",
        "{failures} kali gagal masuk dalam {window_s} detik (terakhir: pengguna {username} dari {client})"),
    AlertKind.PATROL_MISSED: Entry(
        Severity.WARNING,
        "No patrol by {operator} for {minutes} min (one is due every {interval_min} min)",
        "Belum ada patroli oleh {operator} selama {minutes} menit (wajib tiap {interval_min} menit)"),
    AlertKind.HANDOVER_FILED: Entry(
        Severity.INFO,
        "Handover filed by {operator} ({shift}); waiting for the next shift to countersign",
        "Serah terima diajukan oleh {operator} ({shift}); menunggu tanda tangan shift berikutnya"),
    AlertKind.HANDOVER_ACCEPTED: Entry(
        Severity.INFO,
        "Handover of {operator} ({shift}) accepted by {accepted_by}{objections}",
        "Serah terima dari {operator} ({shift}) diterima oleh {accepted_by}{objections}"),
    AlertKind.CASE_OPENED: Entry(
        Severity.CRITICAL,
        "New {kind_en} ({severity}): {title}, opened by {by}",
        "{kind_id} baru ({severity}): {title}, dibuka oleh {by}"),
    AlertKind.CASE_ESCALATED: Entry(
        Severity.CRITICAL,
        "Not acknowledged for {waited_s} s: {kind_en} {title} (escalation {escalations})",
        "Belum ditanggapi selama {waited_s} detik: {kind_id} {title} (eskalasi ke-{escalations})"),
    AlertKind.CASE_ACKNOWLEDGED: Entry(
        Severity.INFO, "{kind_en} {title} acknowledged by {by}", "{kind_id} {title} ditanggapi oleh {by}"),
    AlertKind.CASE_CLOSED: Entry(
        Severity.INFO, "{kind_en} {title} closed by {by}: berita acara {number}",
        "{kind_id} {title} ditutup oleh {by}: berita acara {number}"),
}


class _Fields(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "?"


_FORMATTER = string.Formatter()


def summarize(kind: AlertKind, camera: str | None, details: Mapping[str, Scalar]) -> dict[str, str]:
    """{"en": ..., "id": ...} for one alert."""
    entry = CATALOGUE[kind]
    fields = _Fields(details)
    fields["camera"] = camera or "?"
    return {"en": _FORMATTER.vformat(entry.en, (), fields), "id": _FORMATTER.vformat(entry.id, (), fields)}
