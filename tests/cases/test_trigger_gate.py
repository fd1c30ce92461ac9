"""The trigger gate's rule with a hand-turned clock and a fake book (pure logic: bursts, joins, the
rate cap, failures, refusals and what each writes to the log); the real book is in test_triggers.py.
Also the MQTT payload reading and which camera events fire which playbook."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from cases.inputtriggers import InputTriggers
from cases.mqtttriggers import payload_details
from cases.triggers import (
    MAX_BURST_S, NOTE_MAX_CHARS, QUIET_S, REFUSAL_WINDOW_S, TriggerFailed, TriggerGate, clean_details,
)
from core.casesconfig import Playbook
from core.clock import ManualClock
from core.errors import NotFound, Unauthorized
from onvif_adapters.subscription import CameraEvent
from onvif_adapters.topics import EventKind
from policy.audit.entries import AccessAction, AccessEvent, Scalar

KEY = "k" * 24
PLAYBOOKS = [
    Playbook(id="panic", name_id="Tombol panik", trigger_key=KEY, mqtt_topic="site/panic",
             onvif_inputs=[{"camera": "gate"}]),
    Playbook(id="fire", name_id="Kebakaran", trigger_key="f" * 24,
             onvif_inputs=[{"camera": "gate", "source": "DIN_2"}, {"camera": "hall"}]),
    Playbook(id="quiet", name_id="Tanpa pemicu"),
]


class FakeBook:
    """Counts calls; each call waits for `release` (set by default) and may fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Scalar]]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.fail: Exception | None = None

    async def open_emergency(self, playbook_id: str, source: str, details: Mapping[str, Scalar]
                             ) -> tuple[dict[str, Any], bool]:
        self.calls.append((playbook_id, source, dict(details)))
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return {"id": f"case-{playbook_id}", "kind": "emergency"}, len(self.calls) == 1


class Entries:
    """The access log as a list."""

    def __init__(self) -> None:
        self.events: list[AccessEvent] = []

    async def record(self, event: AccessEvent) -> None:
        self.events.append(event)

    def of(self, action: AccessAction) -> list[AccessEvent]:
        return [e for e in self.events if e.action is action]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 9, 7, 0, tzinfo=UTC))


@pytest.fixture
def book() -> FakeBook:
    return FakeBook()


@pytest.fixture
def entries() -> Entries:
    return Entries()


@pytest.fixture
def gate(book: FakeBook, entries: Entries, clock: ManualClock) -> TriggerGate:
    return TriggerGate(PLAYBOOKS, book, entries, clock)


async def test_a_flood_of_concurrent_triggers_calls_the_book_once(gate: TriggerGate, book: FakeBook,
                                                                   entries: Entries, clock: ManualClock) -> None:
    book.release.clear()
    sources = ["http"] * 60 + ["mqtt"] * 30 + ["onvif"] * 10
    flood = [asyncio.ensure_future(gate.fire("panic", s, {"note": "help"}, client="10.0.0.9")) for s in sources]  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert len(book.calls) == 1 and not any(f.done() for f in flood)  # the rest wait for the one in flight
    book.release.set()
    results = await asyncio.gather(*flood)
    assert len(book.calls) == 1
    assert {case["id"] for case, _ in results} == {"case-panic"}
    assert [created for _, created in results].count(True) == 1
    await gate.write_due()
    assert entries.of(AccessAction.TRIGGER_RECEIVED) == []  # the burst is still open
    clock.advance(QUIET_S)
    await gate.write_due()
    (received,) = entries.of(AccessAction.TRIGGER_RECEIVED)
    assert received.details == {"playbook": "panic", "count": 100, "sources": "http=60,mqtt=30,onvif=10",
                                "case": "case-panic", "created": True}
    assert (received.actor, received.client, received.outcome) == ("trigger:http", "10.0.0.9", "ok")


async def test_a_burst_ends_after_a_quiet_spell_or_a_minute_however_busy(gate: TriggerGate, book: FakeBook,
                                                                          entries: Entries, clock: ManualClock) -> None:
    await gate.fire("panic", "http", {})
    clock.advance(QUIET_S - 0.1)
    await gate.fire("panic", "http", {})
    assert len(book.calls) == 1  # joined: within the quiet spell of the last one
    clock.advance(QUIET_S)
    await gate.fire("panic", "http", {})
    assert len(book.calls) == 2  # a new burst: the book decides (dedup_s) whether it joins the case
    # A trigger every second never leaves a quiet spell: one book call a minute all the same.
    for _ in range(int(MAX_BURST_S) + 5):
        clock.advance(1.0)
        await gate.fire("panic", "mqtt", {})
    assert len(book.calls) == 3
    await gate.write_due()
    counts = [e.details["count"] for e in entries.of(AccessAction.TRIGGER_RECEIVED)]
    assert counts == [2, 60]  # the third burst is still open
    other = await gate.fire("fire", "onvif", {"camera": "hall"})
    assert other[0]["id"] == "case-fire" and len(book.calls) == 4  # playbooks do not share bursts


