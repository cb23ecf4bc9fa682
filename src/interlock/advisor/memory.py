"""The memory check: what ``max_connections`` costs, and how many connections fit.

* classic: ``key_buffer_size + (read_buffer_size + sort_buffer_size) * max_connections``;
* current: adds ``innodb_buffer_pool_size + innodb_log_buffer_size`` once and
  ``read_rnd_buffer_size + join_buffer_size + thread_stack + binlog_cache_size +
  tmp_table_size`` per connection.

Both are worst cases (every connection using every buffer at once); with the machine's memory
they give the ``max_connections`` that fits: ``floor((memory - global) / per_connection)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from interlock.advisor.figures import (
    CLASSIC_GLOBAL,
    CLASSIC_PER_CONNECTION,
    CURRENT_GLOBAL,
    CURRENT_PER_CONNECTION,
    Variables,
)


@dataclass(frozen=True, slots=True)
class Estimate:
    """One estimate: ``global_bytes + per_connection * max_connections``."""

    global_bytes: int
    per_connection: int
    max_connections: int
    machine: int | None

    @property
    def total(self) -> int:
        return self.global_bytes + self.per_connection * self.max_connections

    @property
    def fits(self) -> bool | None:
        return None if self.machine is None else self.total <= self.machine

    @property
    def max_connections_that_fit(self) -> int | None:
        if self.machine is None or self.per_connection <= 0:
            return None
        return max(0, (self.machine - self.global_bytes) // self.per_connection)


@dataclass(frozen=True, slots=True)
class MemoryCheck:
    classic: Estimate | None  # None when a buffer size it needs was not given
    current: Estimate | None
    missing: tuple[str, ...]  # buffer sizes not given
    machine: int | None


def _estimate(
    variables: Variables, global_names: tuple[str, ...], per_names: tuple[str, ...],
    machine: int | None,
) -> Estimate | None:
    sizes = [variables.buffer(name) for name in global_names + per_names]
    if any(size is None for size in sizes):
        return None
    values = [size or 0 for size in sizes]
    split = len(global_names)
    return Estimate(sum(values[:split]), sum(values[split:]), variables.max_connections, machine)


def memory_check(variables: Variables, machine: int | None = None) -> MemoryCheck:
    classic = _estimate(variables, CLASSIC_GLOBAL, CLASSIC_PER_CONNECTION, machine)
    current = _estimate(
        variables,
        CLASSIC_GLOBAL + CURRENT_GLOBAL,
        CLASSIC_PER_CONNECTION + CURRENT_PER_CONNECTION,
        machine,
    )
    names = CLASSIC_GLOBAL + CLASSIC_PER_CONNECTION + CURRENT_GLOBAL + CURRENT_PER_CONNECTION
    missing = tuple(name for name in names if variables.buffer(name) is None)
    return MemoryCheck(classic, current, missing, machine)
