"""The span and gap arithmetic behind FindEvents (onvif_server/recordinghistory.py), on hand-made segments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from onvif_server.recordinghistory import HistoryEvent, Span, event_results, history, present_at, spans_of
from onvif_server.soap import el
from tests.onvif_server.schemas import schema_of

T = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)


def at(s: float) -> datetime:
    return T + timedelta(seconds=s)


def segs(*pairs: tuple[float, float]) -> list[tuple[datetime, datetime]]:
    return [(at(a), at(b)) for a, b in pairs]


@pytest.mark.parametrize(("segments", "spans"), [
    ([], []),
    (segs((0, 2)), [(0, 2)]),
    (segs((0, 2), (2, 4), (4, 6)), [(0, 6)]),  # back to back
    (segs((0, 2), (2.0009, 4)), [(0, 4)]),  # under a millisecond apart: touching
    (segs((0, 2), (2.002, 4)), [(0, 2), (2.002, 4)]),  # two milliseconds: a gap
    (segs((4, 6), (0, 2), (2, 4)), [(0, 6)]),  # order does not matter
    (segs((0, 5), (1, 3)), [(0, 5)]),  # a segment inside another
    (segs((0, 2), (10, 12), (12, 14), (30, 32)), [(0, 2), (10, 14), (30, 32)]),
])
def test_spans_merge_touching_segments(segments: list[tuple[datetime, datetime]],
                                       spans: list[tuple[float, float]]) -> None:
    assert spans_of(segments) == [Span(at(a), at(b)) for a, b in spans]


SPANS = spans_of(segs((0, 2), (2, 4), (10, 12), (12, 14), (30, 32)))


@pytest.mark.parametrize(("lo", "hi", "recorded_until", "state_at", "expected"), [
    # The whole history of a recording that stopped: data from 0, gaps from 4 and 14, the end at 32.
    (-5, 40, None, None, [(0, True), (4, False), (10, True), (14, False), (30, True), (32, False)]),
    # Still recording: the newest sealed segment's end (32) is no gap: the next segment is being written.
    (-5, 40, 32, None, [(0, True), (4, False), (10, True), (14, False), (30, True)]),
    # A window inside the first gap and the second span: only the changes within it.
    (5, 13, None, None, [(10, True)]),
    # Boundaries count: a change exactly at either end is in.
    (4, 10, None, None, [(4, False), (10, True)]),
    # The start state: data present at 11 (inside a span), absent at 20 (inside a gap).
    (11, 20, None, 11, [(11, True, "start"), (14, False)]),
    (20, 40, 32, 20, [(20, False, "start"), (30, True)]),
    # No virtual event where a real change happens at that very time.
    (10, 12, None, 10, [(10, True)]),
    # Before any recording, data is absent; past a recording that goes on, present.
    (-10, -5, None, -10, [(-10, False, "start")]),
    (40, 50, 32, 40, [(40, True, "start")]),
])
def test_history_of_spans_and_gaps(lo: float, hi: float, recorded_until: float | None, state_at: float | None,
                                   expected: list[tuple[float, bool] | tuple[float, bool, str]]) -> None:
    events = history(SPANS, at(lo), at(hi), recorded_until=at(recorded_until) if recorded_until is not None else None,
                     state_at=at(state_at) if state_at is not None else None)
    assert events == [HistoryEvent(at(e[0]), e[1], len(e) == 3) for e in expected]


@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(1, 50)), max_size=30))
def test_history_alternates_and_agrees_with_coverage(raw: list[tuple[int, int]]) -> None:
    """Whatever the segments (on a 10 ms grid, so two of them either touch or are a real gap apart):
    the changes alternate present/absent starting with present, and each tells the truth just after it."""
    segments = [(at(a / 100), at((a + n) / 100)) for a, n in raw]
    spans = spans_of(segments)
    events = history(spans, at(-1), at(20))
    assert [e.present for e in events] == [i % 2 == 0 for i in range(len(events))]
    for start, end in segments:
        assert present_at(spans, start) and present_at(spans, start + (end - start) / 2)
    for event in events:
        just_after = event.at + timedelta(milliseconds=5)
        assert any(s <= just_after < e for s, e in segments) is event.present


def test_event_results_are_valid_find_event_results() -> None:
    results = event_results("rec_gate", HistoryEvent(at(1.5), False))
    holder = el("tse:GetEventSearchResultsResponse", el("tse:ResultList", el("tt:SearchState", "Completed"), *results))
    schema = schema_of("search.wsdl")
    assert schema.validate(etree.ElementTree(holder)), schema.error_log.last_error
    ns = {"tt": "http://www.onvif.org/ver10/schema", "wsnt": "http://docs.oasis-open.org/wsn/b-2"}
    recording, track = results
    assert [r.findtext("tt:TrackToken", namespaces=ns) for r in results] == ["", "video"]
    assert track.findtext("tt:Event/wsnt:Topic", namespaces=ns) == "tns1:RecordingHistory/Track/State"
    assert recording.findtext("tt:Event/wsnt:Topic", namespaces=ns) == "tns1:RecordingHistory/Recording/State"
    data = track.find("tt:Event/wsnt:Message/tt:Message/tt:Data/tt:SimpleItem", ns)
    assert data is not None and (data.get("Name"), data.get("Value")) == ("IsDataPresent", "false")
    assert track.findtext("tt:Time", namespaces=ns) == "2026-12-05T06:00:01.500Z"
