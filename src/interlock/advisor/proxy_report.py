"""Method 2 for a running proxy: the report the admin API and ``interlock ctl advise`` give.

Each service's sessions record into its :class:`SessionObservations`
(``ServiceRuntime.observations``, see docs/advisor.md).  The API calls, on the proxy's event
loop (the recorder is not thread-safe)::

    report = report_for_service(service.observations, service.name,
                                *service.advisor_settings(variables), now=time.monotonic())
    json.dumps(report)          # /v1/advisor
    render_report(report)       # the text of `interlock ctl advise` (from the JSON, so a
                                # client can render what the API returned)

``now`` is ``time.monotonic()`` (the recorder's clock): it dates "idle now" and the average
connection rates.  Everything in the report is plain JSON (str, int, float, list, dict).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from interlock.advisor.histogram import Histogram, Summary
from interlock.advisor.method2 import (
    BackendSettings,
    Method2Report,
    ProxySettings,
    Recommendation,
    method2,
)
from interlock.advisor.observations import SessionObservations

SUMMARY_KEYS = ("count", "p50", "p90", "p99", "p99.9", "max")


def _summary(summary: Summary) -> dict[str, float | int]:
    return summary.as_dict()


def _buckets(histogram: Histogram) -> list[list[float]]:
    """``[upper edge, count]`` per non-empty bucket (at most about 1,000)."""
    return [[edge, count] for edge, count in histogram.counts()]


def _recommendation(rec: Recommendation) -> dict[str, Any]:
    return {"setting": rec.setting, "value": rec.value, "reason": rec.reason,
            "backend": rec.backend}


def _config_lines(service: str, recs: Sequence[Recommendation]) -> dict[str, list[str]]:
    """The lines that persist the recommendations: my.cnf of each backend, the proxy's
    service section."""
    # (method2 gives every backend the same wait_timeout)
    wait = next((r.value for r in recs if r.setting == "wait_timeout"), None)
    mycnf = ["[mariadb]", f"wait_timeout = {wait}"] if wait is not None else []
    proxy = [f"connection_keepalive={r.value}s" for r in recs if r.setting == "keepalive"]
    proxy += [f"wait_timeout={r.value}s" for r in recs if r.setting == "client_idle_timeout"]
    return {"mycnf": mycnf, "interlock": [f"[{service}]", *proxy] if proxy else []}


def report_json(
    report: Method2Report,
    observations: SessionObservations,
    service: str,
    backends: Sequence[BackendSettings],
    proxy: ProxySettings,
    now: float,
    histograms: bool = True,
) -> dict[str, Any]:
    """The JSON form of a :class:`Method2Report` (and the recorder's histograms)."""
    counts = report.counts
    idle_now = list(observations.idle_now(now))
    settings = {b.name: b for b in backends}
    out: dict[str, Any] = {
        "service": service,
        "method": 2,
        "sessions": {
            "opened": counts.opened, "closed": counts.closed, "open_now": counts.open_now,
            "closed_by": {str(reason): n for reason, n in counts.by_reason},
        },
        "idle_now": {"sessions": len(idle_now), "longest": max(idle_now, default=0.0)},
        "lifetimes": _summary(report.lifetimes),
        "statements_per_session": _summary(report.statements),
        "idle_gaps": {
            "returning": _summary(report.returning_gaps),
            "final": {str(reason): _summary(s) for reason, s in report.final_gaps},
        },
        "backends": [
            {
                "name": b.name,
                "connections": b.connections,
                "peak_per_second": b.peak_per_second,
                "average_per_second": b.average_per_second,
                "lost_while_idle": _summary(b.lost_while_idle),
                "wait_timeout": settings[b.name].wait_timeout if b.name in settings else None,
                "max_connections": (settings[b.name].max_connections
                                    if b.name in settings else None),
                "ceiling_seconds": b.ceiling,
            }
            for b in report.backends
        ],
        "proxy": {"keepalive": proxy.keepalive,
                  "client_idle_timeout": proxy.client_idle_timeout},
        "recommendations": [_recommendation(r) for r in report.recommendations],
        "warnings": list(report.warnings),
        **_config_lines(service, report.recommendations),
    }
    if histograms:
        out["histograms"] = {
            "lifetimes": _buckets(observations.lifetimes),
            "returning_gaps": _buckets(observations.returning_gaps),
            "final_gaps": {str(r): _buckets(h) for r, h in sorted(observations.final_gaps.items())},
        }
    return out


def report_for_service(
    observations: SessionObservations,
    service: str,
    backends: Sequence[BackendSettings],
    proxy: ProxySettings,
    now: float,
    histograms: bool = True,
) -> dict[str, Any]:
    """Method 2 for one service, as one JSON-serialisable object (see :func:`report_json`).

    ``backends``: each server's ``wait_timeout`` and ``max_connections`` where known (the
    sessions learn ``wait_timeout``; ``max_connections`` needs Method 1's
    ``SHOW GLOBAL VARIABLES``); ``proxy``: the service's ``connection_keepalive`` and client
    idle timeout; ``now``: ``time.monotonic()``; ``histograms``: include the buckets."""
    report = method2(observations, list(backends), proxy, now)
    return report_json(report, observations, service, backends, proxy, now, histograms)


def _seconds(value: float) -> str:
    if value >= 100:
        return f"{value:.0f} s"
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value * 1000:.1f} ms"


