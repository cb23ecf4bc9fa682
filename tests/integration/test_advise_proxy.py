"""Method 2 end to end: sessions driven through the proxy with known idle gaps.

One in-process proxy (:class:`LiveProxy`) in front of the shared sandbox with three services:
``readwritesplit`` (the sandbox's), ``readconnroute`` to the primary, and ``readwritesplit``
with a 2 s client idle timeout.  Raw-protocol clients (one thread each, all at once) log in,
sleep known times between commands and end in known ways: COM_QUIT, a TCP close without
COM_QUIT, a backend that closes the connection (``SET SESSION wait_timeout=1``), the proxy's
idle timeout.  Each client notes on the monotonic clock (the proxy's clock: same process) when
it sent each command and when the answer was complete, which bounds what the proxy can have
measured:

    gap before command i  in [sent[i] - returned[i-1] - SLACK, returned[i] - sent[i-1]]

(the proxy sees the answer end after ``sent[i-1]`` and at about ``returned[i-1]``; the command
arrives after ``sent[i]`` and before ``returned[i]``; ``SLACK`` covers the proxy reading its
clock just after writing the answer's last bytes).  The service's recorder must hold every
value in a bucket between the buckets of its bounds (compared rank by rank: order statistics
of values inside intervals lie inside the order statistics of the intervals), the exact close
reasons and statement counts, the backend connections opened and lost while idle; and
``report_for_service`` must give the advice the issue's rules give for those numbers.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.integration.monitor_support import LiveProxy
from tests.integration.rawclient import RawClient

from interlock.advisor.histogram import Histogram
from interlock.advisor.method2 import BackendSettings, ProxySettings
from interlock.advisor.observations import CloseReason, SessionObservations
from interlock.advisor.proxy_report import render_report, report_for_service
from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import SERVICE
from interlock.sandbox.model import Role
from interlock.sandbox.ports import find_free_port
from interlock.server.service import ServiceRuntime
from interlock.wire.constants import Command

SLACK = 0.02  # s: the proxy reads its clock just after writing an answer's last bytes
BACKEND_WAIT = 1  # SET SESSION wait_timeout of the sessions whose backends close them
SERVER_SLACK = 0.05  # s: the server's idle clock starts when it sent its answer
CLIENT_IDLE = 2  # s: the client idle timeout of the third service
LONG_GAP = 8.5  # s: long enough that the recommended wait_timeout is above its 10 s floor
CONN_SERVICE, CONN_LISTENER = "Conn-Service", "Conn-Listener"
IDLE_SERVICE, IDLE_LISTENER = "Idle-Service", "Idle-Listener"

Q = Command.QUERY


@dataclass(frozen=True)
class Script:
    name: str
    service: str
    steps: tuple[tuple[float, int, bytes], ...]  # (sleep before, command, payload)
    ending: str  # "quit", "vanish", or "closed" (the proxy closes it: wait for that)
    final_sleep: float = 0.0


@dataclass
class Timeline:
    script: Script
    connect_start: float = 0.0
    connect_done: float = 0.0
    sent: list[float] = field(default_factory=list)
    returned: list[float] = field(default_factory=list)
    end_sent: float = 0.0  # just before COM_QUIT / the TCP close
    closed_seen: float = 0.0  # "closed": when the client saw the proxy close the connection
    error: BaseException | None = None


def run_script(timeline: Timeline, port: int, sb: Sandbox) -> None:
    s = timeline.script
    try:
        timeline.connect_start = time.monotonic()
        client = RawClient.connect(
            sb.spec.host, port, sb.app_user, sb.app_password, "app", timeout=60
        )
        timeline.connect_done = time.monotonic()
        for sleep, command, payload in s.steps:
            time.sleep(sleep)
            timeline.sent.append(time.monotonic())
            client.exchange(command, payload)
            timeline.returned.append(time.monotonic())
        time.sleep(s.final_sleep)
        timeline.end_sent = time.monotonic()
        if s.ending == "quit":
            client.quit()
        elif s.ending == "vanish":
            client.close()  # no COM_QUIT
        else:
            client.read_until_closed(timeout=30)
            timeline.closed_seen = time.monotonic()
            client.close()
    except BaseException as exc:  # reported by the test thread
        timeline.error = exc


#: a query, a COM_PING (to the primary), a COM_INIT_DB (a session command on every link of a
#: readwritesplit session), a query after the long gap
QUIT_STEPS = (
    (0.2, Q, b"SELECT 1"),
    (0.3, Command.PING, b""),
    (1.5, Command.INIT_DB, b"app"),
    (LONG_GAP, Q, b"SELECT 2"),
)
VANISH_STEPS = ((0.1, Q, b"SELECT 1"), (0.6, Q, b"SELECT 2"), (2.0, Q, b"SELECT 3"))

SCRIPTS = {
    # readwritesplit: QUIT_STEPS, then COM_QUIT
    "rws-quit": Script(
        "rws-quit",
        SERVICE,
        QUIT_STEPS,
        "quit",
        final_sleep=0.5,
    ),
    "rws-vanish": Script(
        "rws-vanish",
        SERVICE,
        VANISH_STEPS,
        "vanish",
        final_sleep=1.0,
    ),
    # the backends close the idle connections after 1 s: the session reconnects its primary
    # when the client comes back after 2.5 s (replicas are dropped), then quits
    "rws-backend-idle": Script(
        "rws-backend-idle",
        SERVICE,
        (
            (0.1, Q, b"SET SESSION wait_timeout=%d" % BACKEND_WAIT),
            (0.1, Q, b"SELECT 1"),
            (2.5, Q, b"SELECT 2"),
        ),
        "quit",
        final_sleep=0.1,
    ),
    # readconnroute: same shapes; its session has one backend and no reconnection: the backend
    # closing the idle connection ends the session (the client gets an error and EOF)
    "conn-quit": Script(
        "conn-quit",
        CONN_SERVICE,
        QUIT_STEPS,
        "quit",
        final_sleep=0.5,
    ),
    "conn-vanish": Script(
        "conn-vanish",
        CONN_SERVICE,
        VANISH_STEPS,
        "vanish",
        final_sleep=1.0,
    ),
    "conn-backend-idle": Script(
        "conn-backend-idle",
        CONN_SERVICE,
        ((0.1, Q, b"SET SESSION wait_timeout=%d" % BACKEND_WAIT), (0.1, Q, b"SELECT 1")),
        "closed",
    ),
    # the client idle timeout (2 s): one client stays away, one comes back in time
    "idle-timeout": Script("idle-timeout", IDLE_SERVICE, ((0.1, Q, b"SELECT 1"),), "closed"),
    "idle-healthy": Script(
        "idle-healthy",
        IDLE_SERVICE,
        ((0.1, Q, b"SELECT 1"), (0.5, Command.PING, b""), (1.0, Q, b"SELECT 2")),
        "quit",
        final_sleep=0.2,
    ),
}
ENDINGS = {
    SERVICE: {
        "rws-quit": CloseReason.QUIT,
        "rws-vanish": CloseReason.VANISHED,
        "rws-backend-idle": CloseReason.QUIT,
    },
    CONN_SERVICE: {
        "conn-quit": CloseReason.QUIT,
        "conn-vanish": CloseReason.VANISHED,
        "conn-backend-idle": CloseReason.BACKEND_LOST,
    },
    IDLE_SERVICE: {"idle-timeout": CloseReason.TIMEOUT, "idle-healthy": CloseReason.QUIT},
}


# -- what the clients' clocks say the proxy measured -------------------------------------------


@dataclass(frozen=True)
class Bound:
    lo: float
    hi: float


def returning_gaps(t: Timeline) -> list[Bound]:
    ends = [t.connect_done, *t.returned]  # the login's OK, then each answer
    starts = [t.connect_start, *t.sent]
    return [
        Bound(t.sent[i] - ends[i] - SLACK, t.returned[i] - starts[i]) for i in range(len(t.sent))
    ]


def close_bounds(t: Timeline, seen: float) -> Bound:
    """When the proxy closed the session (``seen``: when the test saw the recorder count it)."""
    reason = ENDINGS[t.script.service][t.script.name]
    if reason is CloseReason.BACKEND_LOST:  # the server waited BACKEND_WAIT after its answer
        return Bound(t.sent[-1] + BACKEND_WAIT - SERVER_SLACK, t.closed_seen)
    if reason is CloseReason.TIMEOUT:  # idle CLIENT_IDLE since the command's arrival
        return Bound(t.sent[-1] + CLIENT_IDLE, t.closed_seen)
    return Bound(t.end_sent, seen)


def lifetime(t: Timeline, seen: float) -> Bound:
    close = close_bounds(t, seen)
    return Bound(close.lo - t.connect_done - SLACK, close.hi - t.connect_start)


def final_gap(t: Timeline, seen: float) -> Bound:
    close = close_bounds(t, seen)
    return Bound(close.lo - t.returned[-1] - SLACK, close.hi - t.sent[-1])


def check_buckets(lp: LiveProxy, what: str, histogram: Histogram, bounds: Sequence[Bound]) -> None:
    """Every recorded value is in a bucket between its bounds' buckets (rank by rank)."""
    counts, longest = snapshot(lp, lambda: (histogram.counts(), histogram.max))
    got = [edge for edge, count in counts for _ in range(count)]  # smallest first

    def edge(value: float) -> float:  # (index/upper_edge only read the bucket layout)
        return histogram.upper_edge(histogram.index(value))

    assert len(got) == len(bounds), f"{what}: {len(got)} values recorded, {len(bounds)} known"
    lows = sorted(edge(b.lo) for b in bounds)
    highs = sorted(edge(b.hi) for b in bounds)
    for rank, (low, value, high) in enumerate(zip(lows, got, highs, strict=True)):
        assert low <= value <= high, (
            f"{what}: value {rank + 1} of {len(got)} recorded in the bucket up to {value:.4f} s,"
            f" expected between {low:.4f} and {high:.4f} s; known {bounds}"
        )
    assert min(b.lo for b in bounds) <= longest <= max(b.hi for b in bounds), what


