"""Value parsing: booleans, durations, sizes and the rest, with property tests."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlock.config.diagnostics import Diagnostics
from interlock.config.ini import parse_ini
from interlock.config.loader import parse_text
from interlock.config.modules import MONITOR_MODULES, ROUTERS
from interlock.config.params import Param
from interlock.config.tables import GLOBAL, LISTENER, MONITOR, SERVER, SERVICE
from interlock.config.values import (
    MAX_DURATION_MS,
    MAX_INT,
    ConfigValueError,
    CountOrPercentType,
    DurationType,
    EnumListType,
    NamesType,
    ThreadsType,
    parse_bool,
    parse_duration,
    parse_duration_ms,
    parse_int,
    parse_size,
    render_bool,
    render_duration,
    render_size,
)
from interlock.errors import ConfigError

UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000}  # min: MaxScale
SIZE_FACTOR = {
    "": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}  # fmt: skip

ALL_PARAMS: list[Param] = [
    *GLOBAL, *SERVER, *LISTENER, *SERVICE, *MONITOR,
    *(p for ps in ROUTERS.values() for p in ps),
    *(p for ps in MONITOR_MODULES.values() for p in ps),
]  # fmt: skip


def random_case(draw: st.DrawFn, word: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.upper() if f else c.lower() for c, f in zip(word, flips, strict=True))


# -- booleans -------------------------------------------------------------------------------


@st.composite
def bool_words(draw: st.DrawFn) -> tuple[str, bool]:
    truth = draw(st.booleans())
    word = draw(
        st.sampled_from(["true", "on", "yes", "1"] if truth else ["false", "off", "no", "0"])
    )
    return random_case(draw, word), truth


@given(bool_words())
def test_bool_words_in_any_case(case: tuple[str, bool]) -> None:
    word, truth = case
    assert parse_bool(word) is truth


@given(st.booleans())
def test_bool_round_trip(value: bool) -> None:
    assert parse_bool(render_bool(value)) is value


@given(st.text())
def test_bool_garbage_raises_config_error_only(text: str) -> None:
    try:
        value = parse_bool(text)
    except ConfigError as exc:
        assert isinstance(exc, ConfigValueError)
        assert exc.expected == "a boolean: true, false, on, off, yes, no, 1 or 0"
    else:
        assert text.strip().lower() in {"true", "on", "yes", "1", "false", "off", "no", "0"}
        assert isinstance(value, bool)


# -- durations ------------------------------------------------------------------------------


@st.composite
def durations(draw: st.DrawFn) -> tuple[str, int]:
    unit = draw(st.sampled_from(sorted(UNIT_MS)))
    number = draw(st.integers(0, MAX_DURATION_MS // UNIT_MS[unit]))
    return f"{number}{random_case(draw, unit)}", number * UNIT_MS[unit]


@given(durations())
def test_duration_value(case: tuple[str, int]) -> None:
    text, ms = case
    assert parse_duration_ms(text) == ms
    assert parse_duration(text) == ms / 1000


@given(st.integers(-MAX_DURATION_MS, MAX_DURATION_MS))
def test_duration_round_trip(ms: int) -> None:
    seconds = ms / 1000
    rendered = render_duration(seconds)
    assert parse_duration(rendered, allow_negative=True) == seconds
    assert rendered == "0s" or not rendered.lstrip("-").startswith("0")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "0s"), (2.0, "2s"), (0.5, "500ms"), (90.0, "90s"), (120.0, "2m"), (3600.0, "1h"),
     (28800.0, "8h"), (-1.0, "-1s"), (1.001, "1001ms")],
)  # fmt: skip
def test_duration_rendering(seconds: float, text: str) -> None:
    assert render_duration(seconds) == text


@given(st.integers(0, 10**12))
def test_bare_numbers_are_not_durations(number: int) -> None:
    with pytest.raises(ConfigValueError, match="has no unit"):
        parse_duration(str(number))


@given(st.text())
def test_duration_garbage_raises_config_error_only(text: str) -> None:
    try:
        value = parse_duration(text, allow_negative=True)
    except ConfigError as exc:
        assert isinstance(exc, ConfigValueError)
        assert "whole number with a unit: ms, s, m or h" in exc.expected
    else:
        assert render_duration(value) is not None
        assert parse_duration(render_duration(value), allow_negative=True) == value


def test_negative_durations_only_where_allowed() -> None:
    assert parse_duration("-1s", allow_negative=True) == -1.0
    with pytest.raises(ConfigValueError, match="is negative"):
        parse_duration("-1s")
    assert parse_duration("-0s") == 0.0


def test_too_long_duration() -> None:
    with pytest.raises(ConfigValueError, match="too large"):
        parse_duration(f"{MAX_DURATION_MS + 1}ms")


# -- sizes ----------------------------------------------------------------------------------


@st.composite
def sizes(draw: st.DrawFn) -> tuple[str, int]:
    suffix = draw(st.sampled_from(sorted(SIZE_FACTOR)))
    number = draw(st.integers(0, 10**6))
    return f"{number}{random_case(draw, suffix)}", number * SIZE_FACTOR[suffix]


@given(sizes())
def test_size_value(case: tuple[str, int]) -> None:
    text, value = case
    assert parse_size(text) == value


@given(st.integers(0, 2**62))
def test_size_round_trip(value: int) -> None:
    assert parse_size(render_size(value)) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (1000, "1000"), (1024, "1Ki"), (1536, "1536"), (2**20, "1Mi"), (10 * 2**30, "10Gi")],
)
def test_size_rendering(value: int, text: str) -> None:
    assert render_size(value) == text


@given(st.text())
def test_size_garbage_raises_config_error_only(text: str) -> None:
    try:
        value = parse_size(text)
    except ConfigError as exc:
        assert isinstance(exc, ConfigValueError)
    else:
        assert parse_size(render_size(value)) == value


@pytest.mark.parametrize("text", ["-1", "1.5M", "1 M", "1MB", "1Gib", "K", "", "0x10"])
def test_size_rejects(text: str) -> None:
    with pytest.raises(ConfigValueError, match="is not a size"):
        parse_size(text)


# -- edges of durations and sizes: whitespace, signs, overflow, digits ----------------------

BLANKS = st.text(alphabet=" \t", max_size=3)
INNER_BLANK = st.sampled_from([" ", "\t", "  "])
#: decimal digits of other scripts (Arabic-Indic, Devanagari, fullwidth...): not numbers here
OTHER_DIGITS = st.characters(categories=["Nd"]).filter(lambda c: c not in "0123456789")


@given(durations(), BLANKS, BLANKS)
def test_duration_blanks_around_the_value_are_ignored(
    case: tuple[str, int], before: str, after: str
) -> None:
    text, ms = case
    assert parse_duration_ms(before + text + after) == ms


@given(st.integers(0, 10**6), st.sampled_from(sorted(UNIT_MS)), INNER_BLANK)
def test_duration_blank_between_number_and_unit_is_refused(
    number: int, unit: str, blank: str
) -> None:
    with pytest.raises(ConfigValueError, match="is not a duration"):
        parse_duration(f"{number}{blank}{unit}")


@given(durations(), st.integers(1, 30))
def test_duration_leading_zeros(case: tuple[str, int], zeros: int) -> None:
    text, ms = case
    assert parse_duration_ms("0" * zeros + text) == ms


@given(durations())
def test_negative_duration_with_every_unit(case: tuple[str, int]) -> None:
    text, ms = case
    assert parse_duration_ms("-" + text, allow_negative=True) == -ms
    if ms == 0:
        assert parse_duration_ms("-" + text) == 0
    else:
        with pytest.raises(ConfigValueError, match="is negative"):
            parse_duration_ms("-" + text)


@given(st.sampled_from(sorted(UNIT_MS)), st.integers(1, 10**30), st.booleans())
def test_duration_overflow_is_refused(unit: str, extra: int, negative: bool) -> None:
    number = MAX_DURATION_MS // UNIT_MS[unit] + extra
    with pytest.raises(ConfigValueError, match="is too large"):
        parse_duration(f"{'-' if negative else ''}{number}{unit}", allow_negative=True)


@pytest.mark.parametrize("unit", sorted(UNIT_MS))
def test_largest_duration_of_each_unit(unit: str) -> None:
    number = MAX_DURATION_MS // UNIT_MS[unit]
    assert parse_duration_ms(f"{number}{unit}") == number * UNIT_MS[unit] <= MAX_DURATION_MS


@given(OTHER_DIGITS, st.sampled_from(sorted(UNIT_MS)))
def test_duration_digits_are_ascii(digit: str, unit: str) -> None:
    with pytest.raises(ConfigValueError, match="is not a duration"):
        parse_duration(f"1{digit}{unit}")


@pytest.mark.parametrize(
    "param", [p for p in ALL_PARAMS if isinstance(p.vtype, DurationType)], ids=lambda p: p.name
)
@given(number=st.integers(0, 10**9))
def test_every_duration_parameter_refuses_a_bare_number(param: Param, number: int) -> None:
    with pytest.raises(ConfigValueError, match="has no unit"):
        param.vtype.parse(str(number))


@given(sizes(), BLANKS, BLANKS)
def test_size_blanks_around_the_value_are_ignored(
    case: tuple[str, int], before: str, after: str
) -> None:
    text, value = case
    assert parse_size(before + text + after) == value


@given(st.integers(0, 10**6), st.sampled_from(sorted(s for s in SIZE_FACTOR if s)), INNER_BLANK)
def test_size_blank_before_the_suffix_is_refused(number: int, suffix: str, blank: str) -> None:
    with pytest.raises(ConfigValueError, match="is not a size"):
        parse_size(f"{number}{blank}{suffix}")


@given(sizes())
def test_negative_sizes_are_refused(case: tuple[str, int]) -> None:
    text, _ = case
    with pytest.raises(ConfigValueError, match="is not a size"):
        parse_size("-" + text)


@given(st.sampled_from(sorted(SIZE_FACTOR)), st.integers(1, 10**30))
def test_size_overflow_is_refused(suffix: str, extra: int) -> None:
    number = MAX_INT // SIZE_FACTOR[suffix] + extra
    with pytest.raises(ConfigValueError, match="is too large"):
        parse_size(f"{number}{suffix}")


@pytest.mark.parametrize("suffix", sorted(SIZE_FACTOR))
def test_largest_size_of_each_suffix(suffix: str) -> None:
    number = MAX_INT // SIZE_FACTOR[suffix]
    assert parse_size(f"{number}{suffix}") == number * SIZE_FACTOR[suffix] <= MAX_INT


@given(OTHER_DIGITS, st.sampled_from(sorted(SIZE_FACTOR)))
def test_size_digits_are_ascii(digit: str, suffix: str) -> None:
    with pytest.raises(ConfigValueError, match="is not a size"):
        parse_size(f"1{digit}{suffix}")


@given(st.integers())
def test_integers_are_64_bit(value: int) -> None:
    if -MAX_INT - 1 <= value <= MAX_INT:
        assert parse_int(str(value)) == value
    else:
        with pytest.raises(ConfigValueError, match="is out of range"):
            parse_int(str(value))


@given(OTHER_DIGITS)
def test_integer_digits_are_ascii(digit: str) -> None:
    with pytest.raises(ConfigValueError, match="is not an integer"):
        parse_int(f"3{digit}")


@settings(max_examples=20)
@given(st.integers(4200, 6000), st.sampled_from(["", "-", "+"]))
def test_runaway_numbers_are_config_errors(digits: int, sign: str) -> None:
    """Python's int() refuses more than 4300 digits with a ValueError; every parser says
    "too large" / "out of range" first."""
    number = "9" * digits
    for parse, text in (
        (lambda t: parse_duration(t, allow_negative=True), f"{sign.strip('+')}{number}ms"),
        (parse_size, number),
        (parse_int, f"{sign}{number}"),
        (CountOrPercentType().parse, f"{number}%"),
        (ThreadsType().parse, number),
    ):
        with pytest.raises(ConfigValueError, match=r"too large|out of range|not a thread count"):
            parse(text)


# -- other types ----------------------------------------------------------------------------


def test_threads() -> None:
    threads = ThreadsType()
    assert threads.parse("AUTO") == "auto"
    assert threads.parse("8") == "8"
    for bad in ("0", "-2", "auto8", "", "2.5"):
        with pytest.raises(ConfigValueError):
            threads.parse(bad)


def test_names() -> None:
    names = NamesType()
    assert names.parse(" a , b-2,c.d ") == ("a", "b-2", "c.d")
    for bad in ("", "a,,b", "a b", "a,a", ","):
        with pytest.raises(ConfigValueError):
            names.parse(bad)


def test_enum_list_and_percent() -> None:
    options = EnumListType(("master", "slave", "running"))
    assert options.parse("Slave, running") == ("slave", "running")
    with pytest.raises(ConfigValueError, match="'slaves' is not a valid choice"):
        options.parse("slaves")
    percent = CountOrPercentType()
    assert percent.parse("100%") == "100%"
    assert percent.parse("3") == "3"
    with pytest.raises(ConfigValueError):
        percent.parse("x%")


@pytest.mark.parametrize("param", ALL_PARAMS, ids=lambda p: p.name)
@settings(max_examples=30)
@given(text=st.text(max_size=30))
def test_every_parameter_type_rejects_garbage_with_config_error_only(
    param: Param, text: str
) -> None:
    try:
        value: Any = param.vtype.parse(text)
    except ConfigError as exc:
        assert isinstance(exc, ConfigValueError)
        assert exc.expected
    else:
        assert param.vtype.parse(param.vtype.render(value)) == value


# -- whole files ----------------------------------------------------------------------------


@given(st.text())
def test_ini_reader_never_raises(text: str) -> None:
    diag = Diagnostics("fuzz.cnf")
    sections = parse_ini(text, diag)
    assert all(m.startswith("fuzz.cnf:") for m in diag.errors)
    assert len({s.name for s in sections}) == len(sections)


@given(st.text(alphabet=st.sampled_from("[]=#;ab_ \n\t1ys") | st.characters(), max_size=200))
def test_loader_raises_config_error_only(text: str) -> None:
    try:
        parse_text(text, "/nonexistent/fuzz.cnf")
    except ConfigError as exc:
        assert str(exc)
