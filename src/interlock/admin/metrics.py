"""``GET /metrics``: the proxy's counters in the Prometheus text exposition format (0.0.4).

Every metric is named ``interlock_...`` and has its HELP and TYPE lines; label values are
escaped (backslash, double quote, newline).  Nothing is counted here: a scrape reads counters
the proxy keeps anyway, so the relay pays at most one integer increment per statement for them:

- per server (label ``server``): ``ServerLoad`` (``routing.topology``) summed over the topology
  sources that route to it (connections, connections opened, operations in flight, statements
  routed as reads / writes and the ERR answers to them, response-time average; reads, writes
  and errors are counted by ``readwritesplit`` sessions), and the monitor's view (state words,
  up, replication lag, GTID sequence per domain);
- per service (label ``service``): sessions (current, opened), statements per routing reason
  and as reads / writes (``READ_REASONS``), transaction replays and their failures,
  reconnections, causal-read GTID waits and their timeouts;
- per monitor (label ``monitor``): ticks, the last tick's duration, cluster operations by kind
  and result (failover, switchover, rejoin, enforce; ok / failed), whether a switchover or
  failover stands (``monitor_operation_pending``: under way, or left by a dead leader; with
  ``cluster=etcd`` read from the record in etcd at the scrape, admin/operation_view.py);
- the process: resident memory, open file descriptors, CPU seconds, start time, event-loop lag
  (:class:`LoopLag`, a task that measures how late a periodic sleep wakes up).

Access needs authentication like the rest of the admin API (a ``basic`` account is enough).
"""

from __future__ import annotations

import asyncio
import math
import os
import resource
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from interlock import __version__
from interlock.admin import views
from interlock.admin.operation_view import operations_of, pending
from interlock.admin.routes import Route
from interlock.monitor.states import STATE_WORDS, state_words
from interlock.monitor.steps import PlanKind
from interlock.routing.decision import Reason
from interlock.routing.topology import READ_REASONS, ServerLoad

if TYPE_CHECKING:
    from interlock.admin.context import AdminContext
    from interlock.monitor.cluster import ServerView
    from interlock.server.app import Proxy
    from interlock.server.service import ServiceRuntime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "interlock_"

Labels = tuple[tuple[str, str], ...]
Sample = tuple[Labels, float]


@dataclass(frozen=True, slots=True)
class Family:
    """One metric: its name (without the prefix), type, help text and samples."""

    name: str
    kind: str  # "gauge" or "counter" (a counter's name ends in _total)
    help: str
    samples: tuple[Sample, ...]


# -- the text format ------------------------------------------------------------------------


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render(families: Iterable[Family]) -> str:
    """The exposition text; a family without samples is left out."""
    lines: list[str] = []
    for family in families:
        if not family.samples:
            continue
        name = PREFIX + family.name
        lines.append(f"# HELP {name} {escape_help(family.help)}")
        lines.append(f"# TYPE {name} {family.kind}")
        for labels, value in family.samples:
            if labels:
                inner = ",".join(f'{key}="{escape_label(val)}"' for key, val in labels)
                lines.append(f"{name}{{{inner}}} {format_value(value)}")
            else:
                lines.append(f"{name} {format_value(value)}")
    return "\n".join(lines) + "\n"


# -- servers ----------------------------------------------------------------------------------

_COUNTED = ("connections", "current_operations", "total_connections", "reads", "writes",
            "errors")


def server_totals(proxy: Proxy, name: str) -> ServerLoad:
    """``name``'s live counters summed over every topology source that routes to it."""
    total = ServerLoad()
    for source in views.sources(proxy):
        load = source.loads.get(name)
        if load is None:
            continue
        for counter in _COUNTED:
            setattr(total, counter, getattr(total, counter) + getattr(load, counter))
        if load.response_time_ema is not None:
            ema = total.response_time_ema
            total.response_time_ema = max(ema, load.response_time_ema) if ema is not None \
                else load.response_time_ema
    return total


def server_counters(proxy: Proxy, name: str) -> dict[str, int]:
    """The counters the server resource's ``statistics`` adds (the same numbers as here)."""
    load = server_totals(proxy, name)
    return {"total_connections": load.total_connections, "reads": load.reads,
            "writes": load.writes, "errors": load.errors}


