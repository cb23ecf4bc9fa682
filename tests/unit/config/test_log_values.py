"""``log_throttling=count, window, suppress``: parsing, property tests, the loader's message."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from config_helpers import BASE
from hypothesis import given
from hypothesis import strategies as st

from interlock.config.values import (
    MAX_DURATION_MS,
    ConfigValueError,
    ThrottlingType,
    render_duration,
)
from interlock.log import Throttling

THROTTLING = ThrottlingType()
UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


@st.composite
def duration(draw: st.DrawFn) -> tuple[str, float]:
    unit = draw(st.sampled_from(sorted(UNIT_MS)))
    number = draw(st.integers(0, MAX_DURATION_MS // UNIT_MS[unit]))
    return f"{number}{unit}", number * UNIT_MS[unit] / 1000


@given(st.integers(0, 10**6), duration(), duration(), st.sampled_from([",", ", ", " , "]))
def test_values(
    count: int, window: tuple[str, float], suppress: tuple[str, float], comma: str
) -> None:
    text = comma.join((str(count), window[0], suppress[0]))
    assert THROTTLING.parse(text) == (count, window[1], suppress[1])


@given(st.integers(0, 10**6), st.integers(0, 10**9), st.integers(0, 10**9))
def test_round_trip(count: int, window_ms: int, suppress_ms: int) -> None:
    value = (count, window_ms / 1000, suppress_ms / 1000)
    assert THROTTLING.parse(THROTTLING.render(value)) == value


def test_maxscale_default_and_off() -> None:
    assert THROTTLING.parse("10, 1000ms, 10000ms") == (10, 1.0, 10.0)
    assert Throttling(*THROTTLING.parse("10, 1000ms, 10000ms")) == Throttling()
    assert not Throttling(*THROTTLING.parse("0, 0, 0")).enabled


@pytest.mark.parametrize(
    "text", ["10, 1000, 10000", "10, 1s", "10, 1s, 10s, 1s", "-1, 1s, 1s", "x, 1s, 1s", ""]
)
def test_rejects(text: str) -> None:
    with pytest.raises(ConfigValueError) as caught:
        THROTTLING.parse(text)
    assert caught.value.expected.startswith("a count, a window and a suppression time")


def test_bare_number_error_names_file_line_and_form(errors: Callable[[str], list[str]]) -> None:
    text = BASE.replace("threads=auto", "threads=auto\nlog_throttling=10, 1000, 10000")
    assert errors(text) == [
        "interlock.cnf:3: [maxscale] invalid value for 'log_throttling': '1000' has no unit; "
        "expected a count, a window and a suppression time, e.g. 10, 1000ms, 10000ms "
        "(durations with a unit: ms, s, m or h; 0, 0, 0 turns throttling off)"
    ]


def test_rendering_matches_durations() -> None:
    assert THROTTLING.render((10, 1.0, 10.0)) == f"10, {render_duration(1.0)}, 10s"
