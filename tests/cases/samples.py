"""Cases as the case book hands them over (cases/CONTRACT shape), and their rows in a real database."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from core.utctime import format_utc
from recorder.models import Segment

OPENED = datetime(2026, 3, 9, 7, 0, tzinfo=UTC)  # 14:00 WIB


def sha(text: str) -> str:
    """A stand-in SHA-256 that is different for every text."""
    return hashlib.sha256(text.encode()).hexdigest()


def event(kind: str, minutes: float, actor: str, content: dict[str, Any], seq: int) -> dict[str, Any]:
    """One timeline entry, `minutes` after the case was opened."""
    return {"id": f"ev-{seq}", "kind": kind, "at": format_utc(OPENED + timedelta(minutes=minutes)), "actor": actor,
            "content": content, "sha256": sha(f"event {seq}"), "log_seq": 4100 + seq}


def complaint_case(reporter: str | None = "Siti Rahmawati") -> dict[str, Any]:
    """A complaint about a traffic accident, forwarded, followed up and resolved, with two holds."""
    at = lambda m: format_utc(OPENED + timedelta(minutes=m))  # noqa: E731
    holds = [
        {"hold_id": 7, "camera": "simpang-lima", "start": at(-20), "end": at(10)},
        {"hold_id": 8, "camera": "gerbang-utara", "start": at(-15), "end": at(5)},
    ]
    timeline = [
        event("opened", 0, "andi", {"kind": "complaint", "title": "Tabrakan di Simpang Lima", "source": "api"}, 1),
        event("acknowledged", 2, "andi", {"note": "Diterima lewat telepon, sedang dicek di kamera"}, 2),
        event("hold_placed", 3, "andi", {"holds": holds}, 3),
        event("forwarded", 5, "andi", {"to": "polantas", "name": "", "channel": "phone", "at": at(4),
                                        "note": "Mohon petugas ke lokasi"}, 4),
        event("followed_up", 40, "budi", {"action": "Petugas Polantas tiba dan mengatur lalu lintas", "at": at(38)}, 5),
        event("resolved", 90, "budi", {"outcome": "Kendaraan dievakuasi, lalu lintas normal kembali pukul 15.25"}, 6),
    ]
    return {
        "id": "6f1c2d7e-0b7a-4c59-9b1e-3d2a8f5e4c10", "kind": "complaint", "state": "resolved", "severity": "high",
        "title": "Tabrakan di Simpang Lima", "description": "Pelapor melihat dua sepeda motor bertabrakan di "
        "Simpang Lima; lalu lintas tersendat ke arah utara.", "at": at(-5), "cameras": ["simpang-lima", "gerbang-utara"],
        "playbook": None, "category": "kecelakaan", "channel": "phone", "location": "Simpang Lima, Jl. Pahlawan",
        "reporter": {"name": reporter, "contact": "0812-0000-1111"} if reporter else None,
        "opened_at": at(0), "opened_by": "andi", "acknowledged_at": at(2), "forwarded_at": at(4),
        "resolved_at": at(90), "closed_at": None, "escalations": 0, "number": None,
        "timeline": timeline, "holds": holds, "steps": [], "berita_acara": None,
    }


def segment_row(camera: str, start: datetime, seconds: float, n: int) -> Segment:
    """A sealed segment's index row (no file: the minutes read the index only)."""
    return Segment(
        camera_id=camera, start=start, end=start + timedelta(seconds=seconds), path=f"{camera}/{n:06d}.mp4",
        bytes=1_000_000 + n, sha256=sha(f"{camera} segment {n}"), prev_sha256=None, status="sealed", codec="h264",
        width=1920, height=1080, audio_codec=None, drift_ms=0.0, timestamps="{}", sealed_at=start,
    )


def emergency_case() -> dict[str, Any]:
    """A panic-button emergency run from its playbook: escalated once, two steps checked off."""
    steps = [
        {"id": "call-police", "text_id": "Hubungi polsek terdekat", "text_en": "Call the nearest police post",
         "contact": {"id": "polsek", "name": "Polsek Kota Timur", "phone": "110", "radio": "", "email": ""},
         "done_at": format_utc(OPENED + timedelta(minutes=4)), "done_by": "andi", "note": ""},
        {"id": "show-wall", "text_id": "Tampilkan kamera di video wall", "text_en": "Show the cameras on the wall",
         "contact": None, "done_at": format_utc(OPENED + timedelta(minutes=5)), "done_by": "andi", "note": "layar 2"},
    ]
    timeline = [
        event("opened", 0, "trigger:panic", {"kind": "emergency", "playbook": "panic", "source": "trigger:http"}, 1),
        event("escalated", 2, "system", {"waited_s": 120, "escalations": 1}, 2),
        event("acknowledged", 3, "andi", {"note": ""}, 3),
        event("step_done", 4, "andi", {"step": "call-police", "note": ""}, 4),
        event("step_done", 5, "andi", {"step": "show-wall", "note": "layar 2"}, 5),
        event("resolved", 30, "andi", {"outcome": "Alarm palsu: tombol tertekan petugas kebersihan"}, 6),
    ]
    return {
        "id": "0b9e5a44-31c7-4d0e-8f0e-2a6c1d3b5e77", "kind": "emergency", "state": "resolved",
        "severity": "critical", "title": "Tombol panik balai kota", "description": "", "at": format_utc(OPENED),
        "cameras": ["balai-kota-lobi"], "playbook": "panic", "category": None, "channel": None, "location": "",
        "reporter": None, "opened_at": format_utc(OPENED), "opened_by": "trigger:panic",
        "acknowledged_at": format_utc(OPENED + timedelta(minutes=3)), "forwarded_at": None,
        "resolved_at": format_utc(OPENED + timedelta(minutes=30)), "closed_at": None, "escalations": 1,
        "number": None, "timeline": timeline, "holds": [], "steps": steps, "berita_acara": None,
    }