def _count(value: float) -> str:
    # a count's percentile is its bucket's upper edge: the whole number below it is still an
    # upper bound of the count (and exact while buckets are narrower than 1)
    return str(math.floor(value))


def _summary_line(label: str, s: dict[str, Any], unit: Callable[[float], str] = _seconds) -> str:
    if not s["count"]:
        return f"  {label:<34} none yet"
    return (f"  {label:<34} n={s['count']:<6} p50 {unit(s['p50'])}  p90 {unit(s['p90'])}"
            f"  p99 {unit(s['p99'])}  p99.9 {unit(s['p99.9'])}  max {unit(s['max'])}")


def _backend_line(b: dict[str, Any]) -> str:
    line = (f"  {b['name']:<12} {b['connections']} connections, peak {b['peak_per_second']}/s,"
            f" average {b['average_per_second']:.3f}/s,"
            f" lost while idle {b['lost_while_idle']['count']}")
    if b["lost_while_idle"]["count"]:
        line += f" (longest idle {_seconds(b['lost_while_idle']['max'])})"
    known = [f"{k} {b[k]}" for k in ("wait_timeout", "max_connections") if b[k] is not None]
    if known:
        line += "; " + ", ".join(known)
    if b["ceiling_seconds"] is not None:
        line += f"; max_connections reached in {b['ceiling_seconds']} s at the peak rate"
    return line


def render_report(report: dict[str, Any]) -> str:
    """The text form of :func:`report_for_service`'s result."""
    sessions = report["sessions"]
    closed_by = ", ".join(f"{reason} {n}" for reason, n in sessions["closed_by"].items())
    lines = [
        f"Interlock advisor, method 2: what the proxy observed (service {report['service']})",
        "",
        f"  sessions: {sessions['opened']} opened, {sessions['closed']} closed"
        f" ({closed_by or 'none'}), {sessions['open_now']} open"
        f" (longest idle now {_seconds(report['idle_now']['longest'])})",
        _summary_line("session lifetime", report["lifetimes"]),
        _summary_line("statements per session", report["statements_per_session"], _count),
        _summary_line("idle gap, client came back", report["idle_gaps"]["returning"]),
        *(_summary_line(f"last idle gap ({reason})", s)
          for reason, s in report["idle_gaps"]["final"].items()),
        "",
        "Backends:",
        *(_backend_line(b) for b in report["backends"]),
        "",
    ]
    proxy = report["proxy"]
    lines.append(f"Proxy: connection_keepalive {proxy['keepalive']:g} s, client idle timeout"
                 f" {proxy['client_idle_timeout']:g} s (0: off)")
    lines += ["", "Recommendations:"]
    for warning in report["warnings"]:
        lines.append(f"  [WARNING] {warning}")
    for rec in report["recommendations"]:
        where = f" on {rec['backend']}" if rec["backend"] else ""
        lines.append(f"  {rec['setting']}{where} = {rec['value']} s: {rec['reason']}")
    if not report["recommendations"] and not report["warnings"]:
        lines.append("  none yet")
    if report["mycnf"]:
        lines += ["", "To persist them (my.cnf of the backends):",
                  *(f"  {line}" for line in report["mycnf"])]
    if report["interlock"]:
        lines += ["", "In the proxy's configuration:",
                  *(f"  {line}" for line in report["interlock"])]
    return "\n".join(lines) + "\n"


def text_for_service(
    observations: SessionObservations,
    service: str,
    backends: Sequence[BackendSettings],
    proxy: ProxySettings,
    now: float,
) -> str:
    """:func:`render_report` of :func:`report_for_service` (without the histograms)."""
    return render_report(report_for_service(observations, service, backends, proxy, now,
                                            histograms=False))
