"""Method 1: every formula with worked examples computed by hand (the arithmetic is written
next to each expectation so a reader can check it), and property tests."""

from __future__ import annotations

from fractions import Fraction as F

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interlock.advisor.errors import MissingInputError
from interlock.advisor.figures import Counters, Load, Variables, load_from, peak_from_samples
from interlock.advisor.method1 import (
    Lifetime,
    PeakSource,
    Policy,
    critical_lifetime,
    method1,
    round_half_up,
)


def test_round_half_up_and_critical_lifetime() -> None:
    assert [round_half_up(F(x)) for x in ("2.5", "3.5", "2.4999", "0.5", "10")] == [3, 4, 2, 1, 10]
    # N = 500 / 0.1 = 5000; (5000 + 1) / 2 = 2500.5 -> 2501 (half-up, not banker's 2500)
    assert critical_lifetime(500, F("0.1")) == 2501
    # N = 92 / 1.1 = 83.63...; (84.63...) / 2 = 42.31... -> 42
    assert critical_lifetime(92, F("1.1")) == 42


def test_issue_what_if_example() -> None:
    """--max-connections 100 --max-used-connections 92 --avg-cps 0.8 --max-cps 1.1 --cpq 7"""
    r = method1(Load(100, 92, F("0.8"), F(7), F("1.1")))
    assert r.exp == 63  # N = 100 / 0.8 = 125;    (125 + 1) / 2 = 63
    assert r.cur == 58  # N = 92 / 0.8 = 115;     (115 + 1) / 2 = 58
    assert r.pas == 42  # N = 92 / 1.1 = 83.64;   (84.64) / 2 = 42.32 -> 42
    assert r.pol == 46  # N = 100 / 1.1 = 90.91;  (91.91) / 2 = 45.95 -> 46
    assert r.c_percent == F(5800, 63)  # 58 * 100 / 63 = 92.06 >= 50: busy -> PAS
    assert r.deficit == 16  # 58 - 42
    assert (r.lpt, r.lpt_from) == (42, Lifetime.PAS)
    assert r.strict == 36  # 42 - 42 / 7 = 42 - 6
    assert r.middle == 39  # (42 + 36) / 2
    assert r.lenient == 42
    assert r.peak_source is PeakSource.MEASURED
    assert r.spc == F(5, 4)  # 1 / 0.8
    assert not r.needs_capacity


def test_issue_what_if_example_lenient() -> None:
    r = method1(Load(100, 92, F("0.8"), F(7), F("1.1")), Policy.LENIENT)
    assert (r.lpt, r.lpt_from) == (46, Lifetime.POL)
    assert r.strict == 39  # 46 - 46 / 7 = 46 - 6.57 = 39.43 -> 39
    assert r.middle == 43  # (46 + 39.43) / 2 = 42.71 -> 43 (from the exact strict)
    assert r.lenient == 46


def quiet_with_past_spike() -> tuple[Counters, Variables]:
    # 10 days up, 0.1 connections/s on average, once 60 at the same time, limit 500
    counters = Counters(
        connections=86_400, uptime=864_000, questions=864_000, max_used_connections=60,
        aborted_clients=1_728, aborted_connects=43,
    )
    return counters, Variables(500, 28_800, 28_800, 10)


def test_quiet_server_with_a_past_spike_takes_cur() -> None:
    counters, variables = quiet_with_past_spike()
    load = load_from(counters, variables, peak=F(2))  # 2 connections/s measured
    assert load.avg_cps == F(1, 10)  # 86400 / 864000
    assert load.cpq == 10  # 864000 / 86400
    r = method1(load)
    assert r.exp == 2501  # 500 / 0.1 = 5000; 5001 / 2 = 2500.5 -> 2501
    assert r.cur == 301  # 60 / 0.1 = 600; 601 / 2 = 300.5 -> 301
    assert r.pas == 16  # 60 / 2 = 30; 31 / 2 = 15.5 -> 16
    assert r.pol == 126  # 500 / 2 = 250; 251 / 2 = 125.5 -> 126
    assert r.c_percent == F(30100, 2501)  # 301 * 100 / 2501 = 12.04 < 50: not busy
    assert r.deficit == 285  # 301 - 16 > PAS = 16 -> CUR
    assert (r.lpt, r.lpt_from) == (301, Lifetime.CUR)
    assert r.strict == 271  # 301 - 301 / 10 = 270.9 -> 271
    assert r.middle == 286  # (301 + 270.9) / 2 = 285.95 -> 286
    assert r.lenient == 301
    assert "past spike" in r.lpt_reason


def test_busy_server_near_its_limit_takes_pas() -> None:
    counters = Counters(72_000, 36_000, 1_440_000, 190, 0, 0)  # 2 cps, cpq 20
    samples = [(0.0, 0), (1.0, 3), (2.0, 5), (3.0, 10)]  # deltas 3, 2, 5 per second
    peak = peak_from_samples(samples)
    assert peak == 5
    r = method1(load_from(counters, Variables(200, 28_800, 28_800, 10), peak))
    assert r.exp == 51  # 200 / 2 = 100; 101 / 2 = 50.5 -> 51
    assert r.cur == 48  # 190 / 2 = 95; 96 / 2 = 48
    assert r.pas == 20  # 190 / 5 = 38; 39 / 2 = 19.5 -> 20
    assert r.pol == 21  # 200 / 5 = 40; 41 / 2 = 20.5 -> 21
    assert float(r.c_percent) == pytest.approx(94.12, abs=0.01)  # 48 * 100 / 51
    assert (r.lpt, r.lpt_from) == (20, Lifetime.PAS)
    assert (r.strict, r.middle, r.lenient) == (19, 20, 20)  # 20 - 20/20 = 19; 19.5 -> 20


