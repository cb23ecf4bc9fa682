"""Recommendations from Method 1's figures, each with its reason, and the my.cnf lines.

Pure: everything comes in as values (:class:`Method1Result`, the counters and variables when
known, the memory check).  The value persisted for ``wait_timeout`` is the *middle* one; the
strict and lenient values are its bounds and are always shown next to it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction

from interlock.advisor.figures import Counters, Variables
from interlock.advisor.memory import Estimate, MemoryCheck
from interlock.advisor.method1 import BUSY_PERCENT, Method1Result, PeakSource
from interlock.advisor.units import format_size

ABORT_WARN_PERCENT = 1
INTERACTIVE_FLOOR = 3600  # seconds: a human at the CLI keeps at least an hour when we lower it


class Severity(enum.IntEnum):
    INFO = 0
    ADVICE = 1
    WARNING = 2


@dataclass(frozen=True, slots=True)
class Advice:
    severity: Severity
    topic: str
    text: str
    setting: tuple[str, int] | None = None  # (my.cnf variable, value) to persist


@dataclass(frozen=True, slots=True)
class AbortRates:
    poc: Fraction  # Aborted_clients * 100 / Connections
    pof: Fraction  # Aborted_connects * 100 / Connections


def abort_rates(counters: Counters) -> AbortRates:
    return AbortRates(
        Fraction(counters.aborted_clients * 100, counters.connections),
        Fraction(counters.aborted_connects * 100, counters.connections),
    )


def _pct(value: Fraction) -> str:
    return f"{float(value):.2f}%"


def wait_timeout_advice(result: Method1Result, variables: Variables | None) -> list[Advice]:
    chosen = result.middle
    text = (
        f"wait_timeout = {chosen} s (middle of strict {result.strict} s and lenient"
        f" {result.lenient} s): LPT = {result.lpt} s from {result.lpt_from.value}"
        f" ({result.lpt_reason}); strict = LPT - LPT / cpq"
    )
    if variables is not None:
        text += f"; the server has {variables.wait_timeout} s"
    out = [Advice(Severity.ADVICE, "wait_timeout", text, ("wait_timeout", chosen))]
    if variables is not None and variables.wait_timeout < result.strict:
        out.append(Advice(
            Severity.WARNING, "wait_timeout",
            f"the current wait_timeout = {variables.wait_timeout} s is below even the strict"
            f" value {result.strict} s: healthy idle clients are probably being cut off"
            " (Aborted_clients)",
        ))
    if result.needs_capacity:
        out.append(Advice(
            Severity.WARNING, "capacity",
            "the server needs more capacity (more connections, faster queries or more"
            " servers), not a shorter timeout: " + "; ".join(result.clamped)
            + "; the recommendations are clamped to 10 s",
        ))
    return out


def peak_advice(result: Method1Result) -> list[Advice]:
    if result.peak_source is PeakSource.ESTIMATED:
        return [Advice(
            Severity.INFO, "peak",
            f"peak cps {float(result.peak_cps):.4f} is an estimate (1.5 x average): nothing was"
            " sampled; sample the server (--sample 60s) or give --max-cps for a measured one",
        )]
    if result.peak_source is PeakSource.AVERAGE and result.measured_peak is not None:
        return [Advice(
            Severity.INFO, "peak",
            f"the sampled window's peak ({float(result.measured_peak):.4f} cps) is below the"
            " average since start; the average is used as the peak (sample a busier period)",
        )]
    return []


def limit_advice(counters: Counters | None, variables: Variables | None) -> list[Advice]:
    if counters is None or variables is None:
        return []
    if counters.max_used_connections >= variables.max_connections:
        return [Advice(
            Severity.WARNING, "capacity",
            f"Max_used_connections = {counters.max_used_connections} has reached max_connections"
            f" = {variables.max_connections}: clients have had 'Too many connections' errors",
        )]
    return []


def abort_advice(rates: AbortRates, variables: Variables | None) -> list[Advice]:
    out: list[Advice] = []
    if rates.poc > ABORT_WARN_PERCENT:
        cut = "" if variables is None else f" (wait_timeout = {variables.wait_timeout} s)"
        out.append(Advice(
            Severity.WARNING, "aborts",
            f"POC = {_pct(rates.poc)} of connections were aborted: clients leave without"
            f" closing (no close() before exit, killed processes) or timeouts are too short{cut};"
            " the error log's 'Aborted connection' lines (log_warnings >= 2) name them",
        ))
    if rates.pof > ABORT_WARN_PERCENT:
        slow = "" if variables is None else f" (connect_timeout = {variables.connect_timeout} s)"
        out.append(Advice(
            Severity.WARNING, "aborts",
            f"POF = {_pct(rates.pof)} of connection attempts failed: bad credentials, unknown"
            f" hosts or missing privileges, or clients too slow for connect_timeout{slow}",
        ))
    if not out:
        out.append(Advice(
            Severity.INFO, "aborts",
            f"abort rates are low (POC {_pct(rates.poc)}, POF {_pct(rates.pof)})",
        ))
    return out


def interactive_advice(result: Method1Result, variables: Variables | None) -> list[Advice]:
    if variables is None:
        return []
    chosen, current = result.middle, variables.interactive_timeout
    if current < chosen:
        return [Advice(
            Severity.ADVICE, "interactive_timeout",
            f"interactive_timeout = {current} s is below the recommended wait_timeout {chosen} s:"
            " a person at the mariadb CLI would be cut off sooner than an application",
            ("interactive_timeout", chosen),
        )]
    busy = result.c_percent >= BUSY_PERCENT
    lowered = max(chosen, INTERACTIVE_FLOOR)
    if busy and current > lowered:
        return [Advice(
            Severity.ADVICE, "interactive_timeout",
            f"interactive_timeout = {current} s keeps forgotten CLI sessions for a long time on a"
            f" server running at C% = {float(result.c_percent):.1f}; lower it to {lowered} s",
            ("interactive_timeout", lowered),
        )]
    return [Advice(
        Severity.INFO, "interactive_timeout",
        f"interactive_timeout = {current} s applies only to interactive clients (the mariadb"
        " CLI), which get it instead of wait_timeout; it can stay as it is",
    )]


def _estimate_text(name: str, estimate: Estimate) -> str:
    return (
        f"{name} {format_size(estimate.global_bytes)} + {format_size(estimate.per_connection)}"
        f" x {estimate.max_connections} = {format_size(estimate.total)}"
    )


def memory_advice(check: MemoryCheck) -> list[Advice]:
    estimate = check.current or check.classic
    if estimate is None:
        return [Advice(
            Severity.INFO, "memory",
            "memory check skipped: buffer sizes missing (" + ", ".join(check.missing) + ")",
        )]
    which = "current estimate" if check.current is not None else "classic estimate"
    if check.machine is None:
        return [Advice(
            Severity.INFO, "memory",
            f"{_estimate_text(which, estimate)}; give --memory SIZE to compare with the machine",
        )]
    fit = estimate.max_connections_that_fit
    if estimate.fits:
        return [Advice(
            Severity.INFO, "memory",
            f"{_estimate_text(which, estimate)} fits in {format_size(check.machine)}"
            f" (up to max_connections = {fit})",
        )]
    setting = ("max_connections", fit) if fit else None
    return [Advice(
        Severity.WARNING, "memory",
        f"{_estimate_text(which, estimate)} exceeds the machine's {format_size(check.machine)}:"
        f" max_connections = {fit} fits (or shrink the buffers)",
        setting,
    )]


def mycnf_lines(advice: list[Advice]) -> list[str]:
    """``[mariadb]`` section lines persisting every advised setting (last one wins)."""
    settings: dict[str, int] = {}
    for item in advice:
        if item.setting is not None:
            settings[item.setting[0]] = item.setting[1]
    if not settings:
        return []
    return ["[mariadb]", *(f"{name} = {value}" for name, value in settings.items())]