async def test_a_failed_book_call_fails_its_joiners_and_the_next_trigger_tries_again(
    gate: TriggerGate, book: FakeBook, entries: Entries
) -> None:
    book.release.clear()
    book.fail = RuntimeError("database is down: postgresql://pantau:secret@db/pantau")
    flood = [asyncio.ensure_future(gate.fire("panic", "http", {})) for _ in range(5)]
    await asyncio.sleep(0)
    book.release.set()
    results = await asyncio.gather(*flood, return_exceptions=True)
    assert all(isinstance(r, TriggerFailed) and r.status == 503 for r in results)
    assert all("secret" not in str(r) for r in results)  # the cause is in the process log only
    book.fail = None
    case, created = await gate.fire("panic", "http", {})
    assert len(book.calls) == 2 and case["id"] == "case-panic"
    await gate.write_due(stopping=True)
    failed, ok = entries.of(AccessAction.TRIGGER_RECEIVED)
    assert (failed.outcome, failed.details["count"], failed.details["case"]) == ("error", 5, None)
    assert ok.outcome == "ok" and ok.details["count"] == 1


async def test_an_interrupted_leader_fails_its_joiners_instead_of_cancelling_them(
    gate: TriggerGate, book: FakeBook
) -> None:
    book.release.clear()
    leader = asyncio.ensure_future(gate.fire("panic", "mqtt", {}))
    await asyncio.sleep(0)
    joiner = asyncio.ensure_future(gate.fire("panic", "http", {}))
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    with pytest.raises(TriggerFailed, match="interrupted"):
        await joiner
    book.release.set()
    assert (await gate.fire("panic", "http", {}))[0]["id"] == "case-panic"


async def test_a_playbook_fires_only_from_the_sources_it_names(gate: TriggerGate, book: FakeBook,
                                                               entries: Entries) -> None:
    for playbook, source in [("nope", "http"), ("quiet", "http"), ("quiet", "onvif"), ("fire", "mqtt")]:
        with pytest.raises(NotFound):
            await gate.fire(playbook, source, {}, client=f"{playbook}-{source}")  # type: ignore[arg-type]
    assert book.calls == []
    assert [(e.client, e.outcome, e.details["count"]) for e in entries.of(AccessAction.TRIGGER_REFUSED)] == [
        ("nope-http", "deny", 1), ("quiet-http", "deny", 1), ("quiet-onvif", "deny", 1), ("fire-mqtt", "deny", 1)]


async def test_keys_are_checked_and_never_logged(gate: TriggerGate, entries: Entries) -> None:
    assert (await gate.check_key("panic", KEY, "10.0.0.1")).id == "panic"
    for playbook, key, error, client in [("panic", None, Unauthorized, "a"), ("panic", KEY[:-1] + "x", Unauthorized, "b"),
                                         ("panic", "f" * 24, Unauthorized, "c"), ("panic", "ü" * 24, Unauthorized, "d"),
                                         ("quiet", KEY, NotFound, "e"), ("nope", KEY, NotFound, "f")]:
        with pytest.raises(error):
            await gate.check_key(playbook, key, client)
    refused = entries.of(AccessAction.TRIGGER_REFUSED)
    assert [e.reason for e in refused] == [
        "no trigger key given", "wrong trigger key", "wrong trigger key", "wrong trigger key",
        "no playbook 'quiet' takes HTTP triggers", "no playbook 'nope' takes HTTP triggers"]
    assert KEY not in repr(entries.events) and "f" * 24 not in repr(entries.events)


async def test_refusals_are_logged_once_a_minute_per_client_with_a_count(gate: TriggerGate, entries: Entries,
                                                                        clock: ManualClock) -> None:
    for _ in range(50):
        with pytest.raises(Unauthorized):
            await gate.check_key("panic", "wrong", "10.0.0.66")
    with pytest.raises(Unauthorized):
        await gate.check_key("panic", "wrong", "10.0.0.77")  # another client: its own entry
    assert [(e.client, e.details["count"]) for e in entries.of(AccessAction.TRIGGER_REFUSED)] == [
        ("10.0.0.66", 1), ("10.0.0.77", 1)]
    clock.advance(REFUSAL_WINDOW_S)
    await gate.write_due()
    assert len(entries.of(AccessAction.TRIGGER_REFUSED)) == 2  # held back: a later refusal carries them
    for _ in range(10):
        with pytest.raises(Unauthorized):
            await gate.check_key("panic", None, "10.0.0.66")
    # The first of the new minute, carrying the 49 held back: one entry a minute however long it goes on.
    assert [(e.client, e.details["count"]) for e in entries.of(AccessAction.TRIGGER_REFUSED)][2:] == [("10.0.0.66", 50)]
    clock.advance(2 * REFUSAL_WINDOW_S)
    await gate.write_due()  # the flood stopped: the 9 held back are written on their own
    last = entries.of(AccessAction.TRIGGER_REFUSED)[3:]
    assert [(e.client, e.details["count"], e.reason) for e in last] == [("10.0.0.66", 9, "no trigger key given")]
    await gate.write_due(stopping=True)
    assert len(entries.events) == 4


