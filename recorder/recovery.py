"""After a crash: seal what is playable of each unsealed file (status "recovered"),
quarantine the rest, and index sealed files the index does not know yet."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av

from recorder.segment import META_KEY, SealedSegment, SegmentMeta
from recorder.segmentfile import complete_prefix, hash_file, seal_file
from recorder.store import SegmentStore, parse_segment_name

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Probe:
    """What a segment file says about itself when read back."""

    meta: SegmentMeta
    end: datetime
    packets: int
    codec: str
    width: int
    height: int
    audio_codec: str | None


def probe(path: Path) -> Probe | None:
    """Read a segment file end to end; None if it is not a playable Pantau segment."""
    try:
        with av.open(str(path), format="mp4") as container:
            meta = SegmentMeta.from_json(container.metadata.get(META_KEY))
            if meta is None:
                return None
            video = container.streams.video[0] if container.streams.video else None
            audio = container.streams.audio[0] if container.streams.audio else None
            origin = video or audio
            if origin is None:
                return None
            tb = Fraction(origin.time_base)
            first: int | None = None
            last_end: int | None = None
            packets = 0
            keyframe_ok = False
            for packet in container.demux(origin):
                if packet.size == 0 or packet.pts is None:
                    continue
                packets += 1
                if first is None:
                    first = packet.pts
                    if video is not None:
                        # Playable means the first picture decodes.
                        keyframe_ok = bool(packet.decode()) or packet.is_keyframe
                end = packet.pts + max(packet.duration or 0, 0)
                last_end = end if last_end is None else max(last_end, end)
            if first is None or last_end is None or (video is not None and not keyframe_ok):
                return None
            end_utc = meta.start + timedelta(seconds=float((last_end - first) * tb))
            return Probe(
                meta=meta,
                end=end_utc,
                packets=packets,
                codec=(video or origin).codec_context.name,
                width=video.codec_context.width if video else 0,
                height=video.codec_context.height if video else 0,
                audio_codec=audio.codec_context.name if audio else None,
            )
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as exc:
        log.info("%s is not playable: %s", path.name, exc)
        return None


def quarantine(store: SegmentStore, partial: Path) -> Path:
    """Move an unplayable partial file aside (never deleted) and return its new path."""
    target = store.quarantine_path(partial)
    target.parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while target.exists():
        target = target.with_name(f"{partial.name}.{n}")
        n += 1
    os.rename(partial, target)
    return target


def salvage(store: SegmentStore, partial: Path, started: float | None = None) -> SealedSegment | None:
    """Seal the playable prefix of an unsealed file as "recovered"; None if it was quarantined."""
    started = time.monotonic() if started is None else started
    try:
        keep = complete_prefix(partial)
        if keep and keep < partial.stat().st_size:
            os.truncate(partial, keep)
        found = probe(partial) if keep else None
    except OSError as exc:
        log.warning("%s: cannot read: %s", partial, exc)
        found = None
    named = parse_segment_name(partial.name)
    if found is None or named is None or (found.meta.camera, found.meta.stream) != (named[0], named[2]):
        target = quarantine(store, partial)
        log.warning("unplayable unsealed segment quarantined: %s", target)
        return None
    fd = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    sha, size = hash_file(partial)
    final = store.final_path(found.meta.camera, found.meta.start, found.meta.stream)
    seal_file(partial, final)
    log.warning("camera %s: recovered unsealed segment %s (%d packets)", found.meta.camera, final.name,
                found.packets)
    return sealed_from_probe(store, final, found, sha, size, "recovered", time.monotonic() - started)


#: Beside a copy being made by `salvage_copy` (never matched by the partial or final globs).
COPY_SUFFIX = ".recovering"


def salvage_copy(store: SegmentStore, partial: Path, started: float | None = None) -> SealedSegment | None:
    """Recovery of an unsealed file another node wrote, on storage several nodes share: copy its playable
    prefix into a new file, quarantine the original, seal the copy as "recovered"; None if nothing was
    playable (the original quarantined). The original is never truncated, renamed to its final name or
    sealed in place: its writer may be paused, not dead, and what it appends after resuming goes to the
    quarantined file, while its own seal finds no file to rename (or the copy's final name taken) and fails.
    """
    started = time.monotonic() if started is None else started
    named = parse_segment_name(partial.name)
    copy = partial.with_name(partial.name + COPY_SUFFIX)
    if copy.exists():
        os.unlink(copy)  # a copy a crashed recovery left half made (ours: the original is the source)
    found: Probe | None = None
    try:
        keep = complete_prefix(partial)
        if keep:
            _copy_prefix(partial, copy, keep)
            found = probe(copy)
    except OSError as exc:
        log.warning("%s: cannot copy: %s", partial, exc)
    if found is None or named is None or (found.meta.camera, found.meta.stream) != (named[0], named[2]):
        if copy.exists():
            os.unlink(copy)
        try:
            target = quarantine(store, partial)
        except FileNotFoundError:
            return None  # its writer sealed it meanwhile: not an unsealed file any more
        log.warning("unplayable unsealed segment quarantined: %s", target)
        return None
    sha, size = hash_file(copy)
    final = store.final_path(found.meta.camera, found.meta.start, found.meta.stream)
    try:
        target = quarantine(store, partial)
        seal_file(copy, final)
    except (FileNotFoundError, FileExistsError):
        # Its writer resumed and sealed it between our copy and the quarantine: that file is its to index
        # (the index refuses it under the old epoch, and its writer quarantines it).
        os.unlink(copy)
        log.warning("camera %s: %s was sealed by its writer during recovery; copy dropped", found.meta.camera,
                    final.name)
        return None
    log.warning("camera %s: recovered a copy of unsealed segment %s (%d packets); the original is %s",
                found.meta.camera, final.name, found.packets, target)
    return sealed_from_probe(store, final, found, sha, size, "recovered", time.monotonic() - started)


def _copy_prefix(source: Path, target: Path, length: int) -> None:
    """Copy the first `length` bytes of `source` into a new file `target` and fsync it."""
    with open(source, "rb") as src, open(target, "xb") as dst:
        remaining = length
        while remaining > 0:
            block = src.read(min(remaining, 1 << 20))
            if not block:
                raise OSError(f"{source} shrank while being copied")
            dst.write(block)
            remaining -= len(block)
        dst.flush()
        os.fsync(dst.fileno())


def sealed_from_probe(
    store: SegmentStore, path: Path, found: Probe, sha: str, size: int, status: str, latency: float = 0.0
) -> SealedSegment:
    """Index record of a file on disk, from its own header and contents."""
    return SealedSegment(
        camera_id=found.meta.camera,
        path=store.relative(path),
        start=found.meta.start,
        end=max(found.end, found.meta.start),
        bytes=size,
        sha256=sha,
        prev_sha256=found.meta.prev_sha256,
        status=status,
        codec=found.codec,
        width=found.width,
        height=found.height,
        audio_codec=found.audio_codec,
        drift_ms=0.0,
        timestamps=found.meta.to_json(),
        seal_latency_s=latency,
        stream=found.meta.stream,
        # The file's own header says what the recorder transcoded: recovery and reindex keep it.
        audio_source_codec=found.meta.audio_source if found.audio_codec else None,
    )


def describe_file(store: SegmentStore, path: Path) -> SealedSegment | None:
    """Index record of a sealed file found on disk (for orphans and reindex); None if unreadable."""
    found = probe(path)
    if found is None:
        return None
    sha, size = hash_file(path)
    return sealed_from_probe(store, path, found, sha, size, "sealed")
