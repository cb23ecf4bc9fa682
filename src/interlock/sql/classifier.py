"""Classify statement text for routing: ``classify(sql) -> Classification``.

Theory of operation
-------------------
:func:`interlock.sql.tokenizer.lex` turns the text into significant upper-case tokens per
statement.  The first token of a statement picks a handler from :data:`_HEADS` (a dispatch
table; anything not in it is ``UNKNOWN`` and routes to the primary).  A handler looks at the few
tokens after the head that matter (``START TRANSACTION READ ONLY``, ``SET SESSION
autocommit=0``, ``CREATE TEMPORARY TABLE t``...) and returns the statement kind, extra feature
flags and the rare details (names, the autocommit value, the text of a ``PREPARE``).  Then
:func:`interlock.sql.features.scan_features` adds what can sit anywhere in a statement
(locking reads, ``INTO``, session-bound functions, user variables) and, for reads,
:func:`interlock.sql.features.tables_read` the tables it names.

A packet with several statements is classified statement by statement; the result ORs the
kinds and features, has ``Feature.MULTI_STATEMENT`` and keeps the parts (so the session state
sees a ``CREATE TEMPORARY TABLE`` or a ``SET`` inside it).  Compound statements
(``BEGIN NOT ATOMIC ... END``, ``CREATE PROCEDURE ... BEGIN ... END``) contain ``;`` but are one
statement.

No full parse: the classifier errs towards the primary.  :func:`classify` never raises: an
internal error is logged and yields ``UNKNOWN``.
"""

from __future__ import annotations

from collections.abc import Callable

from interlock.log import get_logger
from interlock.sql.features import INTERESTING, scan_features
from interlock.sql.hints import HintDirective, might_be_hint, parse_hint_comment
from interlock.sql.kinds import (
    Classification,
    Detail,
    FeatureBits,
    KindBits,
    feature_flag,
    kind_flag,
    make_classification,
)
from interlock.sql.tables import identifier, table_name, tables_read
from interlock.sql.tokenizer import lex_tuple, original_token, unquote

log = get_logger(__name__)

K = KindBits
F = FeatureBits
_NONE = 0
_MAX_NESTING = 4  # PREPARE ... FROM 'PREPARE ... FROM ...' depth we still look into
_AT = ord("@")
_READ_BIT = K.READ


# (text as received, text upper-cased, NO_BACKSLASH_ESCAPES, PREPARE nesting depth): a plain
# tuple, cheaper to build than a NamedTuple on every statement.
_Source = tuple[bytes, bytes, bool, int]


# A handler's verdict: kind, extra features, detail, tables (None: the default for the kind).
_Result = tuple[int, int, Detail | None, tuple[str, ...] | None]  # kind and feature bits
_Handler = Callable[[list[bytes], _Source], _Result]


def _at(toks: list[bytes], i: int) -> bytes:
    return toks[i] if 0 <= i < len(toks) else b""


def _simple(kind: int, features: int = _NONE) -> _Handler:
    result: _Result = (kind, features, None, None)
    return lambda toks, src: result


def _named(kind: int, name: str | None,
           prepared: Classification | None = None) -> _Result:
    return kind, _NONE, Detail(name=name, prepared=prepared), ()


# ------------------------------------------------------------------------------ handlers

_READ_STARTS = frozenset((b"SELECT", b"WITH", b"VALUES", b"TABLE", b"("))
_WRITE_STARTS = frozenset((b"INSERT", b"UPDATE", b"DELETE", b"REPLACE"))


def _paren(toks: list[bytes], src: _Source) -> _Result:
    for tok in toks:
        if tok != b"(":
            return (K.READ if tok in _READ_STARTS else K.UNKNOWN), _NONE, None, None
    return K.UNKNOWN, _NONE, None, None


