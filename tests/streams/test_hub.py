"""StreamHub: fan-out, drop-oldest with counts, GOP start for late joiners, bounded memory."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from typing import Any

import pytest

from streams.hub import GOP_MAX_PACKETS, StreamHub, Subscription
from streams.packet import MediaPacket, StreamChange, StreamInfo

VIDEO = StreamInfo(index=0, kind="video", codec="h264", time_base=Fraction(1, 90000), width=640, height=360)
AUDIO = StreamInfo(
    index=1, kind="audio", codec="aac", time_base=Fraction(1, 48000), sample_rate=48000, channels=1
)


def packet(n: int, key: bool = False, stream: int = 0, size: int = 100) -> MediaPacket:
    return MediaPacket(
        stream=stream,
        data=bytes([n % 256]) * size,
        pts=n * 3600,
        dts=n * 3600,
        is_keyframe=key,
        received=float(n),
        wallclock=float(n),
    )


def gop(start: int, length: int) -> list[MediaPacket]:
    return [packet(start + i, key=(i == 0)) for i in range(length)]


def drain(sub: Subscription) -> list[Any]:
    """Everything queued, without waiting (Any: tests index packets and changes alike)."""
    out: list[Any] = []
    while (item := sub._next_nowait()) is not None:
        out.append(item)
    return out


async def test_fan_out_to_every_subscriber_in_order() -> None:
    hub = StreamHub("cam", 64)
    hub.set_streams((VIDEO,))
    a, b = hub.subscribe("a"), hub.subscribe("b")
    packets = gop(0, 10)
    for p in packets:
        hub.publish(p)
    for sub in (a, b):
        items = [await sub.get() for _ in range(11)]
        assert items[0] == StreamChange((VIDEO,))
        assert items[1:] == packets
    assert hub.subscriber_count == 2


async def test_new_subscriber_starts_with_streams_then_cached_gop() -> None:
    hub = StreamHub("cam", 64)
    hub.set_streams((VIDEO, AUDIO))
    for p in gop(0, 50) + gop(50, 7):
        hub.publish(p)
    hub.publish(packet(57, stream=1))
    async with hub.subscribe("late") as sub:
        first = await sub.get()
        assert first == StreamChange((VIDEO, AUDIO))
        items = drain(sub)
        assert items[0].is_keyframe and items[0].pts == 50 * 3600
        assert [p.pts for p in items] == [n * 3600 for n in range(50, 58)]
        hub.publish(packet(58))
        assert await sub.get() == packet(58)
    assert hub.subscriber_count == 0
    assert hub.latest_keyframe() == packet(50, key=True)


async def test_subscriber_before_connect_sees_no_change_until_streams_set() -> None:
    hub = StreamHub("cam", 16)
    sub = hub.subscribe("early")
    assert drain(sub) == []
    hub.set_streams((VIDEO,))
    hub.publish(packet(0, key=True))
    hub.set_streams((), "stalled: no packet for 2 s")
    assert drain(sub) == [
        StreamChange((VIDEO,)),
        packet(0, key=True),
        StreamChange((), "stalled: no packet for 2 s"),
    ]
    assert hub.latest_keyframe() is None and hub.streams == ()
    sub.close()


async def test_full_queue_drops_oldest_and_counts() -> None:
    hub = StreamHub("cam", 8)
    hub.set_streams((VIDEO,))
    slow = hub.subscribe("slow")
    fast = hub.subscribe("fast", maxsize=1000)
    for p in gop(0, 20):
        hub.publish(p)
    # The StreamChange waits in the join backlog; 20 live packets into 8 slots drop 12.
    assert slow.qsize() == 1 + 8
    assert slow.dropped == 12
    assert hub.dropped_total == 12
    assert fast.dropped == 0
    items = drain(slow)
    assert items[0] == StreamChange((VIDEO,))
    # The rest are P-frames whose references were dropped: skipped until a keyframe, counted.
    assert items[1:] == []
    assert slow.dropped == 20
    hub.publish(packet(20, key=True))
    hub.publish(packet(21))
    assert [p.pts for p in drain(slow)] == [20 * 3600, 21 * 3600]
    assert len(drain(fast)) == 1 + 22 and fast.dropped == 0


async def test_drop_oldest_for_audio_without_resync() -> None:
    hub = StreamHub("cam", 8)
    hub.set_streams((VIDEO, AUDIO))
    sub = hub.subscribe("s")
    for n in range(100):
        hub.publish(packet(n, stream=1))
    items = drain(sub)
    assert items[0] == StreamChange((VIDEO, AUDIO))
    assert [p.pts for p in items[1:]] == [n * 3600 for n in range(92, 100)]
    assert sub.dropped == 92


async def test_memory_is_bounded_for_a_reader_that_never_reads() -> None:
    hub = StreamHub("cam", 32)
    hub.set_streams((VIDEO,))
    subs = [hub.subscribe(f"s{i}") for i in range(3)]
    # One endless GOP: the cache must give up instead of growing.
    hub.publish(packet(0, key=True))
    for n in range(1, 5000):
        hub.publish(packet(n))
    assert all(s.qsize() <= 32 + 1 for s in subs)  # + the StreamChange from joining
    assert len(hub._gop) <= GOP_MAX_PACKETS
    late = hub.subscribe("late")
    assert drain(late) == [StreamChange((VIDEO,))]  # waits for the next keyframe
    hub.publish(packet(5000, key=True))
    assert drain(late)[0].pts == 5000 * 3600


async def test_big_gop_bytes_cap() -> None:
    hub = StreamHub("cam", 16)
    hub.set_streams((VIDEO,))
    hub.publish(packet(0, key=True, size=4 * 1024 * 1024))
    hub.publish(packet(1, size=3 * 1024 * 1024))
    hub.publish(packet(2, size=3 * 1024 * 1024))
    assert hub._gop == [] and hub.latest_keyframe() is not None


async def test_waiting_reader_wakes_on_publish_and_on_close() -> None:
    hub = StreamHub("cam", 16)
    hub.set_streams((VIDEO,))
    sub = hub.subscribe("w")
    assert isinstance(await sub.get(), StreamChange)
    task = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    hub.publish(packet(0, key=True))
    assert await asyncio.wait_for(task, 1) == packet(0, key=True)
    received: list[object] = []

    async def consume() -> None:
        async for item in sub:
            received.append(item)

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0)
    sub.close()
    await asyncio.wait_for(consumer, 1)
    assert received == [] and hub.subscriber_count == 0


@pytest.mark.parametrize("maxsize", [8, 100])
async def test_async_iteration_sees_every_packet_when_keeping_up(maxsize: int) -> None:
    hub = StreamHub("cam", maxsize)
    hub.set_streams((VIDEO,))
    got: list[int | None] = []

    async def reader() -> None:
        async with hub.subscribe("r") as sub:
            async for item in sub:
                if isinstance(item, MediaPacket):
                    got.append(item.pts)
                    if len(got) == 200:
                        return

    task = asyncio.create_task(reader())
    await asyncio.sleep(0)
    for p in gop(0, 50) * 4:
        hub.publish(p)
        await asyncio.sleep(0)
    await asyncio.wait_for(task, 2)
    assert len(got) == 200 and hub.dropped_total == 0


async def test_lossy_subscriber_drops_are_not_in_the_hub_total() -> None:
    hub = StreamHub("cam", 8)
    hub.set_streams((VIDEO,))
    sampler = hub.subscribe("health", maxsize=4, lossy=True)
    for p in gop(0, 20):
        hub.publish(p)
    assert sampler.dropped == 16 and hub.dropped_total == 0


def test_a_keyframes_only_subscriber_gets_changes_and_keyframes_and_nothing_else() -> None:
    hub = StreamHub("cam", 64)
    hub.set_streams((VIDEO, AUDIO))
    for p in gop(0, 5):
        hub.publish(p)
    sampler = hub.subscribe("health", keyframes_only=True)
    everything = hub.subscribe("viewer")
    assert hub.subscriber_count == 2
    published = [*gop(5, 4), packet(9, stream=1), *gop(10, 3)]
    for p in published:
        hub.publish(p)
    hub.set_streams((), "camera went away")
    got = drain(sampler)
    # Joined mid-GOP: the streams and the latest keyframe; then only keyframes and changes.
    assert got == [StreamChange((VIDEO, AUDIO)), packet(0, key=True), packet(5, key=True), packet(10, key=True),
                   StreamChange((), "camera went away")]
    assert drain(everything)[-len(published) - 1:] == [*published, StreamChange((), "camera went away")]
    sampler.close()
    everything.close()
    assert hub.subscriber_count == 0