async def test_run_writes_what_is_open_when_it_stops(gate: TriggerGate, entries: Entries) -> None:
    task = asyncio.ensure_future(gate.run())
    await gate.fire("panic", "http", {})
    with pytest.raises(Unauthorized):
        await gate.check_key("panic", "x", "10.0.0.5")
    with pytest.raises(Unauthorized):
        await gate.check_key("panic", "y", "10.0.0.5")
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [(e.action, e.details["count"]) for e in entries.events] == [
        (AccessAction.TRIGGER_REFUSED, 1), (AccessAction.TRIGGER_RECEIVED, 1), (AccessAction.TRIGGER_REFUSED, 1)]


def test_details_are_cut_to_size() -> None:
    details = clean_details({"note": "n" * 10_000, "location": "l" * 900, "topic": "t" * 900, "source": "x",
                             "count": 3, **{f"k{i}": i for i in range(40)}})
    assert len(str(details["note"])) == NOTE_MAX_CHARS and len(str(details["location"])) == 500
    assert len(str(details["topic"])) == 256 and "source" not in details and len(details) < 20


@pytest.mark.parametrize(("payload", "details"), [
    (b"", {}),
    (b"  PANIC at gate 3 \n", {"note": "PANIC at gate 3"}),
    (b'{"note": "smoke", "location": "hall B", "extra": 1}', {"note": "smoke", "location": "hall B"}),
    (b'{"button": 7}', {"note": '{"button": 7}'}),
    (b"[1, 2]", {"note": "[1, 2]"}),
    (b"\xff\xfepress", {"note": "\ufffd\ufffdpress"}),
    (b"x" * 10_000, {"note": "x" * 4096}),
])
def test_mqtt_payloads_are_read_leniently(payload: bytes, details: dict[str, str]) -> None:
    assert payload_details(payload) == details


def event(camera: str = "gate", kind: EventKind = EventKind.DIGITAL_INPUT, active: bool = True,
          initial: bool = False, token: str = "DIN_1") -> CameraEvent:
    return CameraEvent(camera=camera, kind=kind, active=active, at=datetime(2026, 3, 9, tzinfo=UTC),
                       topic="tns1:Device/Trigger/DigitalInput", source={"InputToken": token},
                       data={"LogicalState": str(active).lower()}, initial=initial)


@pytest.mark.parametrize(("camera_event", "fired"), [
    (event(), ["panic"]),
    (event(token="DIN_2"), ["panic", "fire"]),
    (event(camera="hall"), ["fire"]),
    (event(camera="lobby"), []),
    (event(active=False), []),
    (event(initial=True), []),  # its state at subscription, not a press
    (event(kind=EventKind.MOTION), []),
    (event(kind=EventKind.TAMPER), []),
])
def test_an_active_digital_input_of_a_named_camera_fires_its_playbooks(camera_event: CameraEvent,
                                                                       fired: list[str]) -> None:
    inputs = InputTriggers(PLAYBOOKS, TriggerGate(PLAYBOOKS, FakeBook(), Entries(), ManualClock()))
    assert inputs.playbooks_for(camera_event) == fired


async def test_an_input_fires_the_gate_with_the_camera_and_its_input(gate: TriggerGate, book: FakeBook,
                                                                     entries: Entries) -> None:
    await InputTriggers(PLAYBOOKS, gate).on_event(event(token="DIN_2"))
    assert book.calls == [
        ("panic", "onvif", {"camera": "gate", "topic": "tns1:Device/Trigger/DigitalInput", "input_InputToken": "DIN_2"}),
        ("fire", "onvif", {"camera": "gate", "topic": "tns1:Device/Trigger/DigitalInput", "input_InputToken": "DIN_2"}),
    ]
    await gate.write_due(stopping=True)
    assert {(e.camera, e.client) for e in entries.of(AccessAction.TRIGGER_RECEIVED)} == {("gate", "camera:gate")}
