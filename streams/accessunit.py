"""One timed access unit per video frame, at ingest, in arrival order.

What a camera connection gives libav is not always what a recorder or a WebRTC packetizer wants:
- the first packet of an RTSP connection comes without pts/dts (libav's H.264/H.265 parser cannot
  place it), and with B-frames the first few packets come without dts. Repaired further down
  (recorder/timeline.py) one tick apart, the first frame of a recording lasted 1/90000 s and a
  B-frame stream's first segment had its frames' times out of order (ffmpeg warned on it). Here they are held until the stream's cadence is known
  and given the times they had: the frame step back from the first timed frames;
- a camera (or a demuxer that does not parse) may hand over one frame as several packets with
  the same timestamp, one per slice or with the parameter sets apart. They are joined into one
  packet here, keyframe if any part is. A packet continues the frame before it unless it starts
  a new access unit (an AUD, parameter set or SEI after the frame's slices, or the first slice of
  a picture, H.264 7.4.1.2.3 / H.265 7.4.2.4.4) or carries other timestamps.

Latency: a frame is complete only once the next one starts (libav hides the RTP marker bit), so
joining holds each frame for one frame time. libav's parser already joins the slices of RTSP
H.264/H.265 (and pays that frame itself), so a source that says its frames come whole
(`whole_frames`) has them passed on at once; only if a frame still arrives in parts does the
connection switch to joining. Held at the start of every connection: until the untimed first
frames can be given times (the first frame waits for two more without B-frames, four with two).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field, replace

from streams.bitstream import first_nal, has_random_access, is_vcl, nal_offsets, nal_type, starts_picture
from streams.packet import MediaPacket, StreamInfo

log = logging.getLogger(__name__)

# Codecs whose access units are put together here (FFmpeg codec names).
JOINED_CODECS = frozenset({"h264", "hevc"})
# Frames held at the start of a connection while waiting for timestamps; a stream still
# untimed after this (2 s at 25 fps) is passed on as it is and repaired downstream.
MAX_HELD_FRAMES = 50
# Other packets (sound) held at the start while no video frame has come yet: the first frame may
# come untimed after them (the test camera's G.711 does), and must still be given its time.
MAX_HELD_PACKETS = 4 * MAX_HELD_FRAMES


@dataclass(eq=False, slots=True)
class _Frame:
    """A video frame being put together from one or more packets."""

    first: MediaPacket
    parts: list[bytes] = field(default_factory=list)
    keyframe: bool = False
    closed: bool = False
    has_slices: bool = False  # among the parts scanned so far
    scanned: int = 0
    # Filled in when the stream's cadence is known (the camera's own times, when it gave them).
    pts: int | None = None
    dts: int | None = None

    def packet(self, codec: str) -> MediaPacket:
        if len(self.parts) == 1:
            data = self.parts[0]
            keyframe = self.keyframe
        else:
            data = b"".join(self.parts)
            # libav flags the part that it parsed as a keyframe; a joined frame is one if any part
            # was, or if it holds a random-access picture (a demuxer that flags nothing).
            keyframe = self.keyframe or has_random_access(codec, data)
        return replace(self.first, data=data, pts=self.pts, dts=self.dts, is_keyframe=keyframe)


_Item = MediaPacket | _Frame


class AccessUnits:
    """Per connection: one packet per video frame with both timestamps, every packet in the order
    it came. Not thread-safe; lives in the camera's worker thread."""

    def __init__(self, streams: tuple[StreamInfo, ...], whole_frames: bool = False, camera: str = "") -> None:
        video = next((s for s in streams if s.kind == "video" and s.codec in JOINED_CODECS), None)
        self.camera = camera
        self._video = video.index if video is not None else None
        self._codec = video.codec if video is not None else ""
        #: Hold each frame until the next one starts (a source that sends frames in parts).
        self.joining = not whole_frames
        #: Frames that arrived in more than one packet; parts that came too late to be joined.
        self.joined = 0
        self.late_parts = 0
        self._queue: deque[_Item] = deque()
        self._open: _Frame | None = None  # the newest frame, still taking parts
        self._last_sent: MediaPacket | None = None  # the newest video frame passed on
        # Until the first frames have their times, everything is held (in order).
        self._timed = self._video is None
        self._held_frames = 0
        self._step: int | None = None
        self._last_dts: int | None = None

    def push(self, packet: MediaPacket) -> list[MediaPacket]:
        """Take one demuxed packet; return the packets now ready, in arrival order."""
        if packet.stream != self._video:
            self._queue.append(packet)
            return self._release()
        frame = self._open
        if frame is not None and self._continues(frame, packet):
            if len(frame.parts) == 1:
                self.joined += 1
                if not self.joining:
                    log.info("camera %s: a frame came in several packets; joining them from now on",
                             self.camera)
                self.joining = True
            self._add(frame, packet)
            return []
        if frame is None and self._is_late_part(packet):
            # A part of a frame that was passed on whole already: too late to join. It goes on
            # as it is (dropping it would break the picture) and frames are joined from now on.
            self.late_parts += 1
            if not self.joining:
                log.warning("camera %s: a frame came in several packets after it was sent on; "
                            "joining frames from now on (one frame later)", self.camera)
            self.joining = True
            self._queue.append(packet)
            return self._release()
        if frame is not None:
            frame.closed = True
        frame = _Frame(packet, pts=packet.pts, dts=packet.dts)
        self._add(frame, packet)
        self._open = frame
        self._queue.append(frame)
        if not self._timed:
            self._held_frames += 1
        return self._release()

    def flush(self) -> list[MediaPacket]:
        """The connection ended: everything held, the last frame as it is."""
        if self._open is not None:
            self._open.closed = True
        self._open = None
        if not self._timed:
            self._settle(force=True)
        return self._release()

    @staticmethod
    def _add(frame: _Frame, packet: MediaPacket) -> None:
        frame.parts.append(packet.data)
        frame.keyframe = frame.keyframe or packet.is_keyframe

    def _continues(self, frame: _Frame, packet: MediaPacket) -> bool:
        """Whether `packet` is more of `frame`: the same timestamps and no new access unit."""
        if (packet.pts, packet.dts) != (frame.first.pts, frame.first.dts):
            return False  # the common case: nothing below runs for it
        while not frame.has_slices and frame.scanned < len(frame.parts):
            frame.has_slices = self._has_slices(frame.parts[frame.scanned])
            frame.scanned += 1
        return not self._new_picture(frame.has_slices, packet)

    def _has_slices(self, data: bytes) -> bool:
        return any(is_vcl(self._codec, nal_type(self._codec, data[i])) for i in nal_offsets(data))

    def _new_picture(self, has_slices: bool, packet: MediaPacket) -> bool:
        """Whether `packet` starts an access unit after a frame (with slices or not yet): a prefix
        NAL unit or a first slice does only after the frame's slices; before them (an AUD, the
        parameter sets sent apart) it is the same frame."""
        return has_slices and starts_picture(self._codec, first_nal(packet.data))

    def _is_late_part(self, packet: MediaPacket) -> bool:
        last = self._last_sent
        if last is None or packet.pts is None or (packet.pts, packet.dts) != (last.pts, last.dts):
            return False
        return not self._new_picture(self._has_slices(last.data), packet)

    def _release(self) -> list[MediaPacket]:
        if not self._timed and not self._settle(
                force=self._held_frames > MAX_HELD_FRAMES or len(self._queue) > MAX_HELD_PACKETS):
            return []
        out: list[MediaPacket] = []
        queue = self._queue
        while queue:
            head = queue[0]
            if isinstance(head, _Frame):
                if not head.closed:
                    if self.joining:
                        break
                    head.closed = True
                    self._open = None
                self._fill(head)
                packet = head.packet(self._codec)
                self._last_sent = packet
                out.append(packet)
            else:
                out.append(head)
            queue.popleft()
        return out

    def _fill(self, frame: _Frame) -> None:
        """Times for a frame after the start: an untimed one follows the last at the frame step."""
        step = self._step or 1
        if frame.dts is None:
            if self._last_dts is not None:
                nxt = self._last_dts + step
                frame.dts = nxt if frame.pts is None else min(frame.pts, nxt)
            else:
                frame.dts = frame.pts
        if frame.pts is None:
            frame.pts = frame.dts
        if frame.dts is not None:
            self._last_dts = frame.dts

    def _settle(self, force: bool = False) -> bool:
        """At the start: give the held frames their times once the cadence shows; True when done."""
        frames = [item for item in self._queue if isinstance(item, _Frame)]
        if not frames:
            # Sound came first: the video's first frame is yet to come (and may come untimed).
            # Past the limit the sound goes on, and the video is settled when it comes.
            return force
        untimed = [i for i, f in enumerate(frames) if f.dts is None or f.pts is None]
        if not untimed:
            self._timed = True
            if len(frames) >= 2 and frames[-1].dts is not None and frames[-2].dts is not None:
                self._step = frames[-1].dts - frames[-2].dts or None
            return True
        # Two frames in a row with a dts, after the last untimed one, give the step.
        after = frames[untimed[-1] + 1:]
        pair = next(((a, b) for a, b in zip(after, after[1:], strict=False)
                     if a.dts is not None and b.dts is not None and b.dts > a.dts), None)
        if pair is None:
            if force:
                log.warning("camera %s: no timestamps on the first %d frames; passed on as they came",
                            self.camera, len(frames))
                self._timed = True
            return force
        step = pair[1].dts - pair[0].dts  # type: ignore[operator]
        anchor = frames.index(pair[0])
        base = pair[0].dts
        assert base is not None
        # In decode order every frame is one step after the last.
        for i, f in enumerate(frames[:anchor]):
            if f.dts is None:
                f.dts = base - (anchor - i) * step
        # An untimed frame before the first timed one is shown before all the frames that
        # follow it (it opens the stream: the keyframe); with B-frames its pts is not its dts.
        known = [f.pts for f in frames if f.pts is not None]
        lowest = min(known) if known else base
        first_timed = next((i for i, f in enumerate(frames) if f.pts is not None), len(frames))
        for i, f in enumerate(frames[:first_timed]):
            f.pts = lowest - (first_timed - i) * step
        for f in frames:
            if f.pts is None:
                f.pts = f.dts
            if f.dts is not None and f.pts is not None and f.pts < f.dts:
                f.pts = f.dts
        self._step = step
        self._timed = True
        return True
