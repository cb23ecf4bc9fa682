"""The counters and variables Method 1 reads, taken from ``SHOW GLOBAL STATUS`` / ``SHOW GLOBAL
VARIABLES`` values (``{lower-case name: text}``), with a clear error naming what is missing.

:class:`Load` is the model Method 1 computes on: it comes from real counters
(:func:`load_from`) or straight from a what-if question (``--max-connections 100
--max-used-connections 92 --avg-cps 0.8 --max-cps 1.1 --cpq 7``).  Rates are
:class:`~fractions.Fraction` so that every figure is exact until the final rounding.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from interlock.advisor.errors import MissingInputError

STATUS_NAMES = (
    "Connections",
    "Uptime",
    "Questions",
    "Max_used_connections",
    "Aborted_clients",
    "Aborted_connects",
)
VARIABLE_NAMES = ("max_connections", "wait_timeout", "interactive_timeout", "connect_timeout")
#: the classic estimate: key_buffer_size + (read_buffer_size + sort_buffer_size) * connections
CLASSIC_GLOBAL = ("key_buffer_size",)
CLASSIC_PER_CONNECTION = ("read_buffer_size", "sort_buffer_size")
#: what the current estimate adds
CURRENT_GLOBAL = ("innodb_buffer_pool_size", "innodb_log_buffer_size")
CURRENT_PER_CONNECTION = (
    "read_rnd_buffer_size",
    "join_buffer_size",
    "thread_stack",
    "binlog_cache_size",
    "tmp_table_size",
)
MEMORY_NAMES = CLASSIC_GLOBAL + CLASSIC_PER_CONNECTION + CURRENT_GLOBAL + CURRENT_PER_CONNECTION


@dataclass(frozen=True, slots=True)
class Counters:
    """``SHOW GLOBAL STATUS`` values Method 1 uses."""

    connections: int
    uptime: int
    questions: int
    max_used_connections: int
    aborted_clients: int
    aborted_connects: int


@dataclass(frozen=True, slots=True)
class Variables:
    """``SHOW GLOBAL VARIABLES`` values Method 1 uses (buffer sizes: those that were given)."""

    max_connections: int
    wait_timeout: int
    interactive_timeout: int
    connect_timeout: int
    buffers: tuple[tuple[str, int], ...] = ()

    def buffer(self, name: str) -> int | None:
        return dict(self.buffers).get(name)


@dataclass(frozen=True, slots=True)
class Load:
    """The straight-line model's inputs: the limit, the high-water mark and the rates."""

    max_connections: int
    max_used_connections: int
    avg_cps: Fraction
    cpq: Fraction
    peak_cps: Fraction | None = None  # measured; ``None``: estimated as 1.5 x avg_cps


def _integers(
    values: Mapping[str, str], names: Iterable[str], what: str
) -> tuple[dict[str, int], list[str]]:
    found: dict[str, int] = {}
    problems: list[str] = []
    for name in names:
        text = values.get(name.lower())
        if text is None:
            problems.append(f"{name} is missing from {what}")
            continue
        try:
            found[name] = int(text.strip())
        except ValueError:
            problems.append(f"{name} is not a number in {what}: {text!r}")
    return found, problems


def counters_from(values: Mapping[str, str]) -> Counters:
    found, problems = _integers(values, STATUS_NAMES, "SHOW GLOBAL STATUS")
    if not problems:
        if found["Uptime"] <= 0:
            problems.append("Uptime is 0: the server has just started, there is nothing to"
                            " measure yet")
        if found["Connections"] <= 0:
            problems.append("Connections is 0: no connection has been made yet")
    if problems:
        raise MissingInputError(tuple(problems))
    return Counters(
        connections=found["Connections"],
        uptime=found["Uptime"],
        questions=found["Questions"],
        max_used_connections=found["Max_used_connections"],
        aborted_clients=found["Aborted_clients"],
        aborted_connects=found["Aborted_connects"],
    )


def variables_from(values: Mapping[str, str]) -> Variables:
    found, problems = _integers(values, VARIABLE_NAMES, "SHOW GLOBAL VARIABLES")
    if problems:
        raise MissingInputError(tuple(problems), "give the variables too: --variables-file")
    if found["max_connections"] <= 0:
        raise MissingInputError(("max_connections must be above 0",))
    buffers, _ = _integers(values, MEMORY_NAMES, "SHOW GLOBAL VARIABLES")
    return Variables(
        max_connections=found["max_connections"],
        wait_timeout=found["wait_timeout"],
        interactive_timeout=found["interactive_timeout"],
        connect_timeout=found["connect_timeout"],
        buffers=tuple(sorted(buffers.items())),
    )


def load_from(counters: Counters, variables: Variables, peak: Fraction | None) -> Load:
    return Load(
        max_connections=variables.max_connections,
        max_used_connections=counters.max_used_connections,
        avg_cps=Fraction(counters.connections, counters.uptime),
        cpq=Fraction(counters.questions, counters.connections),
        peak_cps=peak,
    )


def peak_from_samples(samples: Sequence[tuple[float, int]]) -> Fraction | None:
    """The highest connection rate between consecutive ``(time, Connections)`` samples.

    ``None`` with fewer than two usable samples.  A pair where the counter went down (the server
    restarted) or time did not advance is skipped."""
    best: Fraction | None = None
    for (t0, c0), (t1, c1) in itertools.pairwise(samples):
        if t1 <= t0 or c1 < c0:
            continue
        rate = Fraction(c1 - c0) / Fraction(t1 - t0)
        if best is None or rate > best:
            best = rate
    return best
