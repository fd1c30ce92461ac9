"""Offline check of an evidence bundle's recording half: every segment hashes to what the manifest
says, consecutive segments of a camera chain (prev_sha256), and nothing was added or left out;
every other file the manifest lists (`files`: MP4 copies, frame times) is there with its SHA-256
and size. A bundle may hold segments, files or both."""

from __future__ import annotations

import hashlib
import zipfile
from collections import Counter
from datetime import datetime
from typing import Any

from recorder.bundle import CHUNK, FORMAT, RETENTION_PREFIX, SEGMENT_DIR, SUMS, sums_text
from recorder.reader import TOUCH


def _hash_member(zf: zipfile.ZipFile, name: str) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    with zf.open(name) as fh:
        while block := fh.read(CHUNK):
            sha.update(block)
            size += len(block)
    return sha.hexdigest(), size


def _time(text: Any) -> datetime:
    return datetime.fromisoformat(str(text))


def _retention_between(gaps: list[dict[str, Any]], after: datetime, before: datetime) -> bool:
    """Whether the manifest records a retention deletion between two segments (the chain may skip it)."""
    return any(RETENTION_PREFIX in str(g.get("reason", "")) and _time(g["start"]) < before + TOUCH
               and _time(g["end"]) > after - TOUCH for g in gaps)


def check_segments(zf: zipfile.ZipFile, doc: dict[str, Any]) -> list[str]:
    """Problems with the segments of a bundle, in the order found (empty: all verify)."""
    if doc.get("format") != FORMAT:
        return [f"manifest format is {doc.get('format')!r}, not {FORMAT!r}"]
    names = zf.namelist()
    dupes = [n for n, count in Counter(names).items() if count > 1]
    if dupes:
        return [f"the zip holds {dupes[0]} more than once"]
    problems: list[str] = []
    listed: set[str] = set()
    try:
        cameras = list(doc["cameras"])
        for cam in cameras:
            previous: dict[str, Any] | None = None
            for seg in cam["segments"]:
                path = str(seg["path"])
                listed.add(path)
                problems += _check_one(zf, names, cam, seg, previous)
                previous = seg
        for entry in doc.get("files", []):
            problems += _check_file(zf, names, entry, listed)
    except (KeyError, TypeError, ValueError) as exc:
        return [*problems, f"manifest is malformed: {type(exc).__name__}: {exc}"]
    extra = [n for n in names if n.startswith(SEGMENT_DIR) and not n.endswith("/") and n not in listed]
    problems += [f"{n} is in the bundle but not in the manifest" for n in extra]
    if SUMS in names and zf.read(SUMS).decode(errors="replace") != sums_text(doc):
        problems.append(f"{SUMS} disagrees with the manifest")
    return problems


def file_count(doc: dict[str, Any]) -> int:
    """How many files besides segments the manifest lists (each checked by check_segments)."""
    files = doc.get("files", [])
    return len(files) if isinstance(files, list) else 0


def _check_file(zf: zipfile.ZipFile, names: list[str], entry: dict[str, Any], listed: set[str]) -> list[str]:
    name = str(entry["name"])
    expected_sha, expected_size = str(entry["sha256"]), int(entry["bytes"])
    if name in listed:
        return [f"{name} is listed in the manifest more than once"]
    listed.add(name)
    if name.startswith(SEGMENT_DIR):
        return [f"file {name} is listed among the files but lies under {SEGMENT_DIR}"]
    if name not in names:
        return [f"file {name} is in the manifest but not in the bundle"]
    sha, size = _hash_member(zf, name)
    if sha != expected_sha or size != expected_size:
        return [f"file {name}: sha256 {sha} ({size} bytes) does not match the manifest "
                f"({expected_sha}, {expected_size} bytes)"]
    return []


def _check_one(
    zf: zipfile.ZipFile, names: list[str], cam: dict[str, Any], seg: dict[str, Any], previous: dict[str, Any] | None
) -> list[str]:
    path = str(seg["path"])
    problems: list[str] = []
    if not path.startswith(SEGMENT_DIR) or path not in names:
        problems.append(f"segment {path} of camera {cam['id']} is in the manifest but not in the bundle")
    else:
        sha, size = _hash_member(zf, path)
        if sha != seg["sha256"] or size != int(seg["bytes"]):
            problems.append(f"segment {path}: sha256 {sha} ({size} bytes) does not match the manifest "
                            f"({seg['sha256']}, {seg['bytes']} bytes)")
    if previous is not None:
        start, prev_end = _time(seg["start"]), _time(previous["end"])
        if start < prev_end - TOUCH:
            problems.append(f"segment {path} starts before the previous segment {previous['path']} ends")
        if seg.get("prev_sha256") != previous["sha256"] and not _retention_between(cam.get("gaps", []), prev_end,
                                                                                   start):
            problems.append(
                f"segment {path}: chain broken: its prev_sha256 {seg.get('prev_sha256')} is not the sha256 of "
                f"the segment before it in the bundle, {previous['path']} ({previous['sha256']}): "
                "a segment between them is missing")
    return problems
