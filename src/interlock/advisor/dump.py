"""Reading saved ``SHOW GLOBAL STATUS`` / ``SHOW GLOBAL VARIABLES`` / ``mysqladmin
extended-status`` output.

Accepted forms, alone or mixed in one file:

* the table form of ``mysqladmin extended-status`` and ``mariadb -t``:
  ``| Connections | 35 |`` between ``+----+`` borders;
* the tab-separated form of ``mariadb -B`` / ``mariadb -e`` into a file:
  ``Connections<TAB>35`` (with or without the ``Variable_name<TAB>Value`` header);
* the vertical form of ``\\G``: ``Variable_name: Connections`` then ``Value: 35``.

A file can hold several snapshots, e.g. ``mysqladmin -i 1 -c 60 extended-status``: a new
header, or a name seen again, starts the next snapshot.  With ``mysqladmin -r`` every snapshot
after the first holds differences; that is recognised because ``Uptime`` goes down, and the
snapshots are turned back into absolute values.  Names are case-insensitive (kept lower-case).

Lines that fit none of the forms raise :class:`InputFileError` naming the file and line.
"""

from __future__ import annotations

import gzip
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from interlock.advisor.errors import InputFileError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ROW_MARK = re.compile(r"^\*+ (\d+)\. row \*+$")
_NOISE = re.compile(
    r"^(\d+ rows? in set.*|Empty set.*|Bye|Warning: Using a password.*|mysqladmin: \[Warning\].*)$"
)
_HEADER_NAMES = frozenset({"variable_name"})


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One reading of the counters: ``{lower-case name: value text}``, and where it began."""

    values: Mapping[str, str]
    line: int

    def get(self, name: str) -> str | None:
        return self.values.get(name.lower())


@dataclass(frozen=True, slots=True)
class StatusDump:
    """Every snapshot of one file, in order, with absolute values."""

    source: str
    snapshots: tuple[Snapshot, ...]
    relative: bool = False  # the file came from ``mysqladmin -r`` (converted to absolute)

    @property
    def last(self) -> Snapshot:
        return self.snapshots[-1]

    def merged(self) -> dict[str, str]:
        """Every name's latest value over all snapshots (a file may hold STATUS and then
        VARIABLES, or many STATUS readings: the last reading wins)."""
        values: dict[str, str] = {}
        for snap in self.snapshots:
            values.update(snap.values)
        return values


class _Builder:
    """Collects rows into snapshots while the lines are read."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.snapshots: list[Snapshot] = []
        self.current: dict[str, str] = {}
        self.start = 0
        self.pending_name: str | None = None  # vertical form: a name waiting for its value
        self.pending_line = 0

    def boundary(self) -> None:
        if self.current:
            self.snapshots.append(Snapshot(MappingProxyType(self.current), self.start))
        self.current = {}
        self.start = 0

    def add(self, line_no: int, name: str, value: str) -> None:
        if not _NAME.match(name):
            raise InputFileError(self.source, line_no, f"{name!r} is not a variable name")
        key = name.lower()
        if key in _HEADER_NAMES:
            self.boundary()
            return
        if key in self.current:
            self.boundary()
        if not self.current:
            self.start = line_no
        self.current[key] = value


def _table_row(builder: _Builder, line_no: int, line: str) -> None:
    body = line.strip()
    if not body.endswith("|") or body.count("|") < 3:
        raise InputFileError(builder.source, line_no, "a table row needs '| name | value |'")
    name, _, value = body[1:-1].partition("|")
    builder.add(line_no, name.strip(), value.strip())


def _vertical(builder: _Builder, line_no: int, line: str) -> bool:
    label, sep, value = line.strip().partition(":")
    if not sep:
        return False
    label = label.strip().lower()
    if label == "variable_name":
        builder.pending_name, builder.pending_line = value.strip(), line_no
        return True
    if label == "value" and builder.pending_name is not None:
        builder.add(builder.pending_line, builder.pending_name, value.strip())
        builder.pending_name = None
        return True
    return False


def _line(builder: _Builder, line_no: int, raw: str) -> None:
    line = raw.rstrip("\r\n")
    stripped = line.strip()
    if not stripped or stripped.startswith("+-") or _NOISE.match(stripped):
        return
    if stripped.startswith("|"):
        _table_row(builder, line_no, line)
    elif "\t" in line:
        name, _, value = line.partition("\t")
        builder.add(line_no, name.strip(), value.strip())
    elif (mark := _ROW_MARK.match(stripped)) is not None:
        if mark.group(1) == "1":
            builder.boundary()
    elif not _vertical(builder, line_no, line):
        words = stripped.split()
        if len(words) == 1 and _NAME.match(words[0]):
            builder.add(line_no, words[0], "")  # tab-separated with an empty value
            return
        shown = stripped if len(stripped) <= 60 else stripped[:57] + "..."
        raise InputFileError(
            builder.source, line_no,
            f"cannot read {shown!r}: expected '| name | value |', 'name<TAB>value' or"
            " 'Variable_name: ...' lines (SHOW GLOBAL STATUS / VARIABLES or mysqladmin"
            " extended-status output)",
        )


def parse_dump(text: str, source: str = "<input>") -> StatusDump:
    """All snapshots in ``text`` (see the module docstring for the accepted forms)."""
    builder = _Builder(source)
    for line_no, raw in enumerate(text.splitlines(), start=1):
        _line(builder, line_no, raw)
    builder.boundary()
    if not builder.snapshots:
        raise InputFileError(source, 0, "no variables found (is this SHOW GLOBAL STATUS output?)")
    return _absolute(StatusDump(source, tuple(builder.snapshots)))


def load_dump(path: str | Path) -> StatusDump:
    """:func:`parse_dump` of a file (``.gz`` files are decompressed)."""
    name = str(path)
    try:
        raw = gzip.decompress(Path(path).read_bytes()) if name.endswith(".gz") else None
        data = raw if raw is not None else Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(name, 0, f"cannot read the file: {exc.strerror or exc}") from exc
    if b"\x00" in data:
        raise InputFileError(name, 0, "not a text file (it contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return parse_dump(text, name)


def _number(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _absolute(dump: StatusDump) -> StatusDump:
    """Undo ``mysqladmin -r``: when ``Uptime`` goes down, later snapshots are differences."""
    uptimes = [_number(s.get("uptime")) for s in dump.snapshots]
    known = [u for u in uptimes if u is not None]
    if len(known) < 2 or all(b >= a for a, b in itertools.pairwise(known)):
        return dump
    running = dict(dump.snapshots[0].values)
    snapshots = [dump.snapshots[0]]
    for snap in dump.snapshots[1:]:
        for key, delta in snap.values.items():
            base, step = _number(running.get(key)), _number(delta)
            running[key] = str(base + step) if base is not None and step is not None else delta
        snapshots.append(Snapshot(MappingProxyType(dict(running)), snap.line))
    return StatusDump(dump.source, tuple(snapshots), relative=True)
