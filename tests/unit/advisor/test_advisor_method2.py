"""Method 2's pure half: the histogram, the session recorder and its recommendations."""

from __future__ import annotations

import math
import random

from hypothesis import given
from hypothesis import strategies as st

from interlock.advisor.histogram import Histogram
from interlock.advisor.method2 import BackendSettings, ProxySettings, method2
from interlock.advisor.observations import CloseReason, SessionObservations


def nearest_rank(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1]


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=300),
       st.sampled_from([50.0, 90.0, 99.0, 99.9, 100.0]))
def test_percentiles_are_a_tight_upper_bound(values: list[float], percent: float) -> None:
    hist = Histogram()
    for value in values:
        hist.add(value)
    exact = nearest_rank(values, percent)
    got = hist.percentile(percent)
    assert exact <= got <= max(values)
    assert got <= max(exact * 1.02, hist.min_value) * (1 + 1e-9)


def test_memory_is_bounded_by_the_range_not_the_count() -> None:
    hist = Histogram()
    rng = random.Random(7)
    for _ in range(200_000):
        hist.add(rng.expovariate(1 / 30) * rng.choice((1, 10, 1000)))
    assert hist.count == 200_000
    # 1 ms .. 10^7 s at 2 % per bucket: log(1e10) / log(1.02) = 1163 buckets at most
    assert hist.buckets <= 1200
    s = hist.summary()
    assert s.p50 <= s.p90 <= s.p99 <= s.p999 <= s.max


def test_empty_histogram() -> None:
    assert Histogram().summary().count == 0
    assert Histogram().percentile(99.9) == 0.0


def recorded() -> SessionObservations:
    obs = SessionObservations()
    obs.session_opened(1, 0.0)
    obs.statement(1, 1.0)  # gap 1.0 (from the login)
    obs.idle(1, 1.5)
    obs.statement(1, 11.5)  # gap 10.0
    obs.idle(1, 12.0)
    obs.session_closed(1, 20.0, CloseReason.QUIT)  # final gap 8.0, lifetime 20
    obs.session_opened(2, 5.0)
    obs.statement(2, 5.5)  # gap 0.5
    obs.idle(2, 6.0)
    obs.session_closed(2, 100.0, CloseReason.VANISHED)  # final gap 94, lifetime 95
    for t in (0.1, 0.2, 0.3, 5.1):  # 3 in second 0, 1 in second 5
        obs.backend_connected("server1", t)
    obs.backend_lost_idle("server1", 100.0, 94.0)
    return obs


def test_recorder_figures() -> None:
    obs = recorded()
    counts = obs.counts()
    assert (counts.opened, counts.closed, counts.open_now) == (2, 2, 0)
    assert dict(counts.by_reason) == {CloseReason.QUIT: 1, CloseReason.VANISHED: 1}
    gaps = obs.returning_gaps.summary()
    assert gaps.count == 3 and gaps.max == 10.0  # 1.0, 10.0, 0.5
    assert 1.0 <= gaps.p50 <= 1.02  # nearest rank 2 of [0.5, 1, 10]
    assert obs.lifetimes.summary().max == 95.0
    assert obs.final_gaps[CloseReason.VANISHED].summary().max == 94.0
    rate = obs.backends["server1"]
    assert (rate.total, rate.peak) == (4, 3)
    assert rate.per_second() == [(0, 3), (5, 1)]


def test_statements_without_idle_calls_measure_from_the_previous_command() -> None:
    obs = SessionObservations()
    obs.session_opened(9, 0.0)
    obs.statement(9, 2.0)
    obs.statement(9, 7.0)
    obs.statement(42, 8.0)  # unknown session: ignored
    assert obs.returning_gaps.max == 5.0 and obs.returning_gaps.count == 2
    assert list(obs.idle_now(10.0)) == [3.0]


def test_recommendations_worked_example() -> None:
    report = method2(
        recorded(),
        [BackendSettings("server1", wait_timeout=8, max_connections=30)],
        ProxySettings(keepalive=0),
        now=100.0,
    )
    recs = {(r.setting, r.backend): r for r in report.recommendations}
    # p99.9 of the returning gaps [0.5, 1, 10] is 10 s; 10 * 1.25 = 12.5 -> 13
    assert recs[("wait_timeout", "server1")].value == 13
    assert recs[("client_idle_timeout", None)].value == 13
    # keepalive: half the smallest wait_timeout (8) = 4
    assert recs[("keepalive", None)].value == 4
    # peak 3 connections/s, max_connections 30: full after 30 / 3 = 10 s < 13 s
    assert report.backends[0].ceiling == 10
    assert any("needs more connections" in w for w in report.warnings)
    loud = [w for w in report.warnings if w.startswith("!!!")]
    assert len(loud) == 1
    assert "keepalive is 0 (disabled)" in loud[0] and "idle up to 94 s" in loud[0]
    assert "Lost connection to the primary server while connection was idle" in loud[0]


def test_no_loud_warning_when_keepalive_is_below_wait_timeout() -> None:
    report = method2(
        recorded(), [BackendSettings("server1", wait_timeout=600, max_connections=3000)],
        ProxySettings(keepalive=300, client_idle_timeout=5), now=100.0,
    )
    assert not any(w.startswith("!!!") for w in report.warnings)
    assert any("client idle timeout (5 s) is below the 13 s" in w for w in report.warnings)
    assert report.backends[0].ceiling == 1000  # 3000 // 3
    keepalive = next(r for r in report.recommendations if r.setting == "keepalive")
    assert keepalive.value == 300  # min(300, 600 // 2)


def test_no_observations_no_timeout_advice() -> None:
    report = method2(SessionObservations(), [BackendSettings("s")], ProxySettings(), now=0.0)
    assert report.recommendations == ()
    assert report.warnings == ("no session has come back from an idle gap yet: no timeout advice",)
