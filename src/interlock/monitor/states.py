"""Server states as MaxScale shows them: a flag set with a fixed display order.

``Maintenance`` hides ``Draining``; ``Master`` hides ``Relay Master``/``Slave``; ``Auth Error``
comes with ``Down`` (the monitor could not log in, so it does not know the server runs).
Example strings: ``Master, Running``; ``Relay Master, Slave, Running``; ``Maintenance, Slave,
Running``; ``Auth Error, Down``; ``Slave of External Server, Running``.
"""

from __future__ import annotations

from enum import IntFlag


class ServerState(IntFlag):
    NONE = 0
    MAINTENANCE = 1 << 0
    DRAINING = 1 << 1
    MASTER = 1 << 2
    RELAY_MASTER = 1 << 3
    SLAVE = 1 << 4
    SLAVE_OF_EXTERNAL = 1 << 5
    AUTH_ERROR = 1 << 6
    RUNNING = 1 << 7
    DOWN = 1 << 8


#: display order and words (MaxScale's status_to_string order)
STATE_WORDS: tuple[tuple[ServerState, str], ...] = (
    (ServerState.MAINTENANCE, "Maintenance"),
    (ServerState.DRAINING, "Draining"),
    (ServerState.MASTER, "Master"),
    (ServerState.RELAY_MASTER, "Relay Master"),
    (ServerState.SLAVE, "Slave"),
    (ServerState.SLAVE_OF_EXTERNAL, "Slave of External Server"),
    (ServerState.AUTH_ERROR, "Auth Error"),
    (ServerState.RUNNING, "Running"),
    (ServerState.DOWN, "Down"),
)

_HIDES: dict[ServerState, ServerState] = {
    ServerState.MAINTENANCE: ServerState.DRAINING,
    ServerState.MASTER: ServerState.RELAY_MASTER | ServerState.SLAVE,
}


def state_words(states: ServerState) -> tuple[str, ...]:
    hidden = ServerState.NONE
    for flag, hides in _HIDES.items():
        if states & flag:
            hidden |= hides
    return tuple(word for flag, word in STATE_WORDS if states & flag and not hidden & flag)


def format_states(states: ServerState) -> str:
    """``"Master, Running"`` (``"Down"`` for an empty set: nothing is known)."""
    return ", ".join(state_words(states)) or "Down"
