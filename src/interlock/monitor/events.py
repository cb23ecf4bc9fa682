"""Monitor events and their bounded in-memory history.

Every state change the monitor sees and every decision or action it takes is an
:class:`Event` (time, server, old state, new state, reason).  :func:`state_changes` derives the
state-change events of a tick from two cluster states; the loop adds decisions and actions
itself.  :class:`EventHistory` keeps the last ``capacity`` events (a ring buffer) and numbers
them: every appended event gets the next number of one process-wide sequence, so an id stays
the same while the event is kept, is never reused, and orders the events of all monitors.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from interlock.monitor.cluster import ClusterState
from interlock.monitor.states import ServerState, format_states


class EventKind(Enum):
    STATE = "state"  # a server's state set changed
    DECISION = "decision"  # the monitor decided something (failover verdict, refusal, ...)
    ACTION = "action"  # a plan step ran (or failed)
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Event:
    at: float  # wall-clock seconds (time.time() of the loop)
    server: str | None
    old: ServerState
    new: ServerState
    reason: str
    kind: EventKind = EventKind.STATE

    def __str__(self) -> str:
        who = self.server or "cluster"
        if self.kind is EventKind.STATE:
            return (f"{who}: [{format_states(self.old)}] -> [{format_states(self.new)}]: "
                    f"{self.reason}")
        return f"{who}: {self.kind.value}: {self.reason}"


def state_changes(previous: ClusterState | None, current: ClusterState,
                  at: float) -> tuple[Event, ...]:
    """A STATE event per server whose state set changed (first tick: every server)."""
    events: list[Event] = []
    for view in current.servers:
        before = previous.server(view.name) if previous is not None else None
        old = before.states if before is not None else ServerState.NONE
        if old == view.states:
            continue
        events.append(Event(at, view.name, old, view.states, _reason(view.name, old,
                                                                     view.states, current)))
    if previous is not None and previous.primary != current.primary:
        events.append(Event(at, current.primary, ServerState.NONE, ServerState.NONE,
                            f"primary {previous.primary} -> {current.primary}: "
                            f"{current.primary_reason}", EventKind.DECISION))
    return tuple(events)


def _reason(name: str, old: ServerState, new: ServerState, cluster: ClusterState) -> str:
    view = cluster.server(name)
    obs = view.observation if view is not None else None
    if new & ServerState.DOWN and obs is not None and obs.error is not None:
        return f"probe failed: {obs.error}"
    if old == ServerState.NONE:
        return "first observation"
    if new & ServerState.MASTER and not old & ServerState.MASTER:
        return cluster.primary_reason
    if view is not None and old & ServerState.SLAVE and not new & ServerState.SLAVE:
        states = "; ".join(f"'{lk.connection_name}' IO {lk.status.io_state.value}, SQL "
                           f"{'Yes' if lk.status.sql_running else 'No'}" for lk in view.links)
        return f"no longer replicating from the primary ({states or 'no connections'})"
    return "state changed"


#: event ids: one sequence for the whole process (the admin API merges all monitors' events)
_SEQUENCE = itertools.count(1)


class EventHistory:
    """The last ``capacity`` events, oldest first."""

    def __init__(self, capacity: int = 1000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._events: deque[Event] = deque(maxlen=capacity)
        self._ids: deque[int] = deque(maxlen=capacity)  # the id of each kept event
        self.dropped = 0  # events that fell out of the buffer

    @property
    def capacity(self) -> int:
        assert self._events.maxlen is not None
        return self._events.maxlen

    def append(self, event: Event) -> None:
        if len(self._events) == self.capacity:
            self.dropped += 1
        self._events.append(event)
        self._ids.append(next(_SEQUENCE))

    def extend(self, events: tuple[Event, ...] | list[Event]) -> None:
        for event in events:
            self.append(event)

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(tuple(self._events))

    def recent(self, count: int) -> tuple[Event, ...]:
        """The newest ``count`` events, oldest first."""
        if count <= 0:
            return ()
        return tuple(self._events)[-count:]

    def numbered(self, after: int = 0) -> tuple[tuple[int, Event], ...]:
        """``(id, event)`` of the kept events with an id above ``after``, oldest first."""
        return tuple((ident, event) for ident, event in zip(self._ids, self._events, strict=True)
                     if ident > after)

    def for_server(self, name: str) -> tuple[Event, ...]:
        return tuple(e for e in self._events if e.server == name)

    def since(self, at: float) -> tuple[Event, ...]:
        return tuple(e for e in self._events if e.at >= at)