def _with(toks: list[bytes], src: _Source) -> _Result:
    depth = 0
    prev = b""
    for tok in toks:
        if tok == b"(":
            depth += 1
        elif tok == b")":
            depth -= 1
        elif depth == 0 and tok in _WRITE_STARTS and prev != b"FOR":
            return K.WRITE, _NONE, None, ()
        prev = tok
    return K.READ, _NONE, None, None


def _table_statement(toks: list[bytes], src: _Source) -> _Result:
    found = table_name(toks, 1)
    return K.READ, _NONE, None, (found[0],) if found else ()


def _create(toks: list[bytes], src: _Source) -> _Result:
    i = 3 if toks[1:3] == [b"OR", b"REPLACE"] else 1
    if toks[i:i + 2] != [b"TEMPORARY", b"TABLE"]:
        return K.WRITE | K.DDL, _NONE, None, ()
    i += 2
    if toks[i:i + 3] == [b"IF", b"NOT", b"EXISTS"]:
        i += 3
    found = table_name(toks, i)
    return _named(K.WRITE | K.CREATE_TMP_TABLE, found[0] if found else None)


def _drop(toks: list[bytes], src: _Source) -> _Result:
    if _at(toks, 1) == b"PREPARE":
        return _named(K.DEALLOCATE, identifier(_at(toks, 2)))
    i = 2 if _at(toks, 1) == b"TEMPORARY" else 1
    kind = K.WRITE if i == 2 else K.WRITE | K.DDL
    if _at(toks, i) not in (b"TABLE", b"TABLES"):
        return K.WRITE | K.DDL, _NONE, None, ()
    i += 3 if toks[i + 1:i + 3] == [b"IF", b"EXISTS"] else 1
    names: list[str] = []
    while (found := table_name(toks, i)) is not None:
        names.append(found[0])
        if _at(toks, found[1]) != b",":
            break
        i = found[1] + 1
    return kind | K.DROP_TABLE, _NONE, Detail(tables=tuple(names)), ()


_EXPLAIN_OPTIONS = frozenset((b"EXTENDED", b"PARTITIONS", b"FORMAT", b"=", b"JSON",
                              b"TRADITIONAL"))


def _skip_options(toks: list[bytes], i: int) -> int:
    while _at(toks, i) in _EXPLAIN_OPTIONS:
        i += 1
    return i


def _explain(toks: list[bytes], src: _Source) -> _Result:
    i = _skip_options(toks, 1)
    nxt = _at(toks, i)
    if nxt in _READ_STARTS:
        return K.READ, _NONE, None, None
    if nxt in _WRITE_STARTS:
        return K.WRITE, _NONE, None, ()
    if nxt == b"FOR":  # EXPLAIN FOR CONNECTION <backend thread id>
        return K.READ, F.PRIMARY_ONLY, None, ()
    found = table_name(toks, i)
    if found is None:
        return K.UNKNOWN, _NONE, None, ()
    return K.READ, _NONE, None, (found[0],)


_ANALYZED_READS = _READ_STARTS - {b"TABLE"}  # ANALYZE TABLE t: statistics, a write


def _analyze(toks: list[bytes], src: _Source) -> _Result:
    # ANALYZE SELECT runs the statement and reports on it; ANALYZE TABLE updates statistics.
    if _at(toks, _skip_options(toks, 1)) in _ANALYZED_READS:
        return K.READ, _NONE, None, None
    return K.WRITE, _NONE, None, ()


_SHOW_PRIMARY = frozenset((
    (b"MASTER", b"STATUS"), (b"BINLOG", b"STATUS"), (b"BINARY", b"LOGS"), (b"MASTER", b"LOGS"),
    (b"BINLOG", b"EVENTS"), (b"EXPLAIN", b"FOR"), (b"ANALYZE", b"FOR"), (b"PROCESSLIST", b""),
    (b"FULL", b"PROCESSLIST"),
))
_SHOW_LAST = frozenset((b"WARNINGS", b"ERRORS", b"COUNT"))


