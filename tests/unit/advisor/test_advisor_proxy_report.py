"""Method 2 for a running proxy: the recorder's additions, the report the admin API serves, and
the service's settings for it (the proxy's hook-up itself: tests/integration/test_advise_proxy.py).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from interlock.advisor.histogram import Histogram
from interlock.advisor.method2 import BackendSettings, ProxySettings
from interlock.advisor.observations import CloseReason, SessionObservations
from interlock.advisor.proxy_report import render_report, report_for_service, text_for_service
from interlock.config.loader import parse_text
from interlock.server.service import ServiceRuntime


def exact_index(hist: Histogram, value: float) -> int:
    """The bucket by its definition: bucket i >= 1 holds [upper_edge(i-1), upper_edge(i))."""
    if value < hist.min_value:
        return 0
    index = 1
    while value >= hist.upper_edge(index):
        index += 1
    return index


@given(st.floats(0, 1e7, allow_nan=False), st.sampled_from([(0.001, 0.02), (1.0, 0.05)]))
def test_bucket_index_matches_the_definition(value: float, layout: tuple[float, float]) -> None:
    hist = Histogram(*layout)
    assert hist.index(value) == exact_index(hist, value)


def test_bucket_index_at_the_edges() -> None:
    for layout in ((0.001, 0.02), (1.0, 0.05)):
        hist = Histogram(*layout)
        for i in range(1, 1200):
            edge = hist.upper_edge(i)
            below = math.nextafter(edge, 0.0)
            assert hist.index(edge) == exact_index(hist, edge) == i + 1
            assert hist.index(below) == exact_index(hist, below) == i


def test_negative_and_nan_values_count_as_zero() -> None:
    hist = Histogram()
    hist.add(-0.5)  # (a command buffered behind a response: no idle gap)
    hist.add(float("nan"))
    assert (hist.count, hist.total, hist.max) == (2, 0.0, 0.0)
    assert hist.counts() == [(hist.upper_edge(0), 2)]


def test_idle_for_and_the_error_reason() -> None:
    obs = SessionObservations()
    obs.session_opened(7, 100.0)
    assert obs.idle_for(7, 103.0) == 3.0  # idle since the login
    obs.statement(7, 104.0)
    obs.idle(7, 104.5)
    assert obs.idle_for(7, 110.0) == 5.5
    assert obs.idle_for(8, 110.0) is None
    obs.session_closed(7, 111.0, CloseReason.ERROR)
    assert obs.idle_for(7, 112.0) is None
    assert dict(obs.counts().by_reason) == {CloseReason.ERROR: 1}


def recorded() -> SessionObservations:
    """Two sessions, worked by hand below."""
    obs = SessionObservations()
    obs.backend_connected("db1", 0.2)
    obs.session_opened(1, 0.5)
    obs.statement(1, 2.5)  # gap 2.0
    obs.idle(1, 3.0)
    obs.statement(1, 19.0)  # gap 16.0
    obs.idle(1, 19.5)
    obs.session_closed(1, 20.5, CloseReason.QUIT)  # lifetime 20, final gap 1.0
    obs.backend_connected("db1", 30.1)
    obs.backend_connected("db1", 30.7)  # 2 in second 30: the peak
    obs.session_opened(2, 30.7)
    obs.statement(2, 31.7)  # gap 1.0
    obs.idle(2, 32.0)
    obs.backend_lost_idle("db1", 92.0, 60.0)
    obs.session_opened(3, 95.0)  # still open, idle since 95
    obs.session_closed(2, 92.0, CloseReason.BACKEND_LOST)  # final gap 60, lifetime 61.3
    return obs


def test_report_for_service_worked_example() -> None:
    obs = recorded()
    backends = [BackendSettings("db1", wait_timeout=50, max_connections=100),
                BackendSettings("db2", wait_timeout=28800, max_connections=100)]
    report = report_for_service(obs, "svc", backends, ProxySettings(keepalive=60), now=100.0)
    assert json.loads(json.dumps(report)) == report
    assert report["sessions"] == {"opened": 3, "closed": 2, "open_now": 1,
                                  "closed_by": {"backend lost": 1, "client quit": 1}}
    assert report["idle_now"] == {"sessions": 1, "longest": 5.0}
    gaps = report["idle_gaps"]["returning"]
    assert (gaps["count"], gaps["max"], gaps["p99.9"]) == (3, 16.0, 16.0)  # 1.0, 2.0, 16.0
    # the median is the upper edge of 2.0's bucket: at most 2 % above it
    assert 2.0 <= gaps["p50"] <= 2.0 * 1.02
    assert report["lifetimes"]["max"] == 61.3
    assert report["idle_gaps"]["final"]["backend lost"]["max"] == 60.0
    (db1,) = report["backends"]  # db2 saw no connection
    assert (db1["connections"], db1["peak_per_second"]) == (3, 2)
    assert db1["average_per_second"] == 3 / (100.0 - 0.2)
    assert db1["lost_while_idle"]["count"] == 1
    assert db1["ceiling_seconds"] == 100 // 2  # max_connections / peak rate
    # healthy: ceil(16.0 * 1.25) = 20 (above the floor of 10, below the ceiling of 50)
    # keepalive: half the smallest wait_timeout (50) = 25; the configured 60 is not below
    # db1's 50 while a session sat idle 60 s and a connection was lost idle: loud warning
    recs = [(r["setting"], r["value"], r["backend"]) for r in report["recommendations"]]
    assert recs == [("wait_timeout", 20, "db1"), ("wait_timeout", 20, "db2"),
                    ("client_idle_timeout", 20, None), ("keepalive", 25, None)]
    (warning,) = report["warnings"]
    assert warning.startswith("!!! db1: keepalive is 60 s, not below its wait_timeout = 50 s,"
                              " while sessions sit idle up to 60 s (1 backend connections")
    assert report["mycnf"] == ["[mariadb]", "wait_timeout = 20"]
    assert report["interlock"] == ["[svc]", "connection_keepalive=25s", "wait_timeout=20s"]
    assert sum(count for _, count in report["histograms"]["returning_gaps"]) == 3
    assert report["histograms"]["final_gaps"]["client quit"] == [
        [obs.final_gaps[CloseReason.QUIT].upper_edge(obs.final_gaps[CloseReason.QUIT].index(1.0)),
         1]]


def test_text_form() -> None:
    obs = recorded()
    backends = [BackendSettings("db1", wait_timeout=50, max_connections=100)]
    text = text_for_service(obs, "svc", backends, ProxySettings(keepalive=60), now=100.0)
    report = report_for_service(obs, "svc", backends, ProxySettings(keepalive=60), now=100.0,
                                histograms=False)
    assert "histograms" not in report
    assert text == render_report(report)
    assert "3 opened, 2 closed (backend lost 1, client quit 1), 1 open" in text
    assert "statements per session             n=2      p50 1  p90 2" in text
    edge = obs.returning_gaps.upper_edge(obs.returning_gaps.index(2.0))  # the median's bucket
    assert f"idle gap, client came back         n=3      p50 {edge:.2f} s  p90 16.00 s" in text
    assert "db1          3 connections, peak 2/s" in text
    assert "max_connections reached in 50 s at the peak rate" in text
    assert "  [WARNING] !!! db1: keepalive is 60 s" in text
    assert "  wait_timeout on db1 = 20 s: the longest 3 idle gaps" in text
    assert "  [svc]\n  connection_keepalive=25s\n  wait_timeout=20s\n" in text


def test_empty_recorder() -> None:
    report = report_for_service(SessionObservations(), "svc", [], ProxySettings(), now=1.0)
    assert report["recommendations"] == [] and report["backends"] == []
    assert report["warnings"] == ["no session has come back from an idle gap yet: no timeout"
                                  " advice"]
    assert report["mycnf"] == [] and report["interlock"] == []
    assert "session lifetime                   none yet" in render_report(report)


CONFIG = """
[db1]
type=server
address=127.0.0.1
port=3306

