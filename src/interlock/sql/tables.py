"""The tables a read names, best effort (for temporary-table tracking).

Input: the significant upper-case tokens of one statement.  Names come out lower case
(identifiers are case-folded: comparing folded names can only err towards the primary), as
``"db.table"`` or ``"table"``, backquotes removed.
"""

from __future__ import annotations

from collections.abc import Sequence

from interlock.sql.tokenizer import unquote


def positions(toks: Sequence[bytes], word: bytes) -> list[int]:
    """Indexes of ``word`` in ``toks`` (C-level ``count``/``index``; no exception raised, which
    would cost more than the search)."""
    out: list[int] = []
    i = -1
    for _ in range(toks.count(word)):
        i = toks.index(word, i + 1)
        out.append(i)
    return out


def at(toks: Sequence[bytes], i: int) -> bytes:
    """``toks[i]``, or ``b""`` past either end."""
    return toks[i] if 0 <= i < len(toks) else b""


_DOT, _COMMA = b".", b","
_NOT_A_TABLE = frozenset((b"SELECT", b"WITH", b"VALUES", b"DUAL", b"LATERAL", b"(", b"TABLE"))
_NOT_AN_ALIAS = frozenset((
    b"WHERE", b"GROUP", b"ORDER", b"LIMIT", b"HAVING", b"WINDOW", b"JOIN", b"INNER", b"LEFT",
    b"RIGHT", b"CROSS", b"NATURAL", b"STRAIGHT_JOIN", b"FULL", b"OUTER", b"ON", b"USING",
    b"UNION", b"EXCEPT", b"INTERSECT", b"FOR", b"LOCK", b"INTO", b"PARTITION", b"USE",
    b"IGNORE", b"FORCE", b"PROCEDURE", b"FETCH", b"OFFSET", b"RETURNING", b"SET", b"FROM",
    b"LIKE", b"IN", b")", b",", b"AS", b"SELECT", b"VALUES",
))
def identifier(token: bytes) -> str | None:
    """An identifier token's name, lower case (``None`` for anything else)."""
    first = token[:1]
    if first in (b"`", b'"'):
        return unquote(token).decode("utf-8", "replace").lower()
    if first.isalnum() or first in (b"_", b"$") or (first and first[0] >= 0x80):
        return token.decode("utf-8", "replace").lower()
    return None


def table_name(toks: Sequence[bytes], i: int) -> tuple[str, int] | None:
    """The (possibly qualified) table name starting at ``toks[i]`` and the index after it."""
    tok = at(toks, i)
    if tok in _NOT_A_TABLE:
        return None
    name = identifier(tok)
    if name is None:
        return None
    if at(toks, i + 1) == _DOT:
        second = identifier(at(toks, i + 2))
        if second is not None:
            return f"{name}.{second}", i + 3
    return name, i + 1


def _table_list(toks: Sequence[bytes], i: int, out: list[str]) -> None:
    while True:
        found = table_name(toks, i)
        if found is None:
            return
        out.append(found[0])
        i = found[1]
        tok = at(toks, i)
        if tok == b"AS":
            i += 2
        elif tok and tok not in _NOT_AN_ALIAS and identifier(tok) is not None:
            i += 1
        if at(toks, i) != _COMMA:
            return
        i += 1


_TABLE_KEYWORDS = (b"FROM", b"JOIN", b"STRAIGHT_JOIN", b"TABLE")


def tables_read(toks: Sequence[bytes]) -> tuple[str, ...]:
    """Tables named after FROM/JOIN (and ``SHOW ... FROM``/``TABLE``)."""
    out: list[str] = []
    for keyword in _TABLE_KEYWORDS:
        for i in positions(toks, keyword):
            _table_list(toks, i + 1, out)
    if len(out) > 1:
        return tuple(dict.fromkeys(out))
    return tuple(out)
