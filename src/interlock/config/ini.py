"""A small reader for the INI shape of maxscale.cnf that keeps line numbers.

Accepted lines: ``[name]`` section headers, ``key=value`` (whitespace around ``=`` allowed; the
value is everything after the first ``=``, trimmed, so ``#`` and ``;`` inside a value such as a
password are kept), comment lines whose first non-blank character is ``#`` or ``;``, and blank
lines.  Anything else is reported: indented continuation lines (not MaxScale syntax), keys
before the first section, duplicate sections and duplicate keys (the first one is kept, so one
mistake does not cascade).  The reader never raises; it reports to :class:`Diagnostics`.
"""

from __future__ import annotations

from dataclasses import dataclass

from interlock.config.diagnostics import Diagnostics
from interlock.config.values import NAME_RE, NAME_RULE


@dataclass(frozen=True, slots=True)
class IniEntry:
    key: str
    value: str
    line: int


@dataclass(frozen=True, slots=True)
class IniSection:
    name: str
    line: int
    entries: tuple[IniEntry, ...]

    def get(self, key: str) -> IniEntry | None:
        return next((e for e in self.entries if e.key == key), None)


@dataclass(slots=True)
class _Open:
    name: str
    line: int
    entries: list[IniEntry]


def parse_ini(text: str, diag: Diagnostics) -> tuple[IniSection, ...]:
    """The sections of ``text`` in file order; problems go to ``diag``."""
    sections: list[_Open] = []
    seen: dict[str, int] = {}
    current: _Open | None = None
    skipping = False  # inside a duplicate section: its lines are not read
    lines = text.removeprefix("\ufeff").split("\n")  # "\n" only: as editors count lines
    for number, raw_line in enumerate(lines, start=1):
        line = raw_line.removesuffix("\r")
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("["):
            current, skipping = _header(stripped, number, sections, seen, diag)
            continue
        if skipping:
            continue
        section = current.name if current else None
        if line[0] in " \t":
            diag.error(
                f"indented line '{stripped}': continuation lines are not supported; "
                "write each parameter as key=value on one line, starting in the first column",
                number,
                section,
            )
        elif "=" not in line:
            diag.error(
                f"cannot read '{stripped}'; expected [section], key=value, "
                "or a comment starting with # or ;",
                number,
                section,
            )
        elif current is None:
            diag.error(
                f"'{stripped}' comes before any [section]; "
                "put it under a section header such as [maxscale]",
                number,
            )
        else:
            _entry(line, number, current, diag)
    return tuple(IniSection(s.name, s.line, tuple(s.entries)) for s in sections)


def _header(
    stripped: str, number: int, sections: list[_Open], seen: dict[str, int], diag: Diagnostics
) -> tuple[_Open | None, bool]:
    if not stripped.endswith("]"):
        diag.error(f"malformed section header '{stripped}'; expected [name]", number)
        return None, True
    name = stripped[1:-1].strip()
    if not NAME_RE.match(name):
        diag.error(f"invalid section name '[{name}]'; a name may contain only {NAME_RULE}", number)
        return None, True
    if name in seen:
        diag.error(
            f"duplicate section [{name}] (first defined at line {seen[name]}); "
            "every section name must be unique",
            number,
        )
        return None, True
    seen[name] = number
    opened = _Open(name, number, [])
    sections.append(opened)
    return opened, False


def _entry(line: str, number: int, current: _Open, diag: Diagnostics) -> None:
    key, _, value = line.partition("=")
    key, value = key.strip(), value.strip()
    if not key:
        diag.error(
            f"'{line.strip()}' has no parameter name; expected key=value", number, current.name
        )
        return
    first = next((e for e in current.entries if e.key == key), None)
    if first is not None:
        diag.error(
            f"duplicate parameter '{key}' (first set at line {first.line}); "
            "set each parameter once",
            number,
            current.name,
        )
        return
    current.entries.append(IniEntry(key, value, number))
