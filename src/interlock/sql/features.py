"""Whole-statement properties: locking reads, INTO, session-bound functions, user variables.
Input: the significant upper-case tokens of one statement.

The scan is one C-level set intersection of the tokens with :data:`_INTERESTING`; only the
words that occur are then looked at (in a dispatch table), so a statement without any of them
costs a single pass.  Function names count only when a ``(`` follows them, so a column called
``row_count`` is not a function call.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet

from interlock.sql.kinds import Feature
from interlock.sql.tables import at as _at
from interlock.sql.tables import positions

_LPAREN, _DOT, _ASSIGN = b"(", b".", b":="

# Plain ints on the hot path: IntFlag arithmetic costs a microsecond per operation.
NONE = 0
LOCKING_READ = int(Feature.LOCKING_READ)
SELECT_INTO = int(Feature.SELECT_INTO)
INTO_FILE = int(Feature.INTO_FILE)
MASTER_ONLY = int(Feature.MASTER_ONLY_FUNCTION)
LAST_TARGET = int(Feature.LAST_TARGET)
USES_VARS = int(Feature.USES_USER_VARS)
ASSIGNS_VARS = int(Feature.ASSIGNS_USER_VARS)

# Functions whose result depends on the session or that have side effects on the primary.
_MASTER_FUNCTIONS = frozenset((
    b"GET_LOCK", b"RELEASE_LOCK", b"RELEASE_ALL_LOCKS", b"IS_USED_LOCK", b"IS_FREE_LOCK",
    b"LAST_INSERT_ID", b"NEXTVAL", b"LASTVAL", b"SETVAL", b"CONNECTION_ID",
))
# Functions about the previous statement: they must run where that statement ran.
_LAST_FUNCTIONS = frozenset((b"FOUND_ROWS", b"ROW_COUNT"))
_SEQUENCE_ATTRS = frozenset((b"NEXTVAL", b"LASTVAL", b"CURRVAL"))  # seq.nextval (Oracle mode)
_SCOPES = (b"@@", b"@@SESSION.", b"@@LOCAL.")
_MASTER_SYSVARS = frozenset(s + v for s in _SCOPES
                            for v in (b"IDENTITY", b"LAST_INSERT_ID", b"LAST_GTID"))
_LAST_SYSVARS = frozenset(s + v for s in _SCOPES for v in (b"WARNING_COUNT", b"ERROR_COUNT"))


Check = Callable[[list[bytes], bytes], int]


def _for(toks: list[bytes], word: bytes) -> int:
    found = NONE
    for i in positions(toks, word):
        if _at(toks, i + 1) in (b"UPDATE", b"SHARE"):
            found |= LOCKING_READ
        elif _at(toks, i - 1) == b"VALUE" and _at(toks, i - 2) in (b"NEXT", b"PREVIOUS"):
            found |= MASTER_ONLY  # NEXT VALUE FOR s / PREVIOUS VALUE FOR s
    return found


def _lock(toks: list[bytes], word: bytes) -> int:
    for i in positions(toks, word):
        if toks[i + 1:i + 4] == [b"IN", b"SHARE", b"MODE"]:
            return LOCKING_READ
    return NONE


def _into(toks: list[bytes], word: bytes) -> int:
    found = NONE
    for i in positions(toks, word):
        target = _at(toks, i + 1)
        if target in (b"OUTFILE", b"DUMPFILE"):
            found |= SELECT_INTO | INTO_FILE
        elif target[:1] == b"@" and target[:2] != b"@@":
            found |= SELECT_INTO | ASSIGNS_VARS
    return found


def _master_function(toks: list[bytes], word: bytes) -> int:
    for i in positions(toks, word):
        if _at(toks, i + 1) == _LPAREN or (word in _SEQUENCE_ATTRS and _at(toks, i - 1) == _DOT):
            return MASTER_ONLY
    return NONE


def _last_function(toks: list[bytes], word: bytes) -> int:
    for i in positions(toks, word):
        if _at(toks, i + 1) == _LPAREN:
            return MASTER_ONLY | LAST_TARGET
    return NONE


def _assign(toks: list[bytes], word: bytes) -> int:
    for i in positions(toks, word):
        prev = _at(toks, i - 1)
        if prev[:1] == b"@" and prev[:2] != b"@@":
            return ASSIGNS_VARS
    return NONE


def _master_sysvar(toks: list[bytes], word: bytes) -> int:
    return MASTER_ONLY


def _last_sysvar(toks: list[bytes], word: bytes) -> int:
    return LAST_TARGET


def _build_dispatch() -> dict[bytes, Check]:
    table: dict[bytes, Check] = {b"FOR": _for, b"LOCK": _lock, b"INTO": _into, _ASSIGN: _assign}
    table.update(dict.fromkeys(_MASTER_FUNCTIONS | _SEQUENCE_ATTRS, _master_function))
    table.update(dict.fromkeys(_LAST_FUNCTIONS, _last_function))
    table.update(dict.fromkeys(_MASTER_SYSVARS, _master_sysvar))
    table.update(dict.fromkeys(_LAST_SYSVARS, _last_sysvar))
    return table


_DISPATCH = _build_dispatch()
INTERESTING = frozenset(_DISPATCH)


def _user_vars(toks: list[bytes]) -> int:
    prev = b""
    for tok in toks:
        # '@' tokens that are not @@system variables nor the host part of 'user'@'host'.
        if tok[:1] == b"@" and tok[:2] != b"@@" and prev[:1] not in (b"'", b'"', b"`"):
            return USES_VARS
        prev = tok
    return NONE


def scan_features(toks: list[bytes], hits: AbstractSet[bytes], has_at: bool) -> int:
    """Feature bits found in one statement's tokens.

    ``hits``: ``INTERESTING.intersection(toks)``; ``has_at``: the text contains ``@``.
    """
    found = NONE
    for word in hits:
        found |= _DISPATCH[word](toks, word)
    if has_at:
        found |= _user_vars(toks)
    if found & ASSIGNS_VARS:
        found |= USES_VARS
    return found
