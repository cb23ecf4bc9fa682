"""Recognise ``KILL`` statements that name a connection (thread) id.

MariaDB's grammar: ``KILL [HARD | SOFT] [CONNECTION | QUERY] <id>`` (plus ``KILL QUERY ID <query
id>`` and ``KILL USER <name>``, which do not name a thread and are left alone).  The proxy needs
to know when a client kills a connection id that the *proxy* handed out, so it can rewrite the id
to the backend thread id; :func:`parse_kill` finds the id and where it sits in the text, and
:meth:`KillStatement.with_thread_id` splices a new id in, keeping everything else byte for byte.

Only a decimal integer literal is recognised as the id.  Anything else (an expression such as
``CONNECTION_ID()``, an executable comment ``/*! ... */``, a second statement after ``;``)
yields ``None``: the statement is then passed through unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum


class KillKind(IntEnum):
    CONNECTION = 0
    QUERY = 1


@dataclass(frozen=True, slots=True)
class KillStatement:
    kind: KillKind
    thread_id: int
    hard: bool | None  # True: HARD, False: SOFT, None: not given
    text: bytes  # the whole statement as received
    id_start: int  # byte span of the id literal in ``text``
    id_end: int

    def with_thread_id(self, thread_id: int) -> bytes:
        """The same statement text with the id replaced."""
        return b"%s%d%s" % (self.text[: self.id_start], thread_id, self.text[self.id_end :])


# Tokens: whitespace and comments are skipped; ``/*!`` and ``/*M!`` are executable comments and
# therefore *not* skippable, so they fail the word match below and the statement passes through.
_SKIP = re.compile(
    rb"(?:\s+|/\*(?![!M])(?:.|\n)*?\*/|(?:--(?=[ \t\r\n]|$)|\#)[^\n]*(?:\n|$))*",
)
_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_$]*")
_NUMBER = re.compile(rb"[0-9]+(?![0-9A-Za-z_$.])")

_MAX_KILL_LEN = 4096


def _skip(text: bytes, pos: int) -> int:
    match = _SKIP.match(text, pos)
    return match.end() if match else pos


def _word(text: bytes, pos: int) -> tuple[bytes, int] | None:
    match = _WORD.match(text, pos)
    if match is None:
        return None
    return match.group().upper(), match.end()


def looks_like_kill(text: bytes) -> bool:
    """A cheap pre-filter: may ``text`` (a COM_QUERY payload after the command byte) be a KILL?"""
    return len(text) < _MAX_KILL_LEN and b"kill" in text[:256].lower()


def parse_kill(text: bytes) -> KillStatement | None:
    """Parse a ``KILL ... <thread id>`` statement; ``None`` when it is anything else."""
    if len(text) >= _MAX_KILL_LEN:
        return None
    pos = _skip(text, 0)
    token = _word(text, pos)
    if token is None or token[0] != b"KILL":
        return None
    pos = _skip(text, token[1])
    hard: bool | None = None
    kind = KillKind.CONNECTION
    token = _word(text, pos)
    if token is not None and token[0] in (b"HARD", b"SOFT"):
        hard = token[0] == b"HARD"
        pos = _skip(text, token[1])
        token = _word(text, pos)
    if token is not None and token[0] in (b"CONNECTION", b"QUERY"):
        kind = KillKind.QUERY if token[0] == b"QUERY" else KillKind.CONNECTION
        pos = _skip(text, token[1])
    number = _NUMBER.match(text, pos)
    if number is None:
        return None
    end = _skip(text, number.end())
    if end < len(text) and text[end : end + 1] == b";":
        end = _skip(text, end + 1)
    if end != len(text):
        return None
    return KillStatement(kind, int(number.group()), hard, text, number.start(), number.end())
