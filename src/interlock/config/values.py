"""Value types of configuration parameters: parse the text of a value, render it back.

Every type is a small frozen object with ``parse(raw) -> value``, ``render(value) -> str`` and
``expected`` (the accepted form, in words, used in error messages and in the docs table).
A value that does not parse raises :class:`ConfigValueError` (a :class:`ConfigError`) whose
``expected`` says what would have been accepted; the loader adds file, line, section and key.

Forms follow MaxScale's configuration guide:

- booleans: ``true/false/on/off/yes/no/1/0`` (any case);
- durations: a whole number with a unit ``ms``, ``s``, ``m`` (or ``min``, MaxScale's other
  spelling) or ``h``, any case; a bare number is rejected (MaxScale deprecated it in 2.4);
  stored as float seconds;
- sizes: a whole number of bytes, optionally with ``K/M/G/T`` (powers of 1000) or
  ``Ki/Mi/Gi/Ti`` (powers of 1024); stored as int bytes;
- object lists: comma-separated section names (whitespace around commas allowed).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from interlock.errors import ConfigError

#: characters MaxScale allows in object (section) names
NAME_RE = re.compile(r"^[A-Za-z0-9_.~-]+$")
NAME_RULE = "letters, digits and the characters _ . ~ -"

_TRUE = frozenset({"true", "on", "yes", "1"})
_FALSE = frozenset({"false", "off", "no", "0"})

# [0-9], not \d: \d also matches other scripts' digits, which MaxScale does not read
_DURATION_RE = re.compile(r"^(-?)([0-9]+)(ms|s|min|m|h)$", re.IGNORECASE)
_DURATION_MS = {"ms": 1, "s": 1000, "min": 60_000, "m": 60_000, "h": 3_600_000}
#: the largest duration accepted (about 31 years): keeps float seconds exact to the ms
MAX_DURATION_MS = 10**12

_SIZE_RE = re.compile(r"^([0-9]+)([kmgt]i?)?$", re.IGNORECASE)
_SIZE_FACTOR = {
    "": 1,
    "k": 1000,
    "m": 1000**2,
    "g": 1000**3,
    "t": 1000**4,
    "ki": 1024,
    "mi": 1024**2,
    "gi": 1024**3,
    "ti": 1024**4,
}
_INT_RE = re.compile(r"^[+-]?[0-9]+$")
#: the largest integer and size accepted: MaxScale reads both as signed 64-bit numbers
MAX_INT = 2**63 - 1
_MAX_DIGITS = len(str(MAX_INT))


def _too_long(digits: str) -> bool:
    """More significant digits than any accepted number has (checked before ``int()``, which
    refuses strings of more than 4300 digits with a ValueError)."""
    return len(digits.lstrip("+-").lstrip("0")) > _MAX_DIGITS


class ConfigValueError(ConfigError):
    """A value that does not have its parameter's form; ``expected`` describes the form."""

    def __init__(self, problem: str, expected: str) -> None:
        super().__init__(f"{problem}; expected {expected}")
        self.problem = problem
        self.expected = expected