[db2]
type=server
address=127.0.0.1
port=3307

[svc]
type=service
router=readwritesplit
servers=db1,db2
user=u
password=p
connection_keepalive=45s
wait_timeout=600s

[listener]
type=listener
service=svc
port=4006
"""


def test_service_advisor_settings(tmp_path: Path) -> None:
    config = parse_text(CONFIG, str(tmp_path / "interlock.cnf"))
    service = ServiceRuntime(config.services["svc"], config.servers, config.global_)
    assert isinstance(service.observations, SessionObservations)
    backends, proxy = service.advisor_settings()
    assert backends == [BackendSettings("db1"), BackendSettings("db2")]
    assert proxy == ProxySettings(keepalive=45.0, client_idle_timeout=600.0)
    service.backend_wait_timeouts["db1"] = 28800.0  # what the sessions read
    backends, _ = service.advisor_settings({"db2": {"wait_timeout": 60, "max_connections": 9}})
    assert backends == [BackendSettings("db1", 28800), BackendSettings("db2", 60, 9)]


def test_recorder_cost_stays_bounded() -> None:
    """Many sessions and gaps: memory is the open sessions plus fixed-size histograms."""
    obs = SessionObservations()
    rng = random.Random(5)
    t = 0.0
    for sid in range(2000):
        obs.session_opened(sid, t)
        for _ in range(50):
            t += rng.expovariate(1 / 0.2)
            obs.statement(sid, t)
            obs.idle(sid, t + 0.001)
        obs.session_closed(sid, t + 1, CloseReason.QUIT)
    assert obs.returning_gaps.count == 100_000
    assert obs.returning_gaps.buckets < 1200 and not obs._open
