"""Playing a recorded window to one WHEP viewer: real-time pacing, pause, seek, speed, gaps.

The player reads the recorder ahead of time (one bounded queue), paces frames by their recorded
times divided by the speed, and stamps each with the time it is due on an output clock that
never stops, so a browser plays pauses, gaps and speed changes smoothly. Every frame passes
`frames_in_window`: nothing outside the authorized window is ever handed to aiortc.
A player in a synchronized group (webrtc/playbackgroup.py) paces by the group's clock instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

import av
from aiortc import RTCDataChannel
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from core.clock import Clock
from core.errors import PantauError
from webrtc.playbackcontrol import (CHANNEL_LABEL, Command, ControlError, Pause, Play, Seek, Speed, event,
                                    parse_command)
from webrtc.playbackfeed import FeedItem, Finished, Frame, Gap, Recordings, Sound, frames_in_window, iso
from webrtc.playbackgroup import PlaybackGroup
from webrtc.playbacksound import SoundQueue, SoundState

log = logging.getLogger(__name__)

VIDEO_CLOCK = Fraction(1, 90_000)
MIN_RATE, MAX_RATE = 0.5, 8.0
# Frames read ahead of the viewer: about 10 s of 25 fps video, so a segment boundary
# (hash check and demux of the next file in a worker thread) never stalls the picture.
READ_AHEAD = 256
# A frame more than this late (the machine stalled) restarts the pacing clock instead of
# bursting everything that is overdue at once.
LATE_S = 1.0
POSITION_EVERY_S = 1.0
# In a group, a member about to wait longer than this (and than two of its frames) says so in a
# position report (`held`), so a viewer stops carrying its `at` forward until frames flow again.
HELD_WAIT_S = 0.05
# A member held back for a slower one looks again at least this often (a stalled one stops holding).
HOLD_RECHECK_S = 0.25
# How often the grant is checked again (revocation in any process, expiry): within the 1-2 s
# the disposition workflow promises.
CHECK_EVERY_S = 1.0
# After the window is played out the session stays for a seek back this long, then ends.
END_LINGER_S = 60.0
#: Messages kept for a control channel that has not opened yet (the oldest go first).
UNSENT_MAX = 64


@dataclass(frozen=True, slots=True)
class PlaybackPlan:
    """An authorized playback: what may be sent, to whom, under which grant."""

    camera: str
    start: datetime
    end: datetime
    viewer: str  # username, or the grantee of a disposition
    role: str | None  # None for a disposition token holder
    client: str | None
    max_rate: float
    watermark: str | None = None
    token_id: str | None = None
    request_id: str | None = None
    token_sha256: str | None = None  # lets the token's holder end the session (DELETE)
    expires: datetime | None = None
    #: Whether the recorded sound may be served with the picture (the allow carries no no_audio).
    audio: bool = True
    #: Why the grant no longer stands (revoked), or None while it does; asked every CHECK_EVERY_S.
    revoked: Callable[[], Awaitable[str | None]] | None = None
    #: The longest the session may last (wall seconds, pauses included): a token's view, so that
    #: seeking back cannot make one view last for ever. None: no bound (a signed-in replay).
    max_view_s: float | None = None


@dataclass
class SentRange:
    """What was actually handed to the viewer, for PLAYBACK_STOP."""

    first: float | None = None
    last: float | None = None
    frames: int = 0
    bytes: int = 0
    seeks: int = 0

    def add(self, frame: Frame) -> None:
        self.first = frame.at if self.first is None else min(self.first, frame.at)
        self.last = frame.at if self.last is None else max(self.last, frame.at)
        self.frames += 1
        self.bytes += len(frame.data)


class Player:
    """One viewer's playback: `run()` reads and watches (cancel to stop), `next_packet()` paces."""

    def __init__(self, plan: PlaybackPlan, recordings: Recordings, clock: Clock,
                 on_sent: Callable[[int], None] | None = None, sound: bool = False) -> None:
        self.plan = plan
        #: The recorded sound read with the picture, for the session's sound track (with `sound`).
        self.sound_queue = SoundQueue() if sound else None
        self.sent = SentRange()
        self._recordings = recordings
        self._clock = clock
        self._on_sent = on_sent
        # Real time, unless the policy caps the rate below it.
        self._top_rate = min(MAX_RATE, plan.max_rate)
        self._rate = min(1.0, self._top_rate)
        self._paused = False
        self._at_end: float | None = None  # loop time the window was played out
        self._stopped = False
        self._origin = plan.start  # where the current read began
        self._epoch = 0  # bumped by each seek; queued items of an older epoch are dropped
        self._queue: asyncio.Queue[tuple[int, FeedItem]] = asyncio.Queue(READ_AHEAD)  # no Sound
        self._reseek = asyncio.Event()
        self._wake = asyncio.Event()
        self._pending: Frame | None = None
        self._anchor: tuple[float, float] | None = None  # (loop time, recorded time) in step
        self._out_origin: float | None = None
        self._last_stamp = -1
        self._position = plan.start.timestamp()
        self._channel: RTCDataChannel | None = None
        #: What was said before the viewer's control channel opened (a gap, the end, an error):
        #: sent when it does, so a viewer whose channel opens late still hears it.
        self._unsent: deque[str] = deque(maxlen=UNSENT_MAX)
        self._reported = float("-inf")  # time.monotonic() of the last position report
        self._held = False  # in a group: waiting for the clock or a slower member (reported)
        self._step = 0.04  # recorded seconds between the last two frames sent (decode times)
        self._last_at: float | None = None  # decode time of the last frame sent
        #: The synchronized group whose clock paces this player, or None (its own anchor).
        self.group: PlaybackGroup | None = None

    def join(self, group: PlaybackGroup) -> None:
        """Pace by `group`'s clock from now on (before `run()`): start reading where it is."""
        self.group = group
        self._rate, self._paused = group.clock.rate, group.clock.paused
        self._origin = group.origin(self)
        self._position = self._origin.timestamp()

    @property
    def window(self) -> tuple[datetime, datetime]:
        """The authorized window [start, end)."""
        return self.plan.start, self.plan.end

    @property
    def top_rate(self) -> float:
        """The fastest this viewer may play."""
        return self._top_rate

    @property
    def played_out(self) -> bool:
        """Whether the window has been played to its end (until a seek back)."""
        return self._at_end is not None

    def wake(self) -> None:
        """Look at the clock again now (the group's clock moved): the next frame to leave reports
        where this member is, so a viewer never carries an old report across the move."""
        self._reported = float("-inf")
        self._wake.set()

    @property
    def position(self) -> float:
        """The recorded time of the last frame sent (or the seek target before one is)."""
        return self._position

    # -- reading ahead --------------------------------------------------------------------

    async def run(self, end_session: Callable[[str], None]) -> None:
        """Read the window (again after each seek), report position, and end the session when
        the grant lapses or the played-out window is left alone; until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._feed())
            tasks.create_task(self._report())
            tasks.create_task(self._watch(end_session))

    async def _feed(self) -> None:
        while True:
            self._reseek.clear()
            async with asyncio.TaskGroup() as tasks:
                reading = tasks.create_task(self._read(self._epoch, self._origin))
                await self._reseek.wait()
                reading.cancel()

    async def _read(self, epoch: int, origin: datetime) -> None:
        plan = self.plan
        try:
            items = self._recordings.read(plan.camera, origin, plan.end)
            sound = self.sound_queue
            async with aclosing(frames_in_window(items, origin, plan.end, audio=sound is not None)) as feed:
                async for item in feed:
                    if isinstance(item, Sound):
                        assert sound is not None
                        sound.put(epoch, item)
                        continue
                    await self._queue.put((epoch, item))
                    if isinstance(item, Finished):
                        return
        except PantauError as exc:  # e.g. a segment that fails its hash check is never sent
            log.warning("camera %s: playback stopped reading: %s", plan.camera, exc.detail,
                        extra={"camera": plan.camera})
            await self._queue.put((epoch, Finished(exc.detail)))
            return
        await self._queue.put((epoch, Finished()))

    # -- pacing ---------------------------------------------------------------------------

    async def next_packet(self) -> av.Packet:
        """The next frame, at its time; waits while paused or played out. MediaStreamError when stopped."""
        loop = asyncio.get_running_loop()
        while True:
            if self._stopped:
                raise MediaStreamError
            if self._paused or self._at_end is not None:
                await self._wait_wake(None)
                continue
            if self._pending is None:
                epoch, item = await self._queue.get()
                if epoch != self._epoch:
                    continue
                if isinstance(item, Gap):
                    self._send(event("gap", start=iso(item.start), end=iso(item.end), reason=item.reason))
                    self._anchor = None  # skipped: the next frame is due at once
                elif isinstance(item, Finished):
                    if item.error:
                        self._send(event("error", detail=item.error))
                    self._at_end = loop.time()
                    self._send(event("end", at=iso(self._position)))
                elif isinstance(item, Frame):  # (sound goes to the sound queue, never here)
                    self._pending = item
                continue  # paused or stopped meanwhile? look again
            frame = self._pending
            now = loop.time()
            if self.group is not None:
                # The group's clock. A frame it has passed by over HOLD_S moves it back (the
                # others wait for this member); a frame over HOLD_S ahead of a member still on
                # its way waits for that one.
                group, at = self.group, frame.at - frame.lead
                group_due = group.clock.due(at, now)
                if group_due is None:  # the group paused meanwhile
                    await self._wait_wake(None)
                    continue
                if group_due < now and group.late(self, at, now):
                    group_due = now
                    self._reported = float("-inf")  # the clock moved back to this frame: say so
                elif group_due <= now and group.holds(self, at, now):
                    self._say_held(True)
                    await self._wait_wake(HOLD_RECHECK_S)
                    continue
                due = group_due
                if due - now > max(HELD_WAIT_S, 2 * self._step / self._rate):
                    self._say_held(True)
            else:
                if self._anchor is None or now - self._due(frame) > LATE_S:
                    self._anchor = (now, frame.at - frame.lead)
                due = self._due(frame)
            if due > now:
                if self.group is not None and self.group.wait(self, frame.at - frame.lead, now):
                    continue  # the group's clock jumped a span no member has a frame in: look again
                try:
                    timed_out = await self._wait_wake(due - now)
                finally:
                    if self.group is not None:
                        self.group.waited(self)
                if not timed_out or self.group is not None:
                    continue  # a command came (or, in a group, the others moved): look again
            self._pending = None
            packet = self._packet(frame, due)
            if self.group is not None:
                self.group.sent(self, now)
            if self._held:
                self._say_held(False)  # moving again: the viewer carries `at` forward from here
            elif time.monotonic() - self._reported >= POSITION_EVERY_S:
                self._report_position()  # as a frame leaves: `at` is that frame's time, and fresh
            return packet

    def _say_held(self, held: bool) -> None:
        """Tell the viewer (in a group) when this member stops or starts moving with the clock."""
        if held != self._held:
            self._held = held
            self._report_position()

    def _due(self, frame: Frame) -> float:
        """When the frame goes out: frames are paced in the order they are decoded (a B-frame
        stream's differs from the order they are shown)."""
        return self.due_at(frame.at - frame.lead)

    def due_at(self, at: float) -> float:
        """The loop time the recorded moment `at` (a decode time; sound's is its own) is due on the
        current pacing anchor (the group's clock, in a group)."""
        if self.group is not None:
            due = self.group.clock.due(at, asyncio.get_running_loop().time())
            assert due is not None, "asked while the group is paused"
            return due
        assert self._anchor is not None
        started, anchored = self._anchor
        return started + (at - anchored) / self._rate

    # -- what the sound track asks (webrtc/playbacksound.py) ----------------------------------

    @property
    def epoch(self) -> int:
        """Bumped by every seek."""
        return self._epoch

    @property
    def stopped(self) -> bool:
        """Whether the session's media has ended."""
        return self._stopped

    def sound_state(self) -> SoundState:
        """Sound plays at 1x only, once the picture has set the pacing anchor."""
        if self._rate != 1.0:
            return SoundState.DROP
        started = self._anchor is not None if self.group is None else self.group.clock.anchor is not None
        if self._paused or self._at_end is not None or not started:
            return SoundState.HOLD
        return SoundState.PLAY

    def out_time(self, due: float) -> float | None:
        """Seconds of the viewer's clock at loop time `due` (None before the first frame)."""
        return None if self._out_origin is None else due - self._out_origin

    async def _wait_wake(self, delay: float | None) -> bool:
        """Sleep until a command wakes us (False) or `delay` seconds pass (True)."""
        self._wake.clear()
        try:
            async with asyncio.timeout(delay):
                await self._wake.wait()
        except TimeoutError:
            # A command may land in the same loop turn as the deadline: the timer then cancels a
            # wait that was already woken. The command wins, or a frame would go out after Pause.
            return not self._wake.is_set()
        return False

    def _packet(self, frame: Frame, due: float) -> av.Packet:
        if self._out_origin is None:
            self._out_origin = due
        # The output clock is the viewer's: it runs on through pauses, gaps and speed changes. It
        # counts decode times; the RTP timestamp is the frame's picture time (RFC 6184 5.1), later by
        # its lead, so a B-frame goes out before the frame it is shown after.
        stamp = max(self._last_stamp + 1, round((due - self._out_origin) / VIDEO_CLOCK))
        self._last_stamp = stamp
        stamp += round(frame.lead / self._rate / VIDEO_CLOCK)
        self._position = frame.at
        decoded = frame.at - frame.lead
        if self._last_at is not None and decoded > self._last_at:
            self._step = decoded - self._last_at
        self._last_at = decoded
        self.sent.add(frame)
        if self._on_sent is not None:
            self._on_sent(len(frame.data))
        packet = av.Packet(frame.data)
        packet.pts = stamp
        packet.dts = stamp
        packet.time_base = VIDEO_CLOCK
        return packet

    def stop(self) -> None:
        """No more frames; next_packet() raises MediaStreamError."""
        self._stopped = True
        self._wake.set()

    # -- control ----------------------------------------------------------------------------

    def attach(self, channel: RTCDataChannel) -> None:
        """Take commands from the viewer's "control" channel (other channels are ignored)."""
        if channel.label != CHANNEL_LABEL:
            return
        self._channel = channel
        unsent, self._unsent = list(self._unsent), deque(maxlen=UNSENT_MAX)

        @channel.on("message")
        def _on_message(message: str | bytes) -> None:
            try:
                self.command(message)
            except ControlError as exc:
                self._send(event("error", detail=exc.detail))

        if self.plan.watermark:
            self._send(event("watermark", text=self.plan.watermark))
        for message in unsent:
            self._send(message)
        self._report_position()

    def command(self, message: str | bytes) -> None:
        """Apply one control message (in a group: to every member); ControlError (nothing
        changed) when it is refused."""
        command = parse_command(message)
        if self.group is not None:
            self.group.command(command)  # moves the group's clock, then each member follows
            return
        if isinstance(command, Speed):
            top = self._top_rate
            if not min(MIN_RATE, top) <= command.rate <= top:
                raise ControlError(f"rate must be {min(MIN_RATE, top):g}-{top:g}")
            if self._anchor is not None:
                now = asyncio.get_running_loop().time()
                started, at = self._anchor
                self._anchor = (now, at + (now - started) * self._rate)
        elif isinstance(command, Seek):
            plan = self.plan
            if not plan.start <= command.to < plan.end:
                raise ControlError(f"seek within the authorized window [{iso(plan.start.timestamp())}, "
                                   f"{iso(plan.end.timestamp())})")
        if isinstance(command, Pause | Play | Seek):
            self._anchor = None
        self.follow(command)

    def follow(self, command: Command) -> None:
        """Apply an accepted command to this player's state and tell the viewer where it is."""
        if isinstance(command, Pause):
            self._paused = True
        elif isinstance(command, Play):
            self._paused = False
        elif isinstance(command, Speed):
            self._rate = command.rate
        elif isinstance(command, Seek):
            self._origin = command.to
            self._epoch += 1
            self._pending = None
            self._anchor = None
            self._at_end = None
            self._position = command.to.timestamp()
            self._last_at = None
            self._held = False
            self.sent.seeks += 1
            while not self._queue.empty():
                self._queue.get_nowait()
            if self.sound_queue is not None:
                self.sound_queue.clear()
            self._reseek.set()
        self._wake.set()
        self._report_position()

    # -- telling the viewer ---------------------------------------------------------------

    def _position_event(self) -> str:
        # `sent`: the server's time as the report leaves, so a viewer can carry `at` forward from it
        # whatever the report's delay on the way.
        sent = iso(self._clock.now().timestamp())
        if self.group is None:
            return event("position", at=iso(self._position), rate=self._rate, paused=self._paused, sent=sent)
        # In a group: its id, and where its clock is (a page shows each tile's drift from it).
        clock = self.group.position()
        return event("position", at=iso(self._position), rate=self._rate, paused=self._paused, sent=sent,
                     group=self.group.id, clock=iso(clock), held=self._held)

    def _send(self, message: str, stale_later: bool = False) -> None:
        """Say `message` on the control channel; before it opens, keep it for then (unless it is a
        position report, `stale_later`: a fresh one goes when the channel opens)."""
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            channel.send(message)
        elif channel is None and not stale_later:
            self._unsent.append(message)

    def say_closed(self, reason: str) -> None:
        """Tell the viewer why the server ends the session (before the peer closes)."""
        self._send(event("closed", reason=reason))

    def _report_position(self) -> None:
        self._reported = time.monotonic()
        self._send(self._position_event(), stale_later=True)

    async def _report(self) -> None:
        """Reports while no frame leaves (paused, played out, in a gap); playing, each second's
        report goes as a frame leaves (next_packet)."""
        while True:
            await asyncio.sleep(POSITION_EVERY_S / 4)
            # Playing, the frames report; this one only when none left for twice as long.
            playing = not self._paused and self._at_end is None
            if time.monotonic() - self._reported >= POSITION_EVERY_S * (2 if playing else 1):
                self._report_position()

    async def _watch(self, end_session: Callable[[str], None]) -> None:
        plan = self.plan
        loop = asyncio.get_running_loop()
        began = loop.time()
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            reason: str | None = None
            if plan.expires is not None and self._clock.now() >= plan.expires:
                reason = "the disposition token expired"
            elif plan.max_view_s is not None and loop.time() - began >= plan.max_view_s:
                reason = f"the view's time is used up ({plan.max_view_s:.0f} s)"
            elif plan.revoked is not None:
                try:
                    reason = await plan.revoked()
                except Exception:  # the database may be briefly unreachable: ask again next time
                    log.warning("camera %s: could not check the playback's grant", plan.camera, exc_info=True)
            if reason is None and self._at_end is not None and loop.time() - self._at_end > END_LINGER_S:
                reason = "the window was played to its end"
            if reason is not None:
                self.say_closed(reason)
                end_session(reason)
                return


class PlaybackTrack(MediaStreamTrack):
    """The video track aiortc's sender pulls: H.264 from a Player, packetized, never decoded."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        # Set once the playback is authorized, before the answer leaves: the offer is
        # negotiated first so a malformed one costs a disposition no view.
        self.player: Player | None = None

    async def recv(self) -> av.Packet:  # type: ignore[override]
        """The next access unit, Annex B, pts in 1/90000 s of the viewer's clock."""
        if self.readyState != "live" or self.player is None:
            raise MediaStreamError
        return await self.player.next_packet()

    def stop(self) -> None:
        """End the track and the player's pacing."""
        super().stop()
        if self.player is not None:
            self.player.stop()