def _show(toks: list[bytes], src: _Source) -> _Result:
    words = (_at(toks, 1), _at(toks, 2))
    if words in _SHOW_PRIMARY:
        return K.READ | K.SHOW, F.PRIMARY_ONLY, None, ()
    if words[0] in _SHOW_LAST:
        return K.READ | K.SHOW, F.LAST_TARGET, None, ()
    extra: tuple[str, ...] = ()
    if b"IN" in toks:  # SHOW COLUMNS IN t, SHOW INDEX IN t
        found = table_name(toks, toks.index(b"IN") + 1)
        extra = (found[0],) if found else ()
    return K.READ | K.SHOW, _NONE, None, tables_read(toks) + extra


def _split_commas(toks: list[bytes], start: int) -> list[list[bytes]]:
    parts: list[list[bytes]] = [[]]
    depth = 0
    for tok in toks[start:]:
        if tok == b"," and depth == 0:
            parts.append([])
            continue
        depth += (tok == b"(") - (tok == b")")
        parts[-1].append(tok)
    return parts


_TRUE = frozenset((b"1", b"ON", b"TRUE", b"'1'", b"'ON'", b"'TRUE'", b'"ON"', b'"1"'))
_FALSE = frozenset((b"0", b"OFF", b"FALSE", b"'0'", b"'OFF'", b"'FALSE'", b'"OFF"', b'"0"'))


def _bool_value(value: list[bytes]) -> bool | None:
    if len(value) != 1:
        return None
    return True if value[0] in _TRUE else False if value[0] in _FALSE else None


def _set_variable(token: bytes, sticky_global: bool) -> tuple[bytes, bool]:
    """(variable name, is global) for the variable token of a SET assignment."""
    if token.startswith(b"@@GLOBAL."):
        return token[9:], True
    for prefix in (b"@@SESSION.", b"@@LOCAL.", b"@@"):
        if token.startswith(prefix):
            return token[len(prefix):], False
    return token, sticky_global


def _set(toks: list[bytes], src: _Source) -> _Result:
    special = _SET_SPECIAL.get(_at(toks, 1))
    if special is not None:
        return special(toks, src)
    if _at(toks, 2) == b"TRANSACTION":  # SET GLOBAL|SESSION TRANSACTION ...
        if _at(toks, 1) == b"GLOBAL":
            return K.WRITE, F.GLOBAL_WRITE, None, ()
        return K.SESSION_WRITE, _NONE, None, ()
    features, autocommit, has_autocommit, sticky = _NONE, None, False, False
    for assignment in _split_commas(toks, 1):
        if _at(assignment, 0) in (b"GLOBAL", b"SESSION", b"LOCAL"):
            sticky = assignment[0] == b"GLOBAL"
            assignment = assignment[1:]
        var = _at(assignment, 0)
        if var[:1] == b"@" and var[:2] != b"@@":
            features |= F.ASSIGNS_USER_VARS | F.USES_USER_VARS
            continue
        name, is_global = _set_variable(var, sticky)
        if is_global:
            features |= F.GLOBAL_WRITE
        elif name == b"AUTOCOMMIT":
            has_autocommit = True
            if _at(assignment, 1) in (b"=", b":="):
                autocommit = _bool_value(assignment[2:])
    if features & F.GLOBAL_WRITE:
        return K.WRITE, features, None, ()
    if has_autocommit:
        return (K.SESSION_WRITE | K.SET_AUTOCOMMIT, features, Detail(autocommit=autocommit), ())
    return K.SESSION_WRITE, features, None, ()


def _after_set_statement(toks: list[bytes]) -> list[bytes]:
    """SET STATEMENT var=value [, ...] FOR <statement>: the tokens of <statement>."""
    depth = 0
    for i, tok in enumerate(toks):
        depth += (tok == b"(") - (tok == b")")
        if tok == b"FOR" and depth == 0:
            return toks[i + 1:]
    return []


