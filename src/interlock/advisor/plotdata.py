"""What ``--plot`` draws, computed without matplotlib (pure: values in, points out).

* The straight-line model of Method 1: connections growing from 0 at the average and at the
  peak rate until ``max_connections``, with the four critical lifetimes marked on their line
  (EXP and CUR on the average line, PAS and POL on the peak line: the point ``(lifetime,
  rate x lifetime)``), the moments each line reaches its limit, ``Max_used_connections``, and
  the recommended ``wait_timeout`` (strict, middle, lenient).
* Where the server was sampled (live mode, a status file with several readings): the real
  ``Threads_connected`` curve, and the connection rate between readings, on the same time axis
  (seconds from the first reading).
* From the proxy's :class:`SessionObservations` (Method 2): the session lifetime histogram and
  the idle-gap histograms (gaps after which the client came back, and the last gap before a
  close), regrouped from the recorder's 2 % buckets into ``BINS_PER_DECADE`` per decade, with
  their percentiles.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from interlock.advisor.analysis import Analysis
from interlock.advisor.histogram import Histogram, Summary
from interlock.advisor.observations import SessionObservations

BINS_PER_DECADE = 5
Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Marker:
    label: str  # "EXP 63 s"
    t: float
    connections: float


@dataclass(frozen=True, slots=True)
class RateLine:
    label: str  # "average 0.8000 cps"
    rate: float
    reaches_limit_at: float  # max_connections / rate
    points: tuple[Point, ...]  # (0, 0) -> (reaches_limit_at, max_connections)


@dataclass(frozen=True, slots=True)
class Model:
    max_connections: int
    max_used_connections: int
    average: RateLine
    peak: RateLine
    peak_label: str  # measured / estimated / the average
    lifetimes: tuple[Marker, ...]  # EXP, CUR, PAS, POL
    limits: tuple[Marker, ...]  # where each line reaches Max_used_connections / max_connections
    wait_timeout: tuple[tuple[str, int], ...]  # (strict|middle|lenient, seconds)
    lpt: int


@dataclass(frozen=True, slots=True)
class Sampled:
    """Readings of a live server or a status file; time in seconds from the first reading."""

    threads: tuple[Point, ...]  # Threads_connected
    rates: tuple[tuple[float, float, float], ...]  # (from, to, connections per second)


@dataclass(frozen=True, slots=True)
class Bars:
    label: str
    edges: tuple[float, ...]  # len(counts) + 1, seconds, logarithmic
    counts: tuple[int, ...]
    summary: Summary


@dataclass(frozen=True, slots=True)
class HistogramPanel:
    title: str
    bars: tuple[Bars, ...]
    marks: tuple[tuple[str, float], ...]  # vertical lines: (label, seconds)


@dataclass(frozen=True, slots=True)
class PlotData:
    title: str
    model: Model
    sampled: Sampled | None
    panels: tuple[HistogramPanel, ...]


def rate_line(label: str, rate: float, limit: int) -> RateLine:
    reach = limit / rate
    return RateLine(label, rate, reach, ((0.0, 0.0), (reach, float(limit))))


def _merged(markers: tuple[Marker, ...]) -> tuple[Marker, ...]:
    """One marker per point: ``EXP 181 s = POL 181 s`` when the average is the peak."""
    points: dict[tuple[float, float], list[str]] = {}
    for marker in markers:
        points.setdefault((marker.t, marker.connections), []).append(marker.label)
    return tuple(Marker(" = ".join(labels), t, y) for (t, y), labels in points.items())


def model_of(analysis: Analysis) -> Model:
    r, load = analysis.result, analysis.load
    avg, peak = float(r.avg_cps), float(r.peak_cps)
    limit, used = load.max_connections, load.max_used_connections
    lifetimes = _merged((
        Marker(f"EXP {r.exp} s", r.exp, avg * r.exp),
        Marker(f"CUR {r.cur} s", r.cur, avg * r.cur),
        Marker(f"PAS {r.pas} s", r.pas, peak * r.pas),
        Marker(f"POL {r.pol} s", r.pol, peak * r.pol),
    ))
    limits = (
        Marker("max_connections at average rate", limit / avg, limit),
        Marker("Max_used_connections at average rate", used / avg, used),
        Marker("Max_used_connections at peak rate", used / peak, used),
        Marker("max_connections at peak rate", limit / peak, limit),
    )
    return Model(
        max_connections=limit,
        max_used_connections=used,
        average=rate_line(f"average {avg:.4f} cps", avg, limit),
        peak=rate_line(f"peak {peak:.4f} cps", peak, limit),
        peak_label=r.peak_source.value,
        lifetimes=lifetimes,
        limits=limits,
        wait_timeout=(("strict", r.strict), ("middle", r.middle), ("lenient", r.lenient)),
        lpt=r.lpt,
    )


def sampled_of(
    connections: Sequence[tuple[float, int]], threads: Sequence[tuple[float, int]]
) -> Sampled | None:
    """The sampled curves, or ``None`` with fewer than two readings of either."""
    if len(connections) < 2 and len(threads) < 2:
        return None
    starts = [series[0][0] for series in (connections, threads) if series]
    origin = min(starts)
    rates = tuple(
        (t0 - origin, t1 - origin, (c1 - c0) / (t1 - t0))
        for (t0, c0), (t1, c1) in itertools.pairwise(connections)
        if t1 > t0 and c1 >= c0  # a restart (counter went down) is skipped
    )
    return Sampled(tuple((t - origin, float(n)) for t, n in threads), rates)


def log_bins(histogram: Histogram) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """The histogram's buckets regrouped into ``BINS_PER_DECADE`` bins per decade.

    A recorder bucket goes into the coarse bin that holds its upper edge (its values are at most
    2 % below that).  Edges run from the decade below the smallest value to the one above the
    largest; the counts add up to ``histogram.count``."""
    buckets = [(edge, count) for edge, count in histogram.counts() if count]
    if not buckets:
        return (), ()
    floor = histogram.min_value
    first = math.floor(math.log10(max(floor, buckets[0][0] / histogram.growth)) * BINS_PER_DECADE)
    last = math.ceil(math.log10(max(floor, buckets[-1][0])) * BINS_PER_DECADE)
    last = max(last, first + 1)
    edges = tuple(10 ** (k / BINS_PER_DECADE) for k in range(first, last + 1))
    counts = [0] * (len(edges) - 1)
    for edge, count in buckets:
        index = math.ceil(math.log10(max(floor, edge)) * BINS_PER_DECADE - 1e-9) - first - 1
        counts[min(max(index, 0), len(counts) - 1)] += count
    return edges, tuple(counts)


def _bars(label: str, histogram: Histogram) -> Bars:
    edges, counts = log_bins(histogram)
    return Bars(label, edges, counts, histogram.summary())


def _percentile_marks(summary: Summary, of: str) -> tuple[tuple[str, float], ...]:
    if summary.count == 0:
        return ()
    return tuple(
        (f"{name} {of}", value)
        for name, value in (("p50", summary.p50), ("p99", summary.p99), ("p99.9", summary.p999))
    )


def method2_panels(
    observations: SessionObservations, analysis: Analysis | None = None
) -> tuple[HistogramPanel, ...]:
    """Session lifetimes, and idle gaps (returning and final) with Method 1's wait_timeout and
    the server's current one marked when known."""
    lifetimes = _bars("session lifetime", observations.lifetimes)
    final = Histogram()
    for histogram in observations.final_gaps.values():
        final.merge(histogram)
    returning = _bars("idle gap, client came back", observations.returning_gaps)
    closing = _bars("last idle gap before the close", final)
    gap_marks = list(_percentile_marks(returning.summary, "(came back)"))
    if analysis is not None:
        gap_marks.append(("method 1 wait_timeout", float(analysis.result.middle)))
        if analysis.variables is not None:
            gap_marks.append(("current wait_timeout", float(analysis.variables.wait_timeout)))
    return (
        HistogramPanel("Session lifetimes (proxy)", (lifetimes,),
                       _percentile_marks(lifetimes.summary, "lifetime")),
        HistogramPanel("Idle gaps (proxy)", (returning, closing), tuple(gap_marks)),
    )


def plot_data(
    analysis: Analysis,
    source: str,
    sampled: Sampled | None = None,
    observations: SessionObservations | None = None,
) -> PlotData:
    panels = method2_panels(observations, analysis) if observations is not None else ()
    return PlotData(f"interlock advise: {source}", model_of(analysis), sampled, panels)
