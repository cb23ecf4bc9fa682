"""Method 1: the critical-lifetime method from status counters.

Theory of operation.  If connections arrived at a steady ``rate`` and none closed, the limit
``L`` is reached after ``N = L / rate`` seconds, and the average connection alive at that
moment has lived ``(N + 1) / 2`` seconds: the *critical lifetime*.  Four of them:

====  ========================  ============
EXP   L = max_connections       average cps
CUR   L = Max_used_connections  average cps
PAS   L = Max_used_connections  peak cps
POL   L = max_connections       peak cps
====  ========================  ============

``C% = CUR * 100 / EXP`` says how close average load runs to the limit, ``DEF = CUR - PAS`` the
gap between average and peak.  The chosen lifetime ``LPT`` is PAS (strict) unless the server is
not busy on average (C% < 50) and DEF > PAS, then CUR; the lenient policy takes POL.  From it,
``wait_timeout``: strict = LPT - LPT / cpq, lenient = LPT, middle = (LPT + strict) / 2.

Rounding: every lifetime is rounded half-up to whole seconds before anything uses it (so C%,
DEF and the recommendations are computed from the rounded LPT); each recommendation is rounded
half-up once, from exact arithmetic (middle uses the exact strict value).  Everything else is
exact (:class:`~fractions.Fraction`).

Conditions: LPT > 10 and cpq > 1, else every recommendation is 10; a recommendation below 10
is raised to 10.  Either way the report says the server needs more capacity (more connections,
faster queries or more servers), not a shorter timeout.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from fractions import Fraction

from interlock.advisor.errors import MissingInputError
from interlock.advisor.figures import Load

PEAK_ESTIMATE_FACTOR = Fraction(3, 2)
FLOOR = 10  # seconds: the smallest wait_timeout the method recommends
BUSY_PERCENT = 50


class Policy(enum.StrEnum):
    STRICT = "strict"
    LENIENT = "lenient"


class Lifetime(enum.StrEnum):
    EXP = "EXP"
    CUR = "CUR"
    PAS = "PAS"
    POL = "POL"


class PeakSource(enum.StrEnum):
    MEASURED = "measured"
    ESTIMATED = "estimated"  # 1.5 x average: nothing was sampled
    AVERAGE = "average"  # sampled, but the window's peak was below the average since start


@dataclass(frozen=True, slots=True)
class Method1Result:
    avg_cps: Fraction
    peak_cps: Fraction
    peak_source: PeakSource
    measured_peak: Fraction | None
    spc: Fraction
    cpq: Fraction
    exp: int
    cur: int
    pas: int
    pol: int
    c_percent: Fraction
    deficit: int  # DEF = CUR - PAS
    policy: Policy
    lpt: int
    lpt_from: Lifetime
    lpt_reason: str
    strict: int
    middle: int
    lenient: int
    clamped: tuple[str, ...]  # the conditions that failed; empty when none did

    @property
    def needs_capacity(self) -> bool:
        return bool(self.clamped)


def round_half_up(value: Fraction) -> int:
    """Half-up rounding to a whole number (``2.5 -> 3``), exact for fractions."""
    return math.floor(value + Fraction(1, 2))


def critical_lifetime(limit: int, rate: Fraction) -> int:
    """``(N + 1) / 2`` with ``N = limit / rate``, rounded half-up."""
    return round_half_up((Fraction(limit) / rate + 1) / 2)


def _peak(load: Load) -> tuple[Fraction, PeakSource]:
    if load.peak_cps is None:
        return load.avg_cps * PEAK_ESTIMATE_FACTOR, PeakSource.ESTIMATED
    if load.peak_cps < load.avg_cps:
        return load.avg_cps, PeakSource.AVERAGE
    return load.peak_cps, PeakSource.MEASURED


def choose_lifetime(
    policy: Policy, cur: int, pas: int, pol: int, c_percent: Fraction
) -> tuple[int, Lifetime, str]:
    """LPT, which lifetime it is, and why."""
    if policy is Policy.LENIENT:
        return pol, Lifetime.POL, "lenient policy: POL (max_connections at peak rate)"
    deficit = cur - pas
    if c_percent < BUSY_PERCENT and deficit > pas:
        return cur, Lifetime.CUR, (
            f"C% = {float(c_percent):.1f} < {BUSY_PERCENT} (not busy on average) and"
            f" DEF = {deficit} > PAS = {pas}: PAS comes from a past spike, so CUR"
        )
    why = f"C% = {float(c_percent):.1f} >= {BUSY_PERCENT}" if c_percent >= BUSY_PERCENT else (
        f"DEF = {deficit} <= PAS = {pas}"
    )
    return pas, Lifetime.PAS, f"strict policy: PAS ({why})"


def _recommendations(lpt: int, cpq: Fraction) -> tuple[int, int, int, tuple[str, ...]]:
    failed: list[str] = []
    if lpt <= FLOOR:
        failed.append(f"LPT = {lpt} s is not above {FLOOR} s")
    if cpq <= 1:
        failed.append(f"cpq = {float(cpq):.2f} is not above 1")
    if failed:
        return FLOOR, FLOOR, FLOOR, tuple(failed)
    strict_exact = lpt - Fraction(lpt) / cpq
    values = [round_half_up(strict_exact), round_half_up((lpt + strict_exact) / 2), lpt]
    for index, name in enumerate(("strict", "middle")):
        if values[index] < FLOOR:
            failed.append(f"{name} wait_timeout = {values[index]} s is below {FLOOR} s")
            values[index] = FLOOR
    return values[0], values[1], values[2], tuple(failed)


def method1(load: Load, policy: Policy = Policy.STRICT) -> Method1Result:
    """Every Method 1 figure for ``load``."""
    problems = []
    if load.avg_cps <= 0:
        problems.append("the average connection rate must be above 0")
    if load.max_connections <= 0:
        problems.append("max_connections must be above 0")
    if load.max_used_connections < 0 or load.cpq < 0:
        problems.append("Max_used_connections and cpq cannot be negative")
    if problems:
        raise MissingInputError(tuple(problems))
    peak, source = _peak(load)
    exp = critical_lifetime(load.max_connections, load.avg_cps)
    cur = critical_lifetime(load.max_used_connections, load.avg_cps)
    pas = critical_lifetime(load.max_used_connections, peak)
    pol = critical_lifetime(load.max_connections, peak)
    c_percent = Fraction(cur * 100, exp)
    lpt, which, reason = choose_lifetime(policy, cur, pas, pol, c_percent)
    strict, middle, lenient, clamped = _recommendations(lpt, load.cpq)
    return Method1Result(
        avg_cps=load.avg_cps, peak_cps=peak, peak_source=source, measured_peak=load.peak_cps,
        spc=1 / load.avg_cps, cpq=load.cpq, exp=exp, cur=cur, pas=pas, pol=pol,
        c_percent=c_percent, deficit=cur - pas, policy=policy, lpt=lpt, lpt_from=which,
        lpt_reason=reason, strict=strict, middle=middle, lenient=lenient, clamped=clamped,
    )
