"""The RTSP connections' book: live_start once per session, live_stop at TEARDOWN or close, by whom
the session was started even when the connection's last request did not sign in."""

from __future__ import annotations

import time

from policy.audit.entries import AccessAction, AccessEvent
from restream.clients import ClientBook, Playing
from restream.gate import Viewer


def playing(session: str, fed: list[int]) -> Playing:
    return Playing(session=session, camera="cam", stream="main", transport="tcp", started=time.monotonic(),
                   bytes_at_start=fed[0], bytes_now=lambda: fed[0])


def test_a_session_is_logged_once_and_stopped_with_its_viewer_and_bytes() -> None:
    events: list[AccessEvent] = []
    book = ClientBook(events.append)
    client = object()
    state = book.opened(client, "10.0.0.7")
    fed = [1000]
    book.play(client, playing("s1", fed))  # not signed in: nothing
    assert events == []
    state.viewer = Viewer("nvr")
    book.play(client, playing("s1", fed))
    book.play(client, playing("s1", fed))  # PLAY after PAUSE: the same session
    fed[0] = 5000
    state.viewer = None  # its last request (a keep-alive, a TEARDOWN) did not sign in
    book.closed(client)
    assert [e.action for e in events] == [AccessAction.LIVE_START, AccessAction.LIVE_STOP]
    stop = events[1]
    assert (stop.actor, stop.role, stop.client, stop.camera) == ("nvr", "integrator", "10.0.0.7", "cam")
    assert stop.details["bytes"] == 4000 and stop.details["via"] == "rtsp"
    assert book.get(client) is None and len(book) == 0


def test_teardown_stops_one_session_and_a_reconfigured_camera_says_why() -> None:
    events: list[AccessEvent] = []
    book = ClientBook(events.append)
    one, two = object(), object()
    for client in (one, two):
        book.opened(client, "10.0.0.8").viewer = Viewer("vms")
    fed = [0]
    book.play(one, playing("a", fed))
    book.play(two, playing("b", fed))
    book.stop(one, "a", "teardown")
    assert book.end("cam", "camera reconfigured by an administrator") == [two]
    book.closed(two)
    stops = [e for e in events if e.action is AccessAction.LIVE_STOP]
    assert [(e.details["session"], e.reason) for e in stops] == [
        ("a", "teardown"), ("b", "camera reconfigured by an administrator")]