_SET_SPECIAL: dict[bytes, _Handler] = {
    b"TRANSACTION": _simple(K.NEXT_TRX),  # only the next transaction: runs on the primary
    b"PASSWORD": _simple(K.WRITE),
    b"ROLE": _simple(K.SESSION_WRITE),
    b"DEFAULT": _simple(K.WRITE),  # SET DEFAULT ROLE
}


def _use(toks: list[bytes], src: _Source) -> _Result:
    return _named(K.SESSION_WRITE | K.USE, identifier(_at(toks, 1)))


def _begin(toks: list[bytes], src: _Source) -> _Result:
    if toks[1:3] == [b"NOT", b"ATOMIC"]:
        return K.WRITE, F.COMPOUND, None, ()
    return K.BEGIN_TRX, _NONE, None, ()


def _start(toks: list[bytes], src: _Source) -> _Result:
    if _at(toks, 1) != b"TRANSACTION":
        return K.WRITE, _NONE, None, ()  # START SLAVE / REPLICA / ALL SLAVES
    for i in range(2, len(toks) - 1):
        if toks[i] == b"READ" and toks[i + 1] == b"ONLY":
            return K.BEGIN_TRX | K.BEGIN_TRX_READ_ONLY, _NONE, None, ()
    return K.BEGIN_TRX, _NONE, None, ()


def _rollback(toks: list[bytes], src: _Source) -> _Result:
    return (K.SAVEPOINT if b"TO" in toks else K.ROLLBACK), _NONE, None, ()


def _release(toks: list[bytes], src: _Source) -> _Result:
    return (K.SAVEPOINT if _at(toks, 1) == b"SAVEPOINT" else K.UNKNOWN), _NONE, None, ()


def _xa(toks: list[bytes], src: _Source) -> _Result:
    verb = _at(toks, 1).decode("ascii", "replace").lower()
    return K.XA, _NONE, Detail(name=verb or None), ()


def _lock(toks: list[bytes], src: _Source) -> _Result:
    if _at(toks, 1) in (b"TABLE", b"TABLES"):
        return K.LOCK_TABLES, _NONE, None, ()
    return K.WRITE, _NONE, None, ()


def _unlock(toks: list[bytes], src: _Source) -> _Result:
    if _at(toks, 1) in (b"TABLE", b"TABLES"):
        return K.UNLOCK_TABLES, _NONE, None, ()
    return K.WRITE, _NONE, None, ()


def _flush(toks: list[bytes], src: _Source) -> _Result:
    # FLUSH TABLES [t, ...] WITH READ LOCK / FOR EXPORT: the session holds locks until UNLOCK.
    for i in range(len(toks) - 1):
        if toks[i:i + 3] == [b"WITH", b"READ", b"LOCK"] or toks[i:i + 2] == [b"FOR", b"EXPORT"]:
            return K.LOCK_TABLES, _NONE, None, ()
    return K.WRITE, _NONE, None, ()


def _backup(toks: list[bytes], src: _Source) -> _Result:
    verb = _at(toks, 1)
    if verb == b"UNLOCK" or toks[1:3] == [b"STAGE", b"END"]:
        return K.UNLOCK_TABLES, _NONE, None, ()
    if verb in (b"LOCK", b"STAGE"):
        return K.LOCK_TABLES, _NONE, None, ()
    return K.WRITE, _NONE, None, ()


def _load(toks: list[bytes], src: _Source) -> _Result:
    if _at(toks, 1) in (b"DATA", b"XML") and b"INFILE" in toks:
        head = toks[:toks.index(b"INFILE")]
        return (K.WRITE | K.LOAD_LOCAL if b"LOCAL" in head else K.WRITE), _NONE, None, ()
    return K.WRITE, _NONE, None, ()


