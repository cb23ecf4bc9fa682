"""Method 2: recommendations from what the proxy observed (:class:`SessionObservations`).

* backend ``wait_timeout``: above the p99.9 idle gap of sessions that came back (plus
  ``MARGIN``), so no healthy client is cut off, and at most ``max_connections / peak rate``
  seconds, so that sessions abandoned at the peak rate are reclaimed before the limit is
  reached (Little's law: connections held = rate x time held);
* the proxy's keepalive: below every backend's ``wait_timeout`` (half the smallest, at most
  ``KEEPALIVE_DEFAULT``).  A keepalive of 0, or one not below a backend's ``wait_timeout``
  while sessions sit idle longer than that, is how ``Lost connection to the primary server
  while connection was idle`` happens: that gets a loud warning;
* the proxy's client idle timeout: with the keepalive holding the backend connections open, it
  is what reclaims abandoned sessions, so it takes the same bounds as ``wait_timeout``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from interlock.advisor.histogram import Summary
from interlock.advisor.observations import CloseReason, SessionCounts, SessionObservations

MARGIN = 1.25  # recommended timeouts are 25 % above the p99.9 returning gap
FLOOR = 10  # seconds
KEEPALIVE_DEFAULT = 300  # MaxScale's connection_keepalive default
FEW_GAPS = 1000  # below this many gaps, p99.9 is the maximum


@dataclass(frozen=True, slots=True)
class BackendSettings:
    name: str
    wait_timeout: int | None = None
    max_connections: int | None = None


@dataclass(frozen=True, slots=True)
class ProxySettings:
    keepalive: float = KEEPALIVE_DEFAULT  # seconds; 0 = disabled
    client_idle_timeout: float = 0.0  # seconds; 0 = none


@dataclass(frozen=True, slots=True)
class BackendFigures:
    name: str
    connections: int
    peak_per_second: int
    average_per_second: float
    lost_while_idle: Summary
    ceiling: int | None  # max_connections / peak rate, when both are known


@dataclass(frozen=True, slots=True)
class Recommendation:
    setting: str  # "wait_timeout", "keepalive", "client_idle_timeout"
    value: int
    reason: str
    backend: str | None = None


@dataclass(frozen=True, slots=True)
class Method2Report:
    counts: SessionCounts
    lifetimes: Summary
    returning_gaps: Summary
    final_gaps: tuple[tuple[CloseReason, Summary], ...]
    statements: Summary
    backends: tuple[BackendFigures, ...]
    recommendations: tuple[Recommendation, ...]
    warnings: tuple[str, ...]


def _ceiling(settings: BackendSettings | None, peak: int) -> int | None:
    if settings is None or settings.max_connections is None or peak <= 0:
        return None
    return settings.max_connections // peak


def backend_figures(
    obs: SessionObservations, settings: dict[str, BackendSettings], now: float
) -> tuple[BackendFigures, ...]:
    return tuple(
        BackendFigures(
            name, rate.total, rate.peak, rate.average(now), rate.lost_idle.summary(),
            _ceiling(settings.get(name), rate.peak),
        )
        for name, rate in sorted(obs.backends.items())
    )


def healthy_timeout(gaps: Summary) -> tuple[int, str]:
    """The smallest timeout that spares the clients that came back, and why."""
    value = max(FLOOR, math.ceil(gaps.p999 * MARGIN))
    basis = "the longest" if gaps.count < FEW_GAPS else "p99.9 of the"
    return value, (
        f"{basis} {gaps.count} idle gaps after which the client came back is"
        f" {gaps.p999:.1f} s; +{round((MARGIN - 1) * 100)} % margin"
    )


def _timeouts(
    gaps: Summary, figures: tuple[BackendFigures, ...], names: list[str]
) -> tuple[list[Recommendation], list[str], int | None]:
    if gaps.count == 0:
        return [], ["no session has come back from an idle gap yet: no timeout advice"], None
    value, why = healthy_timeout(gaps)
    by_name = {f.name: f for f in figures}
    recs, warnings = [], []
    for name in names:
        fig = by_name.get(name)
        reason = why
        if fig is not None and fig.ceiling is not None:
            ceiling = fig.ceiling
            reason += (
                f"; at the peak rate of {fig.peak_per_second}/s max_connections is reached"
                f" after {ceiling} s"
            )
            if value > ceiling:
                warnings.append(
                    f"{name}: healthy clients stay idle longer ({value} s needed) than the"
                    f" limit allows at the peak connection rate ({ceiling} s): the server needs"
                    " more connections (or the clients a pool), not a shorter timeout"
                )
        recs.append(Recommendation("wait_timeout", value, reason, name))
    recs.append(Recommendation(
        "client_idle_timeout", value,
        why + "; with the keepalive holding backend connections open, this is what reclaims"
        " abandoned sessions",
    ))
    return recs, warnings, value


def _longest_idle(obs: SessionObservations, now: float) -> float:
    finals = [s.max for s in (h.summary() for h in obs.final_gaps.values())]
    return max([obs.returning_gaps.max, *finals, *obs.idle_now(now)], default=0.0)


def _keepalive(
    obs: SessionObservations,
    backends: list[BackendSettings],
    proxy: ProxySettings,
    recommended_wait: int | None,
    now: float,
) -> tuple[list[Recommendation], list[str]]:
    waits = [b.wait_timeout for b in backends if b.wait_timeout is not None]
    smallest = min(waits) if waits else recommended_wait
    if smallest is None:
        return [], []
    value = max(1, min(KEEPALIVE_DEFAULT, smallest // 2))
    recs = [Recommendation(
        "keepalive", value,
        f"below every backend's wait_timeout (smallest {smallest} s): half of it, at most"
        f" {KEEPALIVE_DEFAULT} s",
    )]
    longest = _longest_idle(obs, now)
    warnings = []
    for backend in backends:
        wait = backend.wait_timeout
        if wait is None or (0 < proxy.keepalive < wait):
            continue
        lost = obs.backends[backend.name].lost_idle.count if backend.name in obs.backends else 0
        if longest > wait or lost:
            configured = "0 (disabled)" if proxy.keepalive <= 0 else f"{proxy.keepalive:g} s"
            warnings.append(
                f"!!! {backend.name}: keepalive is {configured}, not below its wait_timeout"
                f" = {wait} s, while sessions sit idle up to {longest:.0f} s ({lost} backend"
                " connections already lost while idle): that is how 'Lost connection to the"
                f" primary server while connection was idle' happens; set keepalive = {value} s"
            )
    return recs, warnings


def method2(
    obs: SessionObservations,
    backends: list[BackendSettings],
    proxy: ProxySettings,
    now: float,
) -> Method2Report:
    settings = {b.name: b for b in backends}
    figures = backend_figures(obs, settings, now)
    gaps = obs.returning_gaps.summary()
    names = [b.name for b in backends] or [f.name for f in figures]
    recs, warnings, wait = _timeouts(gaps, figures, names)
    if wait is not None and 0 < proxy.client_idle_timeout < wait:
        warnings.append(
            f"the proxy's client idle timeout ({proxy.client_idle_timeout:g} s) is below the"
            f" {wait} s that spares clients which come back: it cuts healthy clients off"
        )
    keep_recs, keep_warnings = _keepalive(obs, backends, proxy, wait, now)
    return Method2Report(
        counts=obs.counts(),
        lifetimes=obs.lifetimes.summary(),
        returning_gaps=gaps,
        final_gaps=tuple(sorted((r, h.summary()) for r, h in obs.final_gaps.items())),
        statements=obs.statements.summary(),
        backends=figures,
        recommendations=tuple(recs + keep_recs),
        warnings=tuple(keep_warnings + warnings),
    )
