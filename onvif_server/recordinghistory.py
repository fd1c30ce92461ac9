"""A recording's history as Profile G tells it: the spans its sealed segments cover, and the
`tns1:RecordingHistory` state changes FindEvents answers for them (pure logic, no I/O).

A span is a run of segments each starting within `TOUCHING` of the previous one's end; anything
wider is a gap, whatever the recorder wrote in recording_gaps (a gap it never noted, e.g. segments
deleted by retention in the middle of a hold, is a gap all the same).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree

from onvif_server.soap import WSNT, el

TNS1 = "http://www.onvif.org/ver10/topics"
DIALECT = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
#: Segments whose end and next start are this close are one span: the muxer's timestamps round to
#: the millisecond, so back-to-back segments of one chain can sit a fraction of one apart.
TOUCHING = timedelta(milliseconds=1)
#: The recording's one track (GetRecordingInformation lists it as `video`).
TRACK = "video"


class Topic(enum.StrEnum):
    """The two history topics (ONVIF Recording Search spec, 'Recording event descriptions')."""

    TRACK_STATE = "tns1:RecordingHistory/Track/State"
    RECORDING_STATE = "tns1:RecordingHistory/Recording/State"


@dataclass(frozen=True)
class Span:
    """Time covered by sealed segments without a gap, [start, end)."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class HistoryEvent:
    """A state change (or, `start_state`, the virtual event giving the state where the search starts)."""

    at: datetime
    present: bool
    start_state: bool = False


def spans_of(periods: Iterable[tuple[datetime, datetime]], touching: timedelta = TOUCHING) -> list[Span]:
    """The spans covered by `periods` (start, end), oldest first; overlapping or touching ones merged."""
    spans: list[Span] = []
    for start, end in sorted(periods):
        if spans and start - spans[-1].end <= touching:
            if end > spans[-1].end:
                spans[-1] = Span(spans[-1].start, end)
        else:
            spans.append(Span(start, end))
    return spans


def history(spans: list[Span], lo: datetime, hi: datetime, *, recorded_until: datetime | None = None,
            state_at: datetime | None = None) -> list[HistoryEvent]:
    """The changes within [lo, hi], oldest first: data present at each span's start, absent at each
    gap's start. `recorded_until`: the recording goes on past the last sealed segment, which ends
    there (the segment being written covers the time after it), so that end is no gap. `state_at`:
    add the start-state event for that time (unless a real change happens right then)."""
    events: list[HistoryEvent] = []
    for span in spans:
        if lo <= span.start <= hi:
            events.append(HistoryEvent(span.start, True))
        still_recording = recorded_until is not None and span.end >= recorded_until - TOUCHING
        if lo <= span.end <= hi and not still_recording:
            events.append(HistoryEvent(span.end, False))
    if state_at is not None and all(e.at != state_at for e in events):
        events.append(HistoryEvent(state_at, present_at(spans, state_at, recorded_until), start_state=True))
    return sorted(events, key=lambda e: e.at)


def present_at(spans: list[Span], when: datetime, recorded_until: datetime | None = None) -> bool:
    """Whether recorded data covers `when`."""
    if recorded_until is not None and when >= recorded_until:
        return True
    return any(s.start <= when < s.end for s in spans)


def _utc(value: datetime) -> str:
    text = value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return f"{text}Z"


def _message(topic: Topic, at: datetime, source: list[tuple[str, str]], data: tuple[str, bool],
             start_state: bool) -> etree._Element:
    message = el("tt:Message",
                 el("tt:Source", *(el("tt:SimpleItem", Name=n, Value=v) for n, v in source)),
                 el("tt:Data", el("tt:SimpleItem", Name=data[0], Value="true" if data[1] else "false")),
                 UtcTime=_utc(at), PropertyOperation="Initialized" if start_state else "Changed")
    topic_node = etree.Element(f"{{{WSNT}}}Topic", nsmap={"tns1": TNS1})
    topic_node.set("Dialect", DIALECT)
    topic_node.text = topic.value
    return el("tt:Event", topic_node, el("wsnt:Message", message))


def event_results(recording: str, event: HistoryEvent) -> list[etree._Element]:
    """tt:Result (FindEventResult) elements for one change: the recording's state, then its track's."""
    recording_state = _message(Topic.RECORDING_STATE, event.at, [("RecordingToken", recording)],
                               ("IsRecording", event.present), event.start_state)
    track_state = _message(Topic.TRACK_STATE, event.at, [("RecordingToken", recording), ("Track", TRACK)],
                           ("IsDataPresent", event.present), event.start_state)
    return [
        el("tt:Result", el("tt:RecordingToken", recording), el("tt:TrackToken", track), el("tt:Time", _utc(event.at)),
           node, el("tt:StartStateEvent", event.start_state))
        for track, node in (("", recording_state), (TRACK, track_state))
    ]