def replication_lag(view: ServerView, primary: str | None) -> float | None:
    """Seconds behind the primary as the monitor saw it (the primary: 0; None: unknown)."""
    obs = view.observation if view.running else None
    if obs is None:
        return None
    if view.name == primary:
        return 0
    lags = [s.seconds_behind_master for s in obs.slaves if s.seconds_behind_master is not None]
    return max(lags) if lags else None


def server_families(proxy: Proxy) -> Iterator[Family]:
    names = list(proxy.config.servers)
    totals = {name: server_totals(proxy, name) for name in names}

    def per_server(attribute: str) -> tuple[Sample, ...]:
        return tuple(((("server", n),), getattr(totals[n], attribute)) for n in names)

    yield Family("server_connections", "gauge", "Open backend connections to the server.",
                 per_server("connections"))
    yield Family("server_connections_total", "counter",
                 "Backend connections opened to the server.", per_server("total_connections"))
    yield Family("server_active_operations", "gauge",
                 "Statements sent to the server and not answered yet.",
                 per_server("current_operations"))
    yield Family("server_queries_total", "counter",
                 "Statements routed to the server (readwritesplit), by kind: read (routed as a "
                 "read) or write (any other routing reason).",
                 tuple(sample for n in names for sample in (
                     ((("server", n), ("kind", "read")), totals[n].reads),
                     ((("server", n), ("kind", "write")), totals[n].writes))))
    yield Family("server_routed_queries_total", "counter",
                 "Statements routed to the server by any router (readconnroute: every client "
                 "command; readwritesplit: reads + writes); statistics.routed_queries of "
                 "/v1/servers.",
                 tuple(((("server", n),), views.routed_queries(proxy, n)) for n in names))
    yield Family("server_errors_total", "counter",
                 "ERR answers of the server to statements routed to it (readwritesplit).",
                 per_server("errors"))
    yield Family("server_response_time_seconds", "gauge",
                 "Moving average of the server's response time (readwritesplit).",
                 tuple(((("server", n),), ema) for n in names
                       if (ema := totals[n].response_time_ema) is not None))
    yield from _monitored_server_families(proxy, names)


def _monitored_server_families(proxy: Proxy, names: list[str]) -> Iterator[Family]:
    states: list[Sample] = []
    up: list[Sample] = []
    lag: list[Sample] = []
    gtid: list[Sample] = []
    for name in names:
        view = views.server_view(proxy, name)
        if view is None:
            continue  # no monitor covers it: static roles, nothing observed
        monitor = views.monitor_of_server(proxy, name)
        primary = monitor.cluster.primary if monitor is not None and monitor.cluster else None
        words = set(state_words(view.states))
        states.extend(((("server", name), ("state", word)), int(word in words))
                      for _, word in STATE_WORDS)
        up.append(((("server", name),), int(view.running)))
        seconds = replication_lag(view, primary)
        if seconds is not None:
            lag.append(((("server", name),), seconds))
        if view.running and view.observation is not None:
            gtid.extend(((("server", name), ("domain", str(g.domain))), g.sequence)
                        for g in view.observation.gtid_current_pos.gtids)
    yield Family("server_state", "gauge",
                 "The server's state words as the monitor shows them (1: has it).",
                 tuple(states))
    yield Family("server_up", "gauge", "1 when the monitor's last probe of the server succeeded.",
                 tuple(up))
    yield Family("server_replication_lag_seconds", "gauge",
                 "Seconds behind the primary (Seconds_Behind_Master; the primary: 0).",
                 tuple(lag))
    yield Family("server_gtid_sequence", "gauge",
                 "Sequence number of the server's gtid_current_pos, per replication domain.",
                 tuple(gtid))


# -- services ---------------------------------------------------------------------------------