def _inner(token: bytes, src: _Source) -> Classification | None:
    """Classify the SQL inside a string literal token (PREPARE ... FROM '...')."""
    sql, upper, no_backslash_escapes, depth = src
    if token[:1] not in (b"'", b'"') or depth >= _MAX_NESTING:
        return None
    text = unquote(original_token(sql, upper, token), no_backslash_escapes=no_backslash_escapes)
    return _classify(text, no_backslash_escapes, depth + 1)


def _prepare(toks: list[bytes], src: _Source) -> _Result:
    inner = _inner(toks[3], src) if len(toks) == 4 and toks[2] == b"FROM" else None
    return _named(K.PREPARE_NAMED, identifier(_at(toks, 1)), prepared=inner)


def _execute(toks: list[bytes], src: _Source) -> _Result:
    if _at(toks, 1) == b"IMMEDIATE":
        inner = _inner(toks[2], src) if len(toks) == 3 else None
        if inner is None:
            return K.UNKNOWN, _NONE, None, ()
        return int(inner.kind), int(inner.features), inner.detail, inner.tables
    return _named(K.EXECUTE_NAMED, identifier(_at(toks, 1)))


def _deallocate(toks: list[bytes], src: _Source) -> _Result:
    return _named(K.DEALLOCATE, identifier(_at(toks, 2)))


def _get(toks: list[bytes], src: _Source) -> _Result:
    if b"DIAGNOSTICS" in toks[1:3]:  # GET [CURRENT] DIAGNOSTICS: about the previous statement
        return K.READ, F.LAST_TARGET, None, ()
    return K.UNKNOWN, _NONE, None, ()


def _unknown(toks: list[bytes], src: _Source) -> _Result:
    if _at(toks, 1) == b":":  # label: BEGIN ... END / LOOP ... (a compound statement)
        return K.WRITE, F.COMPOUND, None, ()
    return K.UNKNOWN, _NONE, None, ()


_WRITE = _simple(K.WRITE)
_DDL = _simple(K.WRITE | K.DDL)
_READ = _simple(K.READ)
_COMPOUND = _simple(K.WRITE, F.COMPOUND)

_HEADS: dict[bytes, _Handler] = {
    b"SELECT": _READ, b"(": _paren, b"WITH": _with, b"VALUES": _READ, b"TABLE": _table_statement,
    b"DO": _READ, b"HELP": _READ, b"DESCRIBE": _explain, b"DESC": _explain,
    b"EXPLAIN": _explain, b"ANALYZE": _analyze, b"SHOW": _show,
    b"INSERT": _WRITE, b"UPDATE": _WRITE, b"DELETE": _WRITE, b"REPLACE": _WRITE,
    b"CREATE": _create, b"DROP": _drop, b"ALTER": _DDL, b"RENAME": _DDL, b"TRUNCATE": _DDL,
    b"SET": _set, b"USE": _use, b"BEGIN": _begin, b"START": _start,
    b"COMMIT": _simple(K.COMMIT), b"ROLLBACK": _rollback, b"SAVEPOINT": _simple(K.SAVEPOINT),
    b"RELEASE": _release, b"XA": _xa, b"LOCK": _lock, b"UNLOCK": _unlock, b"FLUSH": _flush,
    b"BACKUP": _backup, b"LOAD": _load, b"CALL": _simple(K.CALL),
    b"HANDLER": _simple(K.HANDLER), b"PREPARE": _prepare, b"EXECUTE": _execute,
    b"DEALLOCATE": _deallocate, b"GET": _get,
    b"IF": _COMPOUND, b"WHILE": _COMPOUND, b"LOOP": _COMPOUND, b"REPEAT": _COMPOUND,
    b"CASE": _COMPOUND,
}
for _word in (b"GRANT", b"REVOKE", b"OPTIMIZE", b"REPAIR", b"CHECK", b"CHECKSUM", b"PURGE",
              b"RESET", b"INSTALL", b"UNINSTALL", b"CHANGE", b"STOP", b"SHUTDOWN", b"BINLOG",
              b"CACHE", b"SIGNAL", b"RESIGNAL", b"KILL", b"MERGE"):
    _HEADS[_word] = _WRITE