# -- the proxy ---------------------------------------------------------------------------------


def extra_services(sb: Sandbox) -> dict[str, dict[str, str | None]]:
    account = sb.spec.account(Role.SERVICE)
    names = ",".join(s.name for s in sb.servers)
    base = {"type": "service", "servers": names, "user": account.user, "password": account.password}
    sections: dict[str, dict[str, str | None]] = {
        SERVICE: {"router": "readwritesplit", "router_options": None},
        CONN_SERVICE: {**base, "router": "readconnroute", "router_options": "master"},
        IDLE_SERVICE: {**base, "router": "readwritesplit", "wait_timeout": f"{CLIENT_IDLE}s"},
    }
    for service, listener in ((CONN_SERVICE, CONN_LISTENER), (IDLE_SERVICE, IDLE_LISTENER)):
        sections[listener] = {
            "type": "listener",
            "service": service,
            "protocol": "MariaDBClient",
            "address": sb.spec.host,
            "port": str(find_free_port()),
        }
    return sections


def port_of(lp: LiveProxy, service: str) -> int:
    return next(cfg.port for cfg in lp.proxy.config.listeners.values() if cfg.service == service)


def snapshot(lp: LiveProxy, fn: Callable[[], Any]) -> Any:
    return lp.run(fn)  # the recorder lives on the proxy's loop