def service_families(proxy: Proxy) -> Iterator[Family]:
    services = list(proxy.services.values())
    current = dict.fromkeys(proxy.services, 0)
    for client in views.clients(proxy):
        if client.session is not None and client.ctx.service.name in current:
            current[client.ctx.service.name] += 1

    def per_service(value: Callable[[ServiceRuntime], float]) -> tuple[Sample, ...]:
        return tuple(((("service", s.name),), value(s)) for s in services)

    yield Family("service_sessions", "gauge", "Client sessions of the service now.",
                 tuple(((("service", s.name),), current[s.name]) for s in services))
    yield Family("service_sessions_total", "counter", "Client sessions the service opened.",
                 per_service(lambda s: s.total_sessions))
    yield Family("service_queries_total", "counter",
                 "Statements the service routed (readwritesplit), by kind: read (routed as a "
                 "read) or write (any other routing reason).",
                 tuple(sample for s in services for sample in (
                     ((("service", s.name), ("kind", "read")), _routed(s.route_reasons, True)),
                     ((("service", s.name), ("kind", "write")),
                      _routed(s.route_reasons, False)))))
    yield Family("service_routed_queries_total", "counter",
                 "Statements the service routed, any router (readconnroute: every client "
                 "command; readwritesplit: reads + writes).",
                 per_service(lambda s: sum(s.route_servers.values())))
    yield Family("service_route_decisions_total", "counter",
                 "Statements the service routed (readwritesplit), by routing reason.",
                 tuple(((("service", s.name), ("reason", str(reason))), count)
                       for s in services for reason, count in sorted(s.route_reasons.items())))
    yield Family("service_replayed_transactions_total", "counter",
                 "Transactions replayed on a new primary connection.",
                 per_service(lambda s: s.replays))
    yield Family("service_replay_failures_total", "counter",
                 "Transaction replays that failed (the client got an error).",
                 per_service(lambda s: s.replay_failures))
    yield Family("service_reconnections_total", "counter",
                 "Primary connections of sessions replaced after a loss or a primary change.",
                 per_service(lambda s: s.reconnections))
    yield Family("service_causal_read_waits_total", "counter",
                 "Replica reads preceded by a causal_reads GTID wait.",
                 per_service(lambda s: s.causal_waits))
    yield Family("service_causal_read_timeouts_total", "counter",
                 "Causal-read GTID waits that timed out (the read went to the primary).",
                 per_service(lambda s: s.route_reasons.get(Reason.CAUSAL_TIMEOUT, 0)))


def _routed(reasons: dict[str, int], reads: bool) -> int:
    return sum(count for reason, count in reasons.items() if (reason in READ_REASONS) == reads)


# -- monitors ---------------------------------------------------------------------------------


def monitor_families(proxy: Proxy, operations: dict[str, int | None] | None = None
                     ) -> Iterator[Family]:
    """``operations``: per monitor, 1 while a switchover/failover stands, 0 none, None unknown
    (etcd unreadable: no sample)."""
    monitors = list(proxy.monitors.values())
    yield Family("monitor_ticks_total", "counter", "Monitor ticks (probes of every server).",
                 tuple(((("monitor", m.name),), m.ticks) for m in monitors))
    yield Family("monitor_last_tick_duration_seconds", "gauge",
                 "Duration of the latest tick, from probing the servers to publishing.",
                 tuple(((("monitor", m.name),), m.last_tick_seconds) for m in monitors))
    yield Family("monitor_operations_total", "counter",
                 "Cluster operations the monitor ran (failover, switchover, rejoin, enforce "
                 "of read_only), by result.",
                 tuple(((("monitor", m.name), ("operation", kind.value),
                         ("result", "ok" if ok else "failed")), m.outcomes.get((kind, ok), 0))
                       for m in monitors for kind in PlanKind for ok in (True, False)))
    yield Family("monitor_primary", "gauge", "The monitor's primary server (1).",
                 tuple(((("monitor", m.name), ("server", m.cluster.primary)), 1)
                       for m in monitors if m.cluster is not None and m.cluster.primary))
    yield Family("monitor_operation_pending", "gauge",
                 "1 while a switchover or failover of the monitor stands: under way, or left "
                 "unfinished by a leader that died (cluster=etcd); 0 when none.",
                 tuple(((("monitor", name),), value)
                       for name, value in (operations or {}).items() if value is not None))


