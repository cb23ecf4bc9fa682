"""Routing hints in SQL comments, in MaxScale's hintfilter syntax and Interlock's own spelling.

A hint is a comment whose body starts with the tag ``maxscale`` or ``interlock`` (any case)::

    SELECT ... -- maxscale route to master
    SELECT ... # interlock route to slave
    /* maxscale route to server db2 */ SELECT ...
    SELECT ... -- maxscale route to last
    SELECT ... -- maxscale max_slave_replication_lag=5

As in MaxScale, only the *first* comment of a statement is looked at (the lexer hands it over),
wherever it sits; ``--`` needs a whitespace after it.  Besides single-use hints MaxScale has a
per-session hint stack, which this module parses and :mod:`interlock.routing.session_state`
keeps:

- ``-- maxscale <name> prepare <hint>`` defines a named hint (no effect on this statement);
- ``-- maxscale <name> begin`` pushes a named hint, ``-- maxscale begin <hint>`` an anonymous one
  (both apply to this statement and the following ones);
- ``-- maxscale end`` pops the stack.

``primary``/``replica`` are accepted as synonyms of ``master``/``slave``.  A comment that is not a
well-formed hint is no hint (``None``); nothing here raises on any input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum


class HintRoute(IntEnum):
    MASTER = 1
    SLAVE = 2
    SERVER = 3
    LAST = 4


class HintAction(IntEnum):
    USE = 0  # a single-use hint for this statement
    DEFINE = 1  # ``<name> prepare <hint>``
    PUSH = 2  # ``begin <hint>`` / ``<name> begin``
    POP = 3  # ``end``


@dataclass(frozen=True, slots=True)
class Hint:
    route: HintRoute | None = None
    server: str | None = None  # for HintRoute.SERVER, as written (server names are case-sensitive)
    max_replication_lag: float | None = None  # seconds, from ``max_slave_replication_lag=<n>``


@dataclass(frozen=True, slots=True)
class HintDirective:
    action: HintAction
    hint: Hint | None = None  # USE, DEFINE, anonymous PUSH
    name: str | None = None  # DEFINE, named PUSH


_TAGS = frozenset(("maxscale", "interlock"))
_ROUTES = {"master": HintRoute.MASTER, "primary": HintRoute.MASTER, "slave": HintRoute.SLAVE,
           "replica": HintRoute.SLAVE, "last": HintRoute.LAST}
_LAG_PARAMS = frozenset(("max_slave_replication_lag", "max_replication_lag"))
_WORDS = re.compile(r"[^\s=]+|=")
_NUMBER = re.compile(r"\d+(?:\.\d*)?")


def comment_body(comment: bytes) -> str:
    """The text inside a comment token (``-- x``, ``# x``, ``/* x */``), stripped."""
    if comment.startswith(b"/*"):
        body = comment[2:-2] if comment.endswith(b"*/") and len(comment) >= 4 else comment[2:]
    elif comment.startswith(b"--"):
        body = comment[2:]
    else:
        body = comment[1:]
    return body.decode("utf-8", "replace").strip()


def might_be_hint(comment: bytes) -> bool:
    """Cheap filter: may this comment be a hint?"""
    lowered = comment[:64].lower()
    return lowered.find(b"maxscale") >= 0 or lowered.find(b"interlock") >= 0


def parse_hint_comment(comment: bytes) -> HintDirective | None:
    """Parse a comment token into a hint directive; ``None`` when it is not a hint."""
    words = _WORDS.findall(comment_body(comment))
    if len(words) < 2 or words[0].lower() not in _TAGS:
        return None
    return _parse_directive(words[1:])


def _parse_directive(words: list[str]) -> HintDirective | None:
    first = words[0].lower()
    if first == "end" and len(words) == 1:
        return HintDirective(HintAction.POP)
    if first == "begin":
        hint = _parse_hint(words[1:])
        return HintDirective(HintAction.PUSH, hint) if hint is not None else None
    if len(words) >= 2 and words[1].lower() == "prepare":
        hint = _parse_hint(words[2:])
        return HintDirective(HintAction.DEFINE, hint, words[0]) if hint is not None else None
    if len(words) == 2 and words[1].lower() == "begin":
        return HintDirective(HintAction.PUSH, None, words[0])
    hint = _parse_hint(words)
    return HintDirective(HintAction.USE, hint) if hint is not None else None


def _parse_hint(words: list[str]) -> Hint | None:
    lowered = [w.lower() for w in words]
    if lowered[:2] == ["route", "to"]:
        return _parse_route(words[2:], lowered[2:])
    if len(words) == 3 and lowered[0] in _LAG_PARAMS and words[1] == "=":
        number = _NUMBER.fullmatch(words[2])
        return Hint(max_replication_lag=float(number.group())) if number else None
    return None


def _parse_route(words: list[str], lowered: list[str]) -> Hint | None:
    if len(words) == 1 and lowered[0] in _ROUTES:
        return Hint(_ROUTES[lowered[0]])
    if len(words) == 2 and lowered[0] == "server":
        return Hint(HintRoute.SERVER, words[1])
    return None