# ------------------------------------------------------------------------------ driver

_EMPTY = Classification(kind_flag(K.UNKNOWN))
_BODY_OBJECTS = frozenset((b"PROCEDURE", b"FUNCTION", b"TRIGGER", b"EVENT", b"PACKAGE"))


def _one(toks: list[bytes], src: _Source, hint: HintDirective | None,
         has_at: bool) -> Classification:
    if toks and toks[0] == b"SET" and _at(toks, 1) == b"STATEMENT":
        toks = _after_set_statement(toks)  # the per-statement settings do not matter
    if not toks:
        return _EMPTY if hint is None else Classification(kind_flag(K.UNKNOWN), hint=hint)
    kind, features, detail, tables = _HEADS.get(toks[0], _unknown)(toks, src)
    hits = INTERESTING.intersection(toks)
    if hits or has_at:
        features |= scan_features(toks, hits, has_at)
    if tables is None and not kind & _READ_BIT:
        tables = ()
    return make_classification(kind_flag(kind), feature_flag(features), hint, detail, toks,
                               tables)


def _is_compound(first: list[bytes]) -> bool:
    head = _at(first, 0)
    if head in (b"CREATE", b"ALTER"):
        return not _BODY_OBJECTS.isdisjoint(first)
    return (_HEADS.get(head) is _COMPOUND or _at(first, 1) == b":"
            or (head == b"BEGIN" and first[1:3] == [b"NOT", b"ATOMIC"]))


def _multi(statements: list[list[bytes]], src: _Source, hint: HintDirective | None,
           has_at: bool) -> Classification:
    if _is_compound(statements[0]):
        toks = [tok for statement in statements for tok in statement]
        kind = K.WRITE | K.DDL if statements[0][0] in (b"CREATE", b"ALTER") else K.WRITE
        features = F.COMPOUND | scan_features(toks, INTERESTING.intersection(toks), has_at)
        return Classification(kind_flag(kind), feature_flag(features), hint, None, toks, ())
    parts = tuple(_one(statement, src, None, has_at) for statement in statements)
    kind, features = 0, F.MULTI_STATEMENT
    tables: dict[str, None] = {}
    for part in parts:
        kind |= int(part.kind)
        features |= int(part.features)
        tables.update(dict.fromkeys(part.tables))
    return Classification(kind_flag(kind), feature_flag(features), hint, Detail(parts=parts),
                          (), tuple(tables))


def _hint(comment: bytes) -> HintDirective | None:
    return parse_hint_comment(comment) if might_be_hint(comment) else None


def _classify(sql: bytes, no_backslash_escapes: bool, depth: int = 0) -> Classification:
    statements, comment, upper = lex_tuple(sql, no_backslash_escapes)
    hint = _hint(comment) if comment is not None else None
    src = (sql, upper, no_backslash_escapes, depth)
    has_at = _AT in upper  # an int: ``bytes in bytes`` raises and clears a TypeError first
    if len(statements) == 1:
        return _one(statements[0], src, hint, has_at)
    return _multi(statements, src, hint, has_at)


def classify(sql: bytes, *, no_backslash_escapes: bool = False) -> Classification:
    """Classify one COM_QUERY text (the payload after the command byte).

    ``no_backslash_escapes``: the session's ``sql_mode`` has NO_BACKSLASH_ESCAPES (the server
    reports it in the status flags), so a backslash does not escape a quote.
    """
    try:
        return _classify(sql if type(sql) is bytes else bytes(sql), no_backslash_escapes)
    except Exception:  # a classifier bug must not break the session: route to the primary
        log.warning("Statement classification failed; routing to the primary", exc_info=True)
        return _EMPTY
