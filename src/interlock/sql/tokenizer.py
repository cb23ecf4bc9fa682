"""A small, fast lexer for statement text (the payload of a COM_QUERY after the command byte).

Theory of operation
-------------------
The classifier needs the *significant* tokens of a statement (keywords, identifiers, operators),
never their values, so the lexer works on the statement upper-cased once (``bytes.upper`` only
folds ASCII letters, so byte offsets and token boundaries do not change) and splits it with one
compiled regular expression, i.e. in C: one ``findall`` call per statement.  Everything that
could hide SQL syntax is matched whole and can therefore never be mistaken for SQL: quoted
strings (``'...'`` and ``"..."`` with backslash escapes and doubled quotes; with
``NO_BACKSLASH_ESCAPES`` a backslash is an ordinary character) and backquoted identifiers are
tokens; comments (``-- `` up to the end of the line, ``#`` likewise, ``/* ... */``) are skipped
inside the expression like whitespace.  A text without any comment character gets a leaner
expression (:data:`_PLAIN_TOKEN`), since trying the comment alternatives before every token is
what costs; only a text that names a hint tag is lexed a second time, with comments as tokens
(:data:`_ALL_TOKENS`), to find its first comment.

Version comments ``/*! ... */``, ``/*!50100 ... */``, ``/*M! ... */`` and ``/*M!100100 ... */``
are executable: the server runs their content.  The lexer skips the opener (``/*!50100``) and
the closer (``*/``) and lexes the content as SQL.  The version number is not compared with any
server version: content the server would skip is still treated as SQL, which can only make a
statement look *more* primary-bound (a stray ``*/`` outside a version comment is skipped too;
it is not valid SQL there).

Only ``/*M!`` (upper case) is executable; the lexer rewrites a ``/*m!`` in the text to ``/*_!``
(same length) before upper-casing so it stays a plain comment, as the server treats it.

The result (:class:`Lexed`) holds the significant tokens split into statements at top-level
``;`` (so a multi-statement packet is visible) and the text of the first comment (the only one a
routing hint may sit in, as in MaxScale's hintfilter).  Unterminated strings and comments run to
the end of the text; no input makes the lexer fail.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_WORD = rb"[A-Z0-9_$\x80-\xff]++"
_SQ_BS = rb"'(?:[^'\\]++|\\.|'')*+(?:'|\\?\Z)"
_DQ_BS = rb'"(?:[^"\\]++|\\.|"")*+(?:"|\\?\Z)'
_SQ_NB = rb"'(?:[^']++|'')*+(?:'|\Z)"
_DQ_NB = rb'"(?:[^"]++|"")*+(?:"|\Z)'
_BQ = rb"`(?:[^`]++|``)*+(?:`|\Z)"
# ``--`` starts a comment only when followed by whitespace or a control character (MariaDB).
_LINE_COMMENT = rb"(?:--(?=[\x00-\x20]|\Z)|\#)[^\n]*+"
_BLOCK_COMMENT = rb"/\*(?!M?!).*?(?:\*/|\Z)"
_VERSION_OPEN = rb"/\*M?!\d*+"
_VERSION_CLOSE = rb"\*/"
_SYSVAR = rb"@@[A-Z0-9_$.\x80-\xff]++"
_PUNCTUATION = rb"[^\sA-Z0-9_$\x80-\xff'\"`#/*@:\-]"


def _user_var(sq: bytes, dq: bytes) -> bytes:
    return rb"@(?:[A-Z0-9_$.\x80-\xff]++|" + sq + b"|" + dq + b"|" + _BQ + b")?"


_NOISE = (_LINE_COMMENT, _BLOCK_COMMENT, _VERSION_OPEN, _VERSION_CLOSE)


def _token_re(sq: bytes, dq: bytes, *, with_comments: bool,
              skip_comments: bool = True) -> re.Pattern[bytes]:
    # Upper-case input only: the lexer runs on ``sql.upper()``.  The one-group form makes
    # ``findall`` return the tokens themselves, without what is skipped in front of them:
    # whitespace and, unless ``with_comments``, comments and version-comment markers (skipping
    # them inside the regular expression costs nothing per token in Python).  Most tokens are
    # words or one-character operators that start no other token: those two come first;
    # everything else falls through to a single non-space character.
    tokens: tuple[bytes, ...] = (_WORD, _PUNCTUATION, sq, dq, _BQ, _SYSVAR, _user_var(sq, dq),
                                 rb":=")
    # A trailing comment is skipped too: the group can match the empty end of the text (so
    # findall does not search on inside the comment); that empty token is dropped.
    if with_comments:
        skip, tokens = rb"\s*+", tokens + _NOISE
    elif skip_comments:
        skip = rb"(?:\s++|" + b"|".join(_NOISE) + rb")*+"
    else:  # for texts without any comment: nothing but whitespace to skip, fewer alternatives
        return re.compile(rb"\s*+(" + b"|".join((*tokens, rb"\S")) + b")", re.DOTALL)
    return re.compile(skip + b"(" + b"|".join((*tokens, rb"\S", rb"\Z")) + b")", re.DOTALL)


def _findall(pattern: re.Pattern[bytes], upper: bytes) -> list[bytes]:
    toks: list[bytes] = pattern.findall(upper)
    while toks and not toks[-1]:  # the end of the text (after a trailing comment, and at the end)
        toks.pop()
    return toks


_TOKEN = _token_re(_SQ_BS, _DQ_BS, with_comments=False)
_TOKEN_NO_BACKSLASH = _token_re(_SQ_NB, _DQ_NB, with_comments=False)
_PLAIN_TOKEN = _token_re(_SQ_BS, _DQ_BS, with_comments=False, skip_comments=False)
_PLAIN_TOKEN_NO_BACKSLASH = _token_re(_SQ_NB, _DQ_NB, with_comments=False, skip_comments=False)
_ALL_TOKENS = _token_re(_SQ_BS, _DQ_BS, with_comments=True)
_ALL_TOKENS_NO_BACKSLASH = _token_re(_SQ_NB, _DQ_NB, with_comments=True)

_SEMI = b";"
_HASH, _DASH, _SLASH, _SEMICOLON = ord("#"), ord("-"), ord("/"), ord(";")


class Lexed(NamedTuple):
    """Significant tokens of a statement text (upper case), split at top-level ``;``."""

    statements: list[list[bytes]]  # at least one list (possibly empty); empty statements dropped
    comment: bytes | None  # the first plain comment as written (original case), markers included
    upper: bytes  # the whole text, upper-cased


def _is_plain_comment(token: bytes) -> bool:
    return token[:1] == b"#" or token[:2] == b"--" or (
        token[:2] == b"/*" and not token.startswith((b"/*!", b"/*M!")))


def tokens(sql: bytes, *, no_backslash_escapes: bool = False) -> list[bytes]:
    """Every token of ``sql`` upper-cased, comments, markers and ``;`` included (tests/tools)."""
    return lex(sql, no_backslash_escapes=no_backslash_escapes, keep_comments=True).statements[0]


def _first_comment(sql: bytes, upper: bytes, toks: list[bytes]) -> bytes | None:
    for token in toks:
        if _is_plain_comment(token):
            # Same offsets in ``sql`` and ``upper``: recover the comment's original case.
            start = upper.find(token)
            return sql[start:start + len(token)]
    return None


def _split_statements(toks: list[bytes]) -> list[list[bytes]]:
    out: list[list[bytes]] = []
    start = 0
    for _ in range(toks.count(_SEMI)):
        end = toks.index(_SEMI, start)
        if end > start:
            out.append(toks[start:end])
        start = end + 1
    if start < len(toks):
        out.append(toks[start:])
    return out or [[]]


def lex(sql: bytes, *, no_backslash_escapes: bool = False, keep_comments: bool = False) -> Lexed:
    """Lex ``sql`` into significant upper-case tokens per statement plus its first comment.

    ``keep_comments``: return every token (comments, markers, ``;``) as one statement.
    """
    upper = _upper(sql)
    everything = _findall(_ALL_TOKENS_NO_BACKSLASH if no_backslash_escapes else _ALL_TOKENS,
                          upper)
    if keep_comments:
        return Lexed([everything], None, upper)
    statements, _, _ = lex_tuple(sql, no_backslash_escapes, hint_tags=())
    return Lexed(statements, _first_comment(sql, upper, everything), upper)


def _upper(sql: bytes) -> bytes:
    # ``find`` rather than ``in``: CPython's ``bytes in bytes`` first tries the needle as an int,
    # raising and clearing a TypeError, which costs more than the search.
    # Single-byte tests are ints, which ``in`` handles directly.
    if _SLASH in sql and sql.find(b"/*m!") >= 0:
        sql = sql.replace(b"/*m!", b"/*_!")
    return sql.upper()


HINT_TAGS = (b"MAXSCALE", b"INTERLOCK")


def lex_tuple(sql: bytes, no_backslash_escapes: bool = False,
              hint_tags: tuple[bytes, ...] = HINT_TAGS,
              ) -> tuple[list[list[bytes]], bytes | None, bytes]:
    """:func:`lex` as a plain tuple, for the classifier's hot path.

    The first comment is looked for only when the text contains one of ``hint_tags`` (upper
    case) somewhere: it is only wanted when it may be a routing hint.
    """
    upper = _upper(sql)
    comment = None
    if (_HASH in upper or (_DASH in upper and upper.find(b"--") >= 0)
            or (_SLASH in upper and upper.find(b"/*") >= 0)):  # there may be comments
        toks = _findall(_TOKEN_NO_BACKSLASH if no_backslash_escapes else _TOKEN, upper)
        if hint_tags and any(upper.find(tag) >= 0 for tag in hint_tags):
            pattern = _ALL_TOKENS_NO_BACKSLASH if no_backslash_escapes else _ALL_TOKENS
            comment = _first_comment(sql, upper, _findall(pattern, upper))
    else:
        toks = (_PLAIN_TOKEN_NO_BACKSLASH if no_backslash_escapes else _PLAIN_TOKEN).findall(upper)
    if _SEMICOLON not in upper or _SEMI not in toks:
        return [toks], comment, upper
    return _split_statements(toks), comment, upper


def original_token(sql: bytes, upper: bytes, token: bytes, start: int = 0) -> bytes:
    """``token`` (from the upper-cased text) as written in ``sql`` (first occurrence)."""
    pos = upper.find(token, start)
    return sql[pos:pos + len(token)] if pos >= 0 else token


def unquote(token: bytes, *, no_backslash_escapes: bool = False) -> bytes:
    """The value of a quoted string or identifier token (``'a''b'`` -> ``a'b``).

    Backslash escapes of string literals are decoded the way the server decodes them (``\\n``,
    ``\\t``, ``\\0``, ``\\Z``...; an unknown escape stands for the character itself).
    """
    quote = token[:1]
    if quote not in (b"'", b'"', b"`"):
        return token
    body = token[1:-1] if len(token) > 1 and token.endswith(quote) else token[1:]
    body = body.replace(quote + quote, quote)
    if quote == b"`" or no_backslash_escapes or b"\\" not in body:
        return body
    return _BACKSLASH.sub(_unescape_one, body)


_BACKSLASH = re.compile(rb"\\(.)", re.DOTALL)
_ESCAPES = {b"0": b"\x00", b"b": b"\b", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"Z": b"\x1a",
            b"%": b"\\%", b"_": b"\\_"}


def _unescape_one(match: re.Match[bytes]) -> bytes:
    char = match.group(1)
    return _ESCAPES.get(char, char)
