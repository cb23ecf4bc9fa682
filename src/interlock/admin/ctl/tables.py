"""Tables as maxctrl prints them, and the tab-separated form for scripts (pure).

A table is boxed with the light box-drawing characters; every row, the header included, is
followed by a separator line, as maxctrl's tables are::

    ┌─────────┬───────────┐
    │ Server  │ Address   │
    ├─────────┼───────────┤
    │ server1 │ 127.0.0.1 │
    └─────────┴───────────┘

Cells are left-aligned with one space of padding.  A cell may hold several lines (nested
values); its row grows to the tallest cell.  A key/value table (``show``) is a table without a
header.  Values are turned into text by :func:`cell_text`: None is empty, booleans are
``true``/``false`` (as JSON), a list of plain values is joined with ``", "``, a flat mapping
becomes a nested key/value table (compact: no rule between its rows) and anything deeper is
indented JSON.  In TSV (``--tsv``: no
header, one line per row, cells separated by a tab) nested values are compact JSON and tabs or
newlines inside a cell become spaces, so every row stays one line.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Rule:
    """The characters of one horizontal line: left end, fill, column joint, right end."""

    left: str
    fill: str
    joint: str
    right: str


TOP = Rule("┌", "─", "┬", "┐")
MIDDLE = Rule("├", "─", "┼", "┤")
BOTTOM = Rule("└", "─", "┴", "┘")
VERTICAL = "│"
PAD = 1  # spaces on each side of a cell's text


@dataclass(frozen=True, slots=True)
class Table:
    """Rows under column headers (``list``)."""

    headers: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True, slots=True)
class Fields:
    """Name/value pairs (``show``): a two-column table without a header."""

    rows: tuple[tuple[str, Any], ...]


# -- values -------------------------------------------------------------------------------


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _flat(value: Any) -> bool:
    """A scalar, or a list of scalars (one line of text)."""
    return _scalar(value) or (isinstance(value, list | tuple) and all(_scalar(v) for v in value))


def scalar_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def cell_text(value: Any, tsv: bool = False) -> str:
    """The text of one cell (see the module docstring)."""
    if _scalar(value):
        text = scalar_text(value)
    elif isinstance(value, list | tuple) and all(_scalar(v) for v in value):
        text = ", ".join(scalar_text(v) for v in value)
    elif tsv:
        text = json.dumps(value, separators=(",", ":"), default=str)
    elif isinstance(value, Mapping) and value and all(_flat(v) for v in value.values()):
        text = render_rows(None, [(str(k), v) for k, v in value.items()], rules=False)
    else:
        text = json.dumps(value, indent=4, default=str)
    if tsv:
        return " ".join(text.replace("\t", " ").splitlines())
    return text


# -- box tables ---------------------------------------------------------------------------


def width(text: str) -> int:
    """Columns ``text`` takes on a terminal (wide East Asian characters count 2)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else
               0 if unicodedata.combining(c) else 1 for c in text)


def _rule(rule: Rule, widths: Sequence[int]) -> str:
    return rule.left + rule.joint.join(rule.fill * (w + 2 * PAD) for w in widths) + rule.right


def _lines(cells: Sequence[list[str]], widths: Sequence[int]) -> list[str]:
    height = max((len(c) for c in cells), default=1) or 1
    out = []
    for i in range(height):
        parts = []
        for cell, w in zip(cells, widths, strict=True):
            text = cell[i] if i < len(cell) else ""
            parts.append(" " * PAD + text + " " * (w - width(text) + PAD))
        out.append(VERTICAL + VERTICAL.join(parts) + VERTICAL)
    return out


def render_rows(headers: Sequence[str] | None, rows: Sequence[Sequence[Any]],
                rules: bool = True) -> str:
    """A boxed table; ``headers`` None for a key/value table; ``rules`` False: no line
    between body rows (the compact form of a table nested in a cell)."""
    body = [[cell_text(v).split("\n") for v in row] for row in rows]
    head = [[str(h)] for h in headers] if headers is not None else None
    ncols = len(headers) if headers is not None else max((len(r) for r in body), default=0)
    if ncols == 0:
        return ""
    every = ([head] if head else []) + body
    widths = [max((width(line) for row in every if i < len(row) for line in row[i]), default=0)
              for i in range(ncols)]
    lines = [_rule(TOP, widths)]
    for index, row in enumerate(every):
        padded = list(row) + [[""]] * (ncols - len(row))
        lines.extend(_lines(padded, widths))
        if index == len(every) - 1:
            lines.append(_rule(BOTTOM, widths))
        elif rules or (head is not None and index == 0):
            lines.append(_rule(MIDDLE, widths))
    return "\n".join(lines)


def render_tsv(rows: Sequence[Sequence[Any]]) -> str:
    """One line per row, cells separated by a tab, no header."""
    return "\n".join("\t".join(cell_text(v, tsv=True) for v in row) for row in rows)


def render(view: Table | Fields, tsv: bool = False) -> str:
    if isinstance(view, Table):
        return render_tsv(view.rows) if tsv else render_rows(view.headers, view.rows)
    return render_tsv(view.rows) if tsv else render_rows(None, view.rows)