def nearest(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to ``word`` (difflib, any case), or None when nothing is close."""
    pool = sorted(set(candidates))
    lowered = {c.lower(): c for c in pool}
    if word.lower() in lowered:
        return lowered[word.lower()]
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[found[0]] if found else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` or the empty string."""
    guess = nearest(word, candidates)
    return f" (did you mean '{guess}'?)" if guess is not None and guess != word else ""


class ValueType(Protocol):
    @property
    def form(self) -> str:
        """Short name of the form, for the docs table (``duration``, ``bool``...)."""
        ...

    @property
    def expected(self) -> str:
        """The accepted form in words (``a duration with a unit: ...``)."""
        ...

    def parse(self, raw: str) -> Any: ...

    def render(self, value: Any) -> str: ...


# -- scalar parsers (also used directly by tests) -------------------------------------------


def parse_bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ConfigValueError(f"'{raw}' is not a boolean", BoolType().expected)


def render_bool(value: bool) -> str:
    return "true" if value else "false"


def parse_duration_ms(raw: str, allow_negative: bool = False) -> int:
    """A duration as whole milliseconds."""
    expected = DurationType(allow_negative).expected
    text = raw.strip()
    match = _DURATION_RE.match(text)
    if match is None:
        if _INT_RE.match(text):
            raise ConfigValueError(f"'{raw}' has no unit", expected)
        raise ConfigValueError(f"'{raw}' is not a duration", expected)
    sign, digits, unit = match.groups()
    ms = MAX_DURATION_MS + 1 if _too_long(digits) else int(digits) * _DURATION_MS[unit.lower()]
    if sign and ms and not allow_negative:
        raise ConfigValueError(f"'{raw}' is negative", expected)
    if ms > MAX_DURATION_MS:
        raise ConfigValueError(f"'{raw}' is too large", f"{expected}, at most {MAX_DURATION_MS}ms")
    return -ms if sign else ms


def parse_duration(raw: str, allow_negative: bool = False) -> float:
    """A duration as float seconds."""
    return parse_duration_ms(raw, allow_negative) / 1000


def render_duration(seconds: float) -> str:
    """The shortest exact spelling, in the largest unit that divides the value."""
    ms = round(seconds * 1000)
    sign, ms = ("-", -ms) if ms < 0 else ("", ms)
    if ms == 0:
        return "0s"
    for unit in ("h", "m", "s"):
        factor = _DURATION_MS[unit]
        if ms % factor == 0:
            return f"{sign}{ms // factor}{unit}"
    return f"{sign}{ms}ms"


def parse_size(raw: str) -> int:
    text = raw.strip()
    match = _SIZE_RE.match(text)
    if match is None:
        raise ConfigValueError(f"'{raw}' is not a size", SizeType().expected)
    digits, suffix = match.groups()
    value = MAX_INT + 1 if _too_long(digits) else int(digits) * _SIZE_FACTOR[(suffix or "").lower()]
    if value > MAX_INT:
        raise ConfigValueError(
            f"'{raw}' is too large", f"{SizeType().expected}, at most {MAX_INT} bytes"
        )
    return value


def render_size(value: int) -> str:
    for suffix in ("Ti", "Gi", "Mi", "Ki"):
        factor = _SIZE_FACTOR[suffix.lower()]
        if value and value % factor == 0:
            return f"{value // factor}{suffix}"
    return str(value)


def parse_int(raw: str, low: int | None = None, high: int | None = None) -> int:
    expected = IntType(low, high).expected
    text = raw.strip()
    if not _INT_RE.match(text):
        raise ConfigValueError(f"'{raw}' is not an integer", expected)
    sign = -1 if text.startswith("-") else 1
    value = sign * (MAX_INT + 2) if _too_long(text) else int(text)
    shown = text if abs(value) > MAX_INT else value
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigValueError(f"{shown} is out of range", expected)
    if not -MAX_INT - 1 <= value <= MAX_INT:  # no bound of its own: MaxScale's 64 bits
        wide = IntType(-MAX_INT - 1 if low is None else low, MAX_INT if high is None else high)
        raise ConfigValueError(f"{shown} is out of range", wide.expected)
    return value


def check_name(raw: str) -> str:
    if not NAME_RE.match(raw):
        raise ConfigValueError(f"'{raw}' is not a valid object name", f"a name made of {NAME_RULE}")
    return raw


# -- the types ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StringType:
    allow_empty: bool = False
    what: str = "text"

    @property
    def form(self) -> str:
        return "string"

    @property
    def expected(self) -> str:
        return self.what if self.allow_empty else f"{self.what} (not empty)"

    def parse(self, raw: str) -> str:
        if not raw and not self.allow_empty:
            raise ConfigValueError("the value is empty", self.expected)
        return raw

    def render(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True, slots=True)
class HostType:
    """A host name or IP address: not empty, no whitespace (so a trailing comment, which
    the file syntax does not have, is an error instead of part of the address)."""

    @property
    def form(self) -> str:
        return "string"

    @property
    def expected(self) -> str:
        return "a host name or IP address (not empty)"

    def parse(self, raw: str) -> str:
        if not raw:
            raise ConfigValueError("the value is empty", self.expected)
        if any(c.isspace() for c in raw):
            raise ConfigValueError(f"'{raw}' contains whitespace", self.expected)
        return raw

    def render(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True, slots=True)
class PathType:
    """A file or directory path; the loader resolves it against the config file's directory."""

    @property
    def form(self) -> str:
        return "path"

    @property
    def expected(self) -> str:
        return "a file or directory path (relative paths start at the config file's directory)"

    def parse(self, raw: str) -> str:
        if not raw:
            raise ConfigValueError("the value is empty", self.expected)
        return raw

    def render(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True, slots=True)
class BoolType:
    @property
    def form(self) -> str:
        return "bool"

    @property
    def expected(self) -> str:
        return "a boolean: true, false, on, off, yes, no, 1 or 0"

    def parse(self, raw: str) -> bool:
        return parse_bool(raw)

    def render(self, value: Any) -> str:
        return render_bool(bool(value))


@dataclass(frozen=True, slots=True)
class IntType:
    low: int | None = None
    high: int | None = None

    @property
    def form(self) -> str:
        if self.low is not None and self.high is not None:
            return f"int {self.low}..{self.high}"
        return f"int >= {self.low}" if self.low is not None else "int"

    @property
    def expected(self) -> str:
        if self.low is not None and self.high is not None:
            return f"an integer from {self.low} to {self.high}"
        if self.low is not None:
            return f"an integer >= {self.low}"
        return "an integer"

    def parse(self, raw: str) -> int:
        return parse_int(raw, self.low, self.high)

    def render(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True, slots=True)
class DurationType:
    allow_negative: bool = False

    @property
    def form(self) -> str:
        return "duration (may be negative)" if self.allow_negative else "duration"

    @property
    def expected(self) -> str:
        sign = "an optionally negative" if self.allow_negative else "a"
        return f"{sign} whole number with a unit: ms, s, m or h (e.g. 2s, 500ms)"

    def parse(self, raw: str) -> float:
        return parse_duration(raw, self.allow_negative)

    def render(self, value: Any) -> str:
        return render_duration(float(value))


@dataclass(frozen=True, slots=True)
class SizeType:
    @property
    def form(self) -> str:
        return "size"

    @property
    def expected(self) -> str:
        return "a size in bytes, optionally with K, M, G, T (x1000) or Ki, Mi, Gi, Ti (x1024)"

    def parse(self, raw: str) -> int:
        return parse_size(raw)

    def render(self, value: Any) -> str:
        return render_size(int(value))


@dataclass(frozen=True, slots=True)
class EnumType:
    """One of ``choices`` (any case); ``aliases`` maps other accepted spellings to a choice."""

    choices: tuple[str, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)

    @property
    def form(self) -> str:
        return "enum"

    @property
    def expected(self) -> str:
        also = f" (or {', '.join(self.aliases)})" if self.aliases else ""
        return "one of: " + ", ".join(self.choices) + also

    def parse(self, raw: str) -> str:
        table = {c.lower(): c for c in self.choices}
        table.update({a.lower(): c for a, c in self.aliases.items()})
        found = table.get(raw.strip().lower())
        if found is None:
            hint = did_you_mean(raw, [*self.choices, *self.aliases])
            raise ConfigValueError(f"'{raw}' is not a valid choice{hint}", self.expected)
        return found

    def render(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True, slots=True)
class EnumListType:
    """A comma-separated list of ``choices``."""

    choices: tuple[str, ...]

    @property
    def form(self) -> str:
        return "enum list"

    @property
    def expected(self) -> str:
        return "a comma-separated list of: " + ", ".join(self.choices)

    def parse(self, raw: str) -> tuple[str, ...]:
        item = EnumType(self.choices)
        parts = [p.strip() for p in raw.split(",")]
        if not raw.strip() or "" in parts:
            raise ConfigValueError(f"'{raw}' has an empty item", self.expected)
        try:
            return tuple(item.parse(p) for p in parts)
        except ConfigValueError as exc:
            raise ConfigValueError(exc.problem, self.expected) from None

    def render(self, value: Any) -> str:
        return ",".join(value)


@dataclass(frozen=True, slots=True)
class NamesType:
    """A comma-separated list of object (section) names; existence is checked by the loader."""

    @property
    def form(self) -> str:
        return "object list"

    @property
    def expected(self) -> str:
        return "a comma-separated list of section names, e.g. server1,server2"

    def parse(self, raw: str) -> tuple[str, ...]:
        parts = [p.strip() for p in raw.split(",")]
        if not raw.strip() or "" in parts:
            raise ConfigValueError(f"'{raw}' has an empty name", self.expected)
        for part in parts:
            if not NAME_RE.match(part):
                raise ConfigValueError(f"'{part}' is not a valid object name", self.expected)
        dups = sorted({p for p in parts if parts.count(p) > 1})
        if dups:
            raise ConfigValueError(f"'{dups[0]}' is listed twice", self.expected)
        return tuple(parts)

    def render(self, value: Any) -> str:
        return ",".join(value)


@dataclass(frozen=True, slots=True)
class ThreadsType:
    @property
    def form(self) -> str:
        return "auto|int"

    @property
    def expected(self) -> str:
        return "'auto' or a number of threads >= 1"

    def parse(self, raw: str) -> str:
        if raw.strip().lower() == "auto":
            return "auto"
        try:
            return str(parse_int(raw, 1))
        except ConfigValueError:
            raise ConfigValueError(f"'{raw}' is not a thread count", self.expected) from None

    def render(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True, slots=True)
class CountOrPercentType:
    """A count, or (deprecated in MaxScale) a percentage such as ``50%``."""

    @property
    def form(self) -> str:
        return "int|percent"

    @property
    def expected(self) -> str:
        return "an integer >= 0 or a percentage such as 50%"

    def parse(self, raw: str) -> str:
        text = raw.strip()
        number = text[:-1] if text.endswith("%") else text
        if not number.isdigit() or not number.isascii():
            raise ConfigValueError(f"'{raw}' is not a count or percentage", self.expected)
        if _too_long(number) or int(number) > MAX_INT:
            raise ConfigValueError(f"'{raw}' is too large", f"{self.expected}, at most {MAX_INT}")
        return text

    def render(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True, slots=True)
class ModuleType:
    """A module name (router, monitor module): any case, stored lowercase.

    ``others`` are MaxScale modules Interlock does not have; naming one gets a clearer error
    than "unknown".
    """

    what: str
    choices: tuple[str, ...]
    others: frozenset[str] = frozenset()

    @property
    def form(self) -> str:
        return f"{self.what}: " + ", ".join(self.choices)

    @property
    def expected(self) -> str:
        return "one of: " + ", ".join(self.choices)

    def parse(self, raw: str) -> str:
        name = raw.strip().lower()
        if name in self.choices:
            return name
        if name in self.others:
            problem = f"{self.what} '{raw}' is a MaxScale module that Interlock does not have"
            raise ConfigValueError(problem, self.expected)
        hint = did_you_mean(raw, self.choices)
        raise ConfigValueError(f"unknown {self.what} '{raw}'{hint}", self.expected)

    def render(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True, slots=True)
class ThrottlingType:
    """``log_throttling``: ``count, window, suppress`` (``10, 1000ms, 10000ms``); parsed to
    ``(count, window seconds, suppress seconds)``.  A bare ``0`` is accepted for the durations
    so that ``0, 0, 0`` (throttling off) can be written; any 0 turns throttling off."""

    @property
    def form(self) -> str:
        return "count, duration, duration"

    @property
    def expected(self) -> str:
        return (
            "a count, a window and a suppression time, e.g. 10, 1000ms, 10000ms "
            "(durations with a unit: ms, s, m or h; 0, 0, 0 turns throttling off)"
        )

    def parse(self, raw: str) -> tuple[int, float, float]:
        parts = [p.strip() for p in raw.split(",")]
        if len(parts) != 3:
            raise ConfigValueError(
                f"'{raw}' does not have three comma-separated parts", self.expected
            )
        try:
            count = parse_int(parts[0], 0)
            window, suppress = (0.0 if p == "0" else parse_duration(p) for p in parts[1:])
        except ConfigValueError as exc:
            raise ConfigValueError(exc.problem, self.expected) from None
        return count, window, suppress

    def render(self, value: Any) -> str:
        count, window, suppress = value
        return f"{count}, {render_duration(window)}, {render_duration(suppress)}"


# -- shared instances used by the parameter tables ------------------------------------------

BOOL = BoolType()
DURATION = DurationType()
SIGNED_DURATION = DurationType(allow_negative=True)
SIZE = SizeType()
COUNT = IntType(0)
INT = IntType()
PORT = IntType(1, 65535)
TEXT = StringType()
PASSWORD = StringType(allow_empty=True, what="a password")
HOST = HostType()
PATH = PathType()
NAMES = NamesType()