def cluster_families(proxy: Proxy) -> Iterator[Family]:
    """cluster=etcd (docs/cluster.md): cut off, configuration revision, leadership, instances
    registered (as last read).  Without a cluster store: only cut_off, 0."""
    membership = proxy.membership
    yield Family("cluster_cut_off", "gauge", "1 while this instance is cut off from etcd.",
                 (((), int(not proxy.cluster_ok()[0])),))
    shared = proxy.shared_config
    yield Family("cluster_config_revision", "gauge",
                 "The shared configuration's revision this instance runs.",
                 (((), shared.revision),) if shared is not None else ())
    yield Family("monitor_leader", "gauge", "1 when this instance leads the monitor.",
                 tuple(((("monitor", name),), int(lead.is_leader()))
                       for name, lead in sorted(membership.monitors.items()))
                 if membership is not None else ())
    registry = proxy.instance_registry
    yield Family("cluster_instances", "gauge",
                 "Instances in the registry (as this instance last read it).",
                 (((), len(registry.known.instances)),)
                 if registry is not None and registry.known.read_at is not None else ())


# -- the process ------------------------------------------------------------------------------


class LoopLag:
    """Event-loop lag: every ``interval`` a task sleeps and measures how late it woke up (a
    loop busy with callbacks wakes it late).  ``last``: the latest measurement; ``peak()``: the
    highest of the last ``window`` measurements."""

    def __init__(self, interval: float = 0.5, window: int = 120) -> None:
        self.interval = interval
        self.last = 0.0
        self._recent: deque[float] = deque(maxlen=window)

    async def run(self) -> None:
        interval = self.interval
        while True:
            started = time.monotonic()
            await asyncio.sleep(interval)
            late = max(time.monotonic() - started - interval, 0.0)
            self.last = late
            self._recent.append(late)

    def peak(self) -> float:
        return max(self._recent, default=0.0)


def resident_memory() -> int | None:
    """Resident set size in bytes (``VmRSS`` of /proc/self/status; None elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def open_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # (minus the one listdir used)
    except OSError:
        return None


def process_families(proxy: Proxy, ctx: AdminContext) -> Iterator[Family]:
    yield Family("build_info", "gauge", "Interlock's version (1).",
                 (((("version", __version__),), 1),))
    yield Family("process_start_time_seconds", "gauge",
                 "When the proxy started (its admin listener), in seconds since the epoch.",
                 (((), ctx.started),))
    yield Family("uptime_seconds", "gauge", "Seconds since the proxy (its admin listener) "
                 "started.", (((), ctx.uptime),))
    rss = resident_memory()
    yield Family("process_resident_memory_bytes", "gauge", "Resident memory of the proxy.",
                 (((), rss),) if rss is not None else ())
    fds = open_fds()
    yield Family("process_open_fds", "gauge", "Open file descriptors (sockets included).",
                 (((), fds),) if fds is not None else ())
    yield Family("process_max_fds", "gauge", "The open file descriptor limit (RLIMIT_NOFILE).",
                 (((), resource.getrlimit(resource.RLIMIT_NOFILE)[0]),))
    times = os.times()
    yield Family("process_cpu_seconds_total", "counter", "User and system CPU time used.",
                 (((), times.user + times.system),))
    yield Family("client_connections", "gauge",
                 "Client connections, logged in or logging in.",
                 (((), len(proxy.registry)),))
    lag = proxy.loop_lag
    yield Family("event_loop_lag_seconds", "gauge",
                 "How late the latest periodic event-loop probe woke up.", (((), lag.last),))
    yield Family("event_loop_lag_max_seconds", "gauge",
                 "The highest event-loop lag of the last minute.", (((), lag.peak()),))


def collect(ctx: AdminContext, operations: dict[str, int | None] | None = None
            ) -> Iterator[Family]:
    proxy = ctx.proxy
    yield from process_families(proxy, ctx)
    yield from server_families(proxy)
    yield from service_families(proxy)
    yield from monitor_families(proxy, operations)
    yield from cluster_families(proxy)


async def metrics(ctx: AdminContext, request: web.Request) -> web.Response:
    operations = {name: pending(op) for name, op in (await operations_of(ctx.proxy)).items()}
    body = render(collect(ctx, operations)).encode()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


ROUTES = (
    Route("GET", "/metrics", metrics, "the proxy's metrics in the Prometheus text format"),
)
