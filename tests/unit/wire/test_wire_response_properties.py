"""Property tests of ResponseTracker: any split of a captured stream yields the same events."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_fixtures import load, replay_pipelined, replay_stepwise, response_captures

from interlock.wire.response import ResponseEvent

cuts = st.lists(st.integers(0, 40_000), max_size=60)


def flatten(per_command: list[list[ResponseEvent]]) -> list[ResponseEvent]:
    return [e for events in per_command for e in events]


@pytest.mark.parametrize("name", response_captures())
def test_pipelined_equals_stepwise(name: str) -> None:
    capture = load(name)
    stepwise_tracker, per_command = replay_stepwise(capture)
    tracker, events = replay_pipelined(capture)
    assert events == flatten(per_command)
    assert tracker.idle and tracker.status == stepwise_tracker.status


@pytest.mark.parametrize("name", response_captures())
@settings(max_examples=25, deadline=None)
@given(server_cuts=cuts, client_cuts=st.lists(st.integers(0, 40), max_size=10))
def test_any_split_same_events(name: str, server_cuts: list[int], client_cuts: list[int]) -> None:
    capture = load(name)
    _, expected = replay_pipelined(capture)
    tracker, events = replay_pipelined(capture, server_cuts, client_cuts)
    assert events == expected
    assert tracker.idle


@pytest.mark.parametrize("name", ["text_eof", "multi_deprecate_eof", "prepared_cache_metadata",
                                  "cursor_eof", "infile_deprecate_eof", "session_track"])
def test_byte_at_a_time(name: str) -> None:
    capture = load(name)
    _, expected = replay_pipelined(capture)
    everything = range(1, 100_000)
    tracker, events = replay_pipelined(capture, everything, everything)
    assert events == expected and tracker.idle
