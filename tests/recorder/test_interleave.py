"""recorder.interleave: each audio packet goes into the segment its middle falls in, whatever order
the camera's packets arrive in and however late the encoder hands out its frames (pure logic)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recorder.interleave import MAX_WAIT_S, AudioInterleaver, Preroll, audio_length

FRAME = 0.064  # a 16 kHz AAC frame


class Segments:
    """Runs steps like the mux thread: "seal" ends the open segment, "open" starts one, anything
    else is a packet written into the open one."""

    def __init__(self) -> None:
        self.files: list[list[str]] = []
        self.open = False

    def run(self, item: str) -> None:
        if item == "seal":
            assert self.open, "sealed with no segment open"
            self.open = False
        elif item == "open":
            assert not self.open, "opened while one is open"
            self.files.append([])
            self.open = True
        else:
            assert self.open, f"{item} written with no segment open"
            self.files[-1].append(item)


def fresh() -> tuple[Segments, AudioInterleaver[str]]:
    segments = Segments()
    interleaver: AudioInterleaver[str] = AudioInterleaver(segments.run)
    interleaver.step("open")
    return segments, interleaver


def aac(interleaver: AudioInterleaver[str], start: float) -> None:
    interleaver.audio(f"a{start:.3f}", 1, start + FRAME / 2, start + FRAME * 1.5)


def test_a_cut_waits_for_the_audio_before_it_and_audio_after_it_goes_in_the_next_segment() -> None:
    segments, il = fresh()
    il.step("v0.00", 0.0)
    aac(il, 0.0)
    il.step("v1.96", 1.96)
    il.cut("seal", 2.0)  # the keyframe at 2.0 cuts
    il.step("open")
    il.step("v2.00", 2.0)
    assert il.holding == 3  # the encoder still owes the audio up to 2.0
    aac(il, 1.92)  # middle 1.952: before the cut; the next one's (2.016) is after it: the cut runs
    assert segments.files == [["v0.00", "v1.96", "a0.000", "a1.920"], ["v2.00"]]
    assert il.holding == 0
    aac(il, 1.984)  # middle 2.016: ahead of the picture, until the next frame
    il.step("v2.04", 2.04)
    assert segments.files == [["v0.00", "v1.96", "a0.000", "a1.920"], ["v2.00", "v2.04", "a1.984"]]


def test_audio_ahead_of_the_picture_waits_for_the_keyframe_that_may_cut_before_it() -> None:
    segments, il = fresh()
    il.step("v1.96", 1.96)
    aac(il, 1.984)  # arrives before the keyframe at 2.0; its middle (2.016) is after it
    assert segments.files == [["v1.96"]]
    il.cut("seal", 2.0)
    il.step("open")
    il.step("v2.00", 2.0)
    assert segments.files == [["v1.96"], ["v2.00"]]  # and it still waits: the video is not at 2.016 yet
    il.step("v2.04", 2.04)
    assert segments.files == [["v1.96"], ["v2.00", "v2.04", "a1.984"]]


def test_audio_ahead_of_the_picture_whose_middle_is_the_cut_goes_in_the_next_segment() -> None:
    """A frame whose middle is the cut itself belongs after it: it waits for the open after the cut
    and the keyframe, not run between the seal and the open (into no segment)."""
    segments, il = fresh()
    il.step("v0.76", 0.76)
    aac(il, 0.704)  # middle 0.736
    aac(il, 0.768)  # middle 0.8: the keyframe's own time, ahead of it
    il.cut("seal", 0.8)
    assert segments.files == [["v0.76", "a0.704"]] and segments.open  # the seal waits for a0.768
    il.step("open")
    il.step("v0.80", 0.8)
    assert segments.files == [["v0.76", "a0.704"], ["v0.80", "a0.768"]]
    assert il.holding == 0


def test_a_stream_that_stops_holds_a_cut_for_max_wait_then_no_more() -> None:
    segments, il = fresh()
    aac(il, 0.0)
    il.step("v0.50", 0.5)
    il.cut("seal", 1.0)
    il.step("open")
    il.step("v1.00", 1.0)
    il.step("v1.90", 1.0 + MAX_WAIT_S - 0.1)
    assert len(segments.files) == 1  # still waiting for the audio
    il.step("v2.10", 1.0 + MAX_WAIT_S + 0.1)
    assert segments.files == [["v0.50", "a0.000"], ["v1.00", "v1.90", "v2.10"]]
    assert il.gave_up == 1
    il.cut("seal", 3.0)  # the silent stream holds the next cut no more
    il.step("open")
    assert len(segments.files) == 3


def test_a_transcoder_with_input_but_no_output_yet_holds_the_cut() -> None:
    segments, il = fresh()
    il.progress(1, 0.032)  # took its first input: its first frame will have its middle at 0.032
    il.step("v0.00", 0.0)
    il.cut("seal", 0.04)
    il.step("open")
    assert segments.files == [["v0.00"]] and il.holding == 2
    il.audio("a0.000", 1, 0.032, 0.096)
    assert segments.files == [["v0.00", "a0.000"], []]


def test_flush_runs_what_is_held_and_drops_audio_after_the_last_video_frame() -> None:
    segments, il = fresh()
    il.step("v0.00", 0.0)
    il.step("v0.04", 0.04)  # the last frame ends at 0.08
    aac(il, 0.0)  # middle 0.032
    aac(il, 0.064)  # middle 0.096: after the picture ended
    il.flush()
    il.step("seal")
    assert segments.files == [["v0.00", "v0.04", "a0.000"]]
    assert il.dropped == 1


def test_clear_forgets_everything() -> None:
    segments, il = fresh()
    il.progress(1, 0.032)
    il.cut("seal", 0.04)
    il.step("open")
    il.step("v0.1", 0.1)
    aac(il, 5.0)
    assert il.holding == 4
    il.clear()  # the segment failed: the mux thread drops it
    assert il.holding == 0
    il.step("v0.2", 0.2)
    aac(il, 0.15)
    il.cut("seal", 0.3)
    aac(il, 0.25)  # middle 0.282, the next one's after the cut: it runs, then the cut
    assert segments.files == [["v0.2", "a0.150", "a0.250"]] and not segments.open


# Where a cut may fall: anywhere, or on a video frame, which is also where some AAC frames have their
# middle (0.032 * (2k + 1) == 0.04 * n every 0.16 s): such a frame belongs after the cut.
CUTS = st.one_of(st.floats(0.2, 6.0), st.integers(5, 150).map(lambda n: round(n * 0.04, 6)))


@given(
    cuts=st.lists(CUTS, min_size=1, max_size=4, unique=True),
    lag=st.floats(0.0, 0.5),
    early=st.floats(0.0, 0.9),
)
def test_every_frame_lands_where_its_middle_is(cuts: list[float], lag: float, early: float) -> None:
    """Video every 40 ms, AAC frames every 64 ms arriving `lag` late (an encoder) or `early` ahead of
    the picture (the network): each frame lands in the segment its middle falls in, and every frame
    that plays while the picture does lands in one."""
    segments, il = fresh()
    il.progress(1, FRAME / 2)  # the encoder took its first input: its first frame is owed
    cuts = sorted(cuts)
    frames = [round(i * FRAME, 6) for i in range(int(7.0 / FRAME))]
    events: list[tuple[float, str, float]] = [(round(i * 0.04, 6), "v", round(i * 0.04, 6)) for i in range(175)]
    events += [(f + FRAME - early + lag, "a", f) for f in frames]
    events.sort()
    done = 0
    for _, kind, at in events:
        if kind == "v":
            while done < len(cuts) and cuts[done] <= at:
                il.cut("seal", cuts[done])
                il.step("open")
                done += 1
            il.step(f"v{at:.3f}", at)
        else:
            aac(il, at)
    il.flush()
    il.step("seal")
    assert len(segments.files) == done + 1 and not segments.open
    bounds = [0.0, *cuts[:done], 7.0]
    written: list[str] = []
    for number, content in enumerate(segments.files):
        for item in content:
            middle = float(item[1:]) + (FRAME / 2 if item.startswith("a") else 0.0)
            assert bounds[number] <= middle < bounds[number + 1], (item, number)
        written += [item for item in content if item.startswith("a")]
    # The picture ends at 7.0 (its last frame, 6.96, lasts 40 ms): the sound after it lies in the gap.
    heard = [f"a{f:.3f}" for f in frames if f + FRAME / 2 < 7.0]
    assert sorted(written) == sorted(heard) and il.dropped == len(frames) - len(heard)


@pytest.mark.parametrize(
    ("codec", "rate", "channels", "size", "expected"),
    [
        ("pcm_alaw", 8000, 1, 160, 0.02),
        ("pcm_mulaw", 8000, 1, 1024, 0.128),
        ("pcm_s16be", 16000, 2, 640, 0.01),
        ("aac", 16000, 1, 300, 0.064),
        ("opus", 48000, 1, 100, None),  # its length is in the packet, not in its size
        ("pcm_alaw", 0, 1, 160, None),
    ],
)
def test_audio_length(codec: str, rate: int, channels: int, size: int, expected: float | None) -> None:
    assert audio_length(codec, rate, channels, size) == (pytest.approx(expected) if expected else None)


def test_preroll_keeps_what_plays_after_the_first_frame() -> None:
    preroll: Preroll[str] = Preroll()
    preroll.hold("a0", 1, 0.0, 0.128)  # middle 0.064
    preroll.hold("b0", 2, 0.0, None)  # unknown lengths: the step to the next of its stream
    preroll.hold("a1", 1, 0.128, 0.128)
    preroll.hold("b1", 2, 0.02, None)  # the last: as long as the one before (20 ms)
    assert preroll.take(0.025) == ["a0", "a1", "b1"]  # b0's middle is 0.01, b1's 0.03
    assert preroll.take(0.0) == []  # taken once


def test_sound_is_not_held_for_a_picture_that_stopped() -> None:
    """A camera whose video encoder hangs while its sound goes on: the sound is written anyway."""
    segments, il = fresh()
    il.step("v0.00", 0.0)
    starts = [round(i * FRAME, 3) for i in range(1, 20)]
    for start in starts:
        aac(il, start)
    written = len(segments.files[0]) - 1
    assert written >= 1 and segments.files == [["v0.00", *(f"a{s:.3f}" for s in starts[:written])]]
    assert il.holding == len(starts) - written and il.holding * FRAME <= MAX_WAIT_S  # held at most max_wait
    il.flush()  # the connection ends: what plays after the last frame lies in the gap
    assert il.holding == 0