def test_server_past_its_limit_is_clamped_and_needs_capacity() -> None:
    # Max_used_connections 101 > max_connections 100 (the extra SUPER connection)
    counters = Counters(5_000, 1_000, 15_000, 101, 0, 0)  # 5 cps, cpq 3
    r = method1(load_from(counters, Variables(100, 28_800, 28_800, 10), peak=None))
    assert r.peak_source is PeakSource.ESTIMATED
    assert r.peak_cps == F(15, 2)  # 5 * 1.5
    assert r.exp == 11  # 100 / 5 = 20; 21 / 2 = 10.5 -> 11
    assert r.cur == 11  # 101 / 5 = 20.2; 21.2 / 2 = 10.6 -> 11
    assert r.pas == 7  # 101 / 7.5 = 13.47; 14.47 / 2 = 7.23 -> 7
    assert r.pol == 7  # 100 / 7.5 = 13.33; 14.33 / 2 = 7.17 -> 7
    assert r.c_percent == 100
    assert r.lpt == 7
    assert (r.strict, r.middle, r.lenient) == (10, 10, 10)  # LPT 7 <= 10: all clamped
    assert r.needs_capacity and "LPT = 7 s is not above 10 s" in r.clamped


def test_strict_and_middle_below_ten_are_raised() -> None:
    # PAS: 23 / 1 = 23; 24 / 2 = 12.  CUR: 23 / 0.5 = 46; 47 / 2 = 23.5 -> 24;
    # EXP: 100 / 0.5 = 200; 201 / 2 = 100.5 -> 101; C% = 23.8 but DEF = 12 is not > 12 -> PAS
    r = method1(Load(100, 23, F(1, 2), F(3, 2), F(1)))
    assert (r.lpt, r.lpt_from) == (12, Lifetime.PAS)
    # strict = 12 - 12 / 1.5 = 4 -> 10; middle = (12 + 4) / 2 = 8 -> 10; lenient = 12
    assert (r.strict, r.middle, r.lenient) == (10, 10, 12)
    assert r.clamped == (
        "strict wait_timeout = 4 s is below 10 s", "middle wait_timeout = 8 s is below 10 s"
    )


def test_cpq_not_above_one_clamps_everything() -> None:
    r = method1(Load(100, 92, F("0.8"), F(1), F("1.1")))
    assert r.lpt == 42
    assert (r.strict, r.middle, r.lenient) == (10, 10, 10)
    assert r.clamped == ("cpq = 1.00 is not above 1",)


def test_a_sampled_peak_below_the_average_uses_the_average() -> None:
    r = method1(Load(100, 50, F(2), F(5), F(1)))
    assert r.peak_source is PeakSource.AVERAGE
    assert r.peak_cps == 2 and r.measured_peak == 1
    assert r.pas == r.cur  # same limit, same rate


def test_peak_from_samples_skips_restarts_and_stalled_clocks() -> None:
    assert peak_from_samples([]) is None
    assert peak_from_samples([(0.0, 5)]) is None
    assert peak_from_samples([(0.0, 5), (1.0, 7), (1.0, 9), (2.0, 1), (4.0, 9)]) == 4
    # 5 -> 7 in 1 s = 2/s; (1.0, 9) did not advance; 7 -> ... counter fell (restart): skipped;
    # 1 -> 9 in 2 s = 4/s
    assert peak_from_samples([(0.0, 0), (0.5, 3)]) == 6  # 3 in half a second


def test_impossible_loads_are_refused_with_the_reason() -> None:
    with pytest.raises(MissingInputError, match="average connection rate"):
        method1(Load(100, 10, F(0), F(3)))
    with pytest.raises(MissingInputError, match="max_connections"):
        method1(Load(0, 10, F(1), F(3)))


loads = st.builds(
    Load,
    max_connections=st.integers(1, 100_000),
    max_used_connections=st.integers(0, 100_001),
    avg_cps=st.fractions(min_value=F(1, 10_000), max_value=F(10_000), max_denominator=10_000),
    cpq=st.fractions(min_value=0, max_value=F(100_000), max_denominator=1_000),
    peak_cps=st.none() | st.fractions(min_value=0, max_value=F(50_000), max_denominator=1_000),
)


@given(loads, st.sampled_from(list(Policy)))
def test_recommendations_are_ordered_and_clamped(load: Load, policy: Policy) -> None:
    r = method1(load, policy)
    assert 10 <= r.strict <= r.middle <= r.lenient
    assert r.lpt in (r.exp, r.cur, r.pas, r.pol)
    assert r.peak_cps >= r.avg_cps  # so the peak lifetimes never exceed the average ones
    assert r.pas <= r.cur and r.pol <= r.exp
    if r.lpt <= 10 or r.cpq <= 1:
        assert (r.strict, r.middle, r.lenient) == (10, 10, 10) and r.needs_capacity
    else:
        assert r.lenient == r.lpt
    assert r.needs_capacity == bool(r.clamped)
    assert r.deficit == r.cur - r.pas


@given(loads)
def test_policy_choice(load: Load) -> None:
    strict, lenient = method1(load, Policy.STRICT), method1(load, Policy.LENIENT)
    assert lenient.lpt == lenient.pol
    if strict.c_percent < 50 and strict.deficit > strict.pas:
        assert strict.lpt_from is Lifetime.CUR
    else:
        assert strict.lpt_from is Lifetime.PAS
