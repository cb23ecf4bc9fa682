"""Connection ids the proxy hands to its clients, and the sessions that own them.

Ids are allocated from ``FIRST_ID`` (0x40000001) upwards, a range real servers do not reach
(their thread ids count up from 1 per server start), so ``KILL <id>`` can tell a proxy id from
a backend thread id a client read with ``CONNECTION_ID()``.
"""

from __future__ import annotations

from typing import Generic, TypeVar

FIRST_ID = 0x4000_0001
LAST_ID = 0xFFFF_FFFF

T = TypeVar("T")


def is_proxy_id(value: int) -> bool:
    return FIRST_ID <= value <= LAST_ID


class SessionRegistry(Generic[T]):
    def __init__(self) -> None:
        self._next = FIRST_ID
        self._sessions: dict[int, T] = {}

    def allocate(self, owner: T) -> int:
        """A fresh id, registered to ``owner``."""
        while self._next in self._sessions:
            self._advance()
        session_id = self._next
        self._advance()
        self._sessions[session_id] = owner
        return session_id

    def _advance(self) -> None:
        self._next = self._next + 1 if self._next < LAST_ID else FIRST_ID

    def release(self, session_id: int) -> None:
        self._sessions.pop(session_id, None)

    def get(self, session_id: int) -> T | None:
        return self._sessions.get(session_id)

    def __len__(self) -> int:
        return len(self._sessions)

    def values(self) -> list[T]:
        return list(self._sessions.values())