def wait_closed(lp: LiveProxy, obs: SessionObservations, sessions: int) -> float:
    deadline = time.monotonic() + 60
    while snapshot(lp, lambda: obs.counts().closed) < sessions:
        assert time.monotonic() < deadline, snapshot(lp, obs.counts)
        time.sleep(0.02)
    return time.monotonic()


def server_variables(sb: Sandbox) -> dict[str, dict[str, int]]:
    found = {}
    for server in sb.servers:
        rows = sb.sql(
            server.name,
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('wait_timeout', 'max_connections')",
        )
        found[server.name] = {r["Variable_name"]: int(r["Value"]) for r in rows}
    return found


# -- the rules, written out again from its text ---------------------------------------


def healthy(p999: float) -> int:
    """Above the p99.9 returning gap (25 % margin), at least 10 s."""
    return max(10, math.ceil(p999 * 1.25))


@pytest.fixture(scope="module")
def observed(
    sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Run every script through one proxy; keep the timelines and the proxy running."""
    sb = sandbox
    lp = LiveProxy(sb, tmp_path_factory.mktemp("advise_proxy"), {}, extra_services(sb))
    with lp:
        timelines = {name: Timeline(script) for name, script in SCRIPTS.items()}
        threads = [
            threading.Thread(target=run_script, args=(t, port_of(lp, t.script.service), sb))
            for t in timelines.values()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
            assert not thread.is_alive()
        for t in timelines.values():
            assert t.error is None, f"{t.script.name}: {t.error!r}"
        seen = {
            name: wait_closed(lp, lp.proxy.services[name].observations, len(ENDINGS[name]))
            for name in ENDINGS
        }
        yield {"lp": lp, "sb": sb, "timelines": timelines, "seen": seen}


def timelines_of(observed: dict[str, Any], service: str) -> list[Timeline]:
    return [t for t in observed["timelines"].values() if t.script.service == service]


@pytest.mark.parametrize("service", [SERVICE, CONN_SERVICE, IDLE_SERVICE])
def test_sessions_gaps_and_closes_are_recorded(observed: dict[str, Any], service: str) -> None:
    lp: LiveProxy = observed["lp"]
    svc: ServiceRuntime = lp.proxy.services[service]
    obs = svc.observations
    timelines = timelines_of(observed, service)
    seen = observed["seen"][service]

    counts = snapshot(lp, obs.counts)
    expected_reasons: dict[CloseReason, int] = {}
    for reason in ENDINGS[service].values():
        expected_reasons[reason] = expected_reasons.get(reason, 0) + 1
    assert (counts.opened, counts.closed, counts.open_now) == (len(timelines),) * 2 + (0,)
    assert dict(counts.by_reason) == expected_reasons

    # statements per session: exactly the commands each client sent (COM_QUIT is not one)
    exact = [Bound(len(t.script.steps), len(t.script.steps)) for t in timelines]
    check_buckets(lp, f"{service} statements", obs.statements, exact)

    check_buckets(
        lp,
        f"{service} returning gaps",
        obs.returning_gaps,
        [b for t in timelines for b in returning_gaps(t)],
    )
    check_buckets(lp, f"{service} lifetimes", obs.lifetimes, [lifetime(t, seen) for t in timelines])
    for reason in expected_reasons:
        check_buckets(
            lp,
            f"{service} final gaps ({reason})",
            obs.final_gaps[reason],
            [final_gap(t, seen) for t in timelines if ENDINGS[service][t.script.name] is reason],
        )
    # the long gap is the longest a client came back from (the percentiles' top)
    gaps = snapshot(lp, obs.returning_gaps.summary)
    longest = max((b for t in timelines for b in returning_gaps(t)), key=lambda b: b.hi)
    assert longest.lo <= gaps.max <= longest.hi


@pytest.mark.parametrize("service", [SERVICE, CONN_SERVICE])
def test_backend_connections_and_losses_are_recorded(
    observed: dict[str, Any], service: str
) -> None:
    lp: LiveProxy = observed["lp"]
    sb: Sandbox = observed["sb"]
    svc: ServiceRuntime = lp.proxy.services[service]
    obs = svc.observations
    sessions = len(timelines_of(observed, service))
    primary, replicas = sb.primary.name, [s.name for s in sb.replicas]
    backends = snapshot(
        lp,
        lambda: {
            name: (rate.total, rate.peak, rate.lost_idle.count, rate.lost_idle.max)
            for name, rate in obs.backends.items()
        },
    )
    loser = observed["timelines"][f"{'rws' if service == SERVICE else 'conn'}-backend-idle"]
    idle_hi = (loser.closed_seen or observed["seen"][service]) - loser.connect_start
    if service == CONN_SERVICE:
        # one connection per session, all to the primary; the one the server closed was idle
        assert set(backends) == {primary}
        assert backends[primary][0] == sessions
        assert backends[primary][2] == 1
    else:
        # every session: the primary and each replica; the session whose backends closed
        # their idle connections reconnected its primary once (and dropped its replicas)
        assert svc.reconnections == 1
        assert backends[primary][0] == sessions + 1
        for name in replicas:
            assert backends[name][0] == sessions
        for name in (primary, *replicas):
            assert backends[name][2] == 1, (name, backends[name])
    for name, (total, peak, lost, longest) in backends.items():
        assert 1 <= peak <= total
        if lost:  # the server closed it after BACKEND_WAIT seconds without a command
            assert BACKEND_WAIT - SERVER_SLACK <= longest <= idle_hi, (name, longest)


@pytest.mark.parametrize("service", [SERVICE, CONN_SERVICE, IDLE_SERVICE])
def test_method2_advice_from_the_observations(observed: dict[str, Any], service: str) -> None:
    lp: LiveProxy = observed["lp"]
    sb: Sandbox = observed["sb"]
    svc: ServiceRuntime = lp.proxy.services[service]
    obs = svc.observations
    variables = server_variables(sb)
    backends, proxy = svc.advisor_settings(variables)
    assert [(b.wait_timeout, b.max_connections) for b in backends] == [
        (variables[s.name]["wait_timeout"], variables[s.name]["max_connections"])
        for s in sb.servers
    ]
    report = snapshot(
        lp, lambda: report_for_service(obs, service, backends, proxy, time.monotonic())
    )
    assert json.loads(json.dumps(report)) == report  # plain JSON

    timelines = timelines_of(observed, service)
    gaps = [b for t in timelines for b in returning_gaps(t)]
    p999 = report["idle_gaps"]["returning"]["p99.9"]  # (under 1,000 gaps: the longest)
    assert p999 == report["idle_gaps"]["returning"]["max"]
    assert max(b.lo for b in gaps) <= p999 <= max(b.hi for b in gaps)
    wait = healthy(p999)
    # known from the scripts alone: the clients' bounds give the same recommendation
    assert healthy(max(b.lo for b in gaps)) <= wait <= healthy(max(b.hi for b in gaps))
    if service != IDLE_SERVICE:
        assert wait == math.ceil(LONG_GAP * 1.25)  # above the floor: the long gap decides

    rates = {b["name"]: b for b in report["backends"]}
    expected_recs = []
    expected_warnings = []
    keepalive = max(1, min(300, min(variables[n]["wait_timeout"] for n in variables) // 2))
    longest_idle = snapshot(
        lp,
        lambda: max(
            [
                obs.returning_gaps.max,
                *(h.max for h in obs.final_gaps.values()),
                *obs.idle_now(time.monotonic()),
            ]
        ),
    )
    for server in sb.servers:  # the keepalive rule: loud when it cannot protect idle sessions
        server_wait = variables[server.name]["wait_timeout"]
        lost = rates[server.name]["lost_while_idle"]["count"] if server.name in rates else 0
        if not 0 < proxy.keepalive < server_wait and (longest_idle > server_wait or lost):
            expected_warnings.append(f"!!! {server.name}")
    for server in sb.servers:
        limit = variables[server.name]["max_connections"]
        peak = rates[server.name]["peak_per_second"] if server.name in rates else 0
        ceiling = limit // peak if peak else None
        if server.name in rates:
            assert rates[server.name]["ceiling_seconds"] == ceiling
        if ceiling is not None and wait > ceiling:
            expected_warnings.append(f"{server.name}: healthy clients stay idle longer")
        expected_recs.append(("wait_timeout", wait, server.name))
    expected_recs.append(("client_idle_timeout", wait, None))
    expected_recs.append(("keepalive", keepalive, None))
    got = [(r["setting"], r["value"], r["backend"]) for r in report["recommendations"]]
    assert got == expected_recs
    if service == IDLE_SERVICE:  # its 2 s idle timeout cuts off clients that come back later
        assert proxy.client_idle_timeout == CLIENT_IDLE < wait
        expected_warnings.append(
            f"the proxy's client idle timeout ({CLIENT_IDLE} s) is below"
            f" the {wait} s that spares clients which come back"
        )
    warnings = report["warnings"]
    assert len(warnings) == len(expected_warnings), warnings
    for warning, start in zip(warnings, expected_warnings, strict=True):
        assert warning.startswith(start), (warning, start)
    assert report["mycnf"] == ["[mariadb]", f"wait_timeout = {wait}"]
    assert f"connection_keepalive={keepalive}s" in report["interlock"]
    text = render_report(report)
    assert f"wait_timeout on {sb.primary.name} = {wait} s" in text
    assert (
        f"closed ({', '.join(f'{r} {n}' for r, n in report['sessions']['closed_by'].items())})"
        in text
    )


def test_keepalive_warning_when_backends_would_cut_idle_sessions(observed: dict[str, Any]) -> None:
    """What if the backends' wait_timeout were 5 s and the keepalive off: the sessions that
    sat idle 8.5 s and the connections already lost while idle call for the loud warning."""
    lp: LiveProxy = observed["lp"]
    sb: Sandbox = observed["sb"]
    obs = lp.proxy.services[SERVICE].observations
    what_if = [BackendSettings(s.name, wait_timeout=5) for s in sb.servers]
    report = snapshot(
        lp,
        lambda: report_for_service(
            obs, SERVICE, what_if, ProxySettings(keepalive=0), time.monotonic(), histograms=False
        ),
    )
    longest = report["idle_gaps"]["returning"]["max"]
    assert longest > 5
    keepalive = [r for r in report["recommendations"] if r["setting"] == "keepalive"]
    assert [r["value"] for r in keepalive] == [5 // 2]
    loud = [w for w in report["warnings"] if w.startswith("!!!")]
    assert len(loud) == len(sb.servers)
    for server, warning in zip(sb.servers, loud, strict=True):
        lost = next(b for b in report["backends"] if b["name"] == server.name)
        assert warning.startswith(f"!!! {server.name}: keepalive is 0 (disabled)")
        assert f"({lost['lost_while_idle']['count']} backend connections already lost" in warning
        assert "Lost connection to the primary server while connection was idle" in warning
    assert "histograms" not in report


def test_report_histograms_add_up(observed: dict[str, Any]) -> None:
    lp: LiveProxy = observed["lp"]
    obs = lp.proxy.services[SERVICE].observations
    report = snapshot(
        lp, lambda: report_for_service(obs, SERVICE, [], ProxySettings(), time.monotonic())
    )
    histograms = report["histograms"]
    assert (
        sum(c for _, c in histograms["returning_gaps"]) == report["idle_gaps"]["returning"]["count"]
    )
    assert sum(c for _, c in histograms["lifetimes"]) == report["sessions"]["closed"]
    assert {r: sum(c for _, c in h) for r, h in histograms["final_gaps"].items()} == report[
        "sessions"
    ]["closed_by"]
