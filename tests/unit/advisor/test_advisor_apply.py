"""``--apply``: the options it refuses (before connecting anywhere), the question, and which
value it sets.  Applying to a real server is tested in tests/integration/test_advise.py."""

from __future__ import annotations

import io
from fractions import Fraction as F
from pathlib import Path

import pytest

from interlock.advisor.apply import (
    Applied,
    ApplyValue,
    chosen_value,
    confirm,
    describe,
    question,
)
from interlock.advisor.figures import Load
from interlock.advisor.method1 import method1
from interlock.cli import main

DATA = Path(__file__).parent / "data"
WHAT_IF = ("--max-connections", "100", "--max-used-connections", "92", "--avg-cps", "0.8",
           "--max-cps", "1.1", "--cpq", "7")
# nothing listens here (ports 24500-24999 are for experiments): a refused option must fail
# before any connection is tried, so the message is the usage error, not a connect error
NOWHERE = ("--host", "127.0.0.1", "--port", "24997", "--user", "nobody", "--sample", "0")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["advise", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_apply_is_refused_without_a_live_server(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *WHAT_IF, "--apply", "--yes")
    assert code == 2 and out == ""
    assert "--apply changes a live server, so it needs --host" in err
    code, out, err = run(
        capsys, "--status-file", str(DATA / "mysqladmin-extended-status.txt.gz"),
        "--variables-file", str(DATA / "show-global-variables.tsv"), "--apply", "--yes",
    )
    assert code == 2 and out == "" and "--status-file or a what-if" in err
    # a status file wins over --host, so --apply is refused there too
    code, _, err = run(capsys, *NOWHERE, "--status-file", "x.txt", "--apply", "--yes")
    assert code == 2 and "needs --host" in err


def test_apply_needs_a_terminal_or_yes(capsys: pytest.CaptureFixture[str]) -> None:
    # pytest's stdin is not a terminal
    code, out, err = run(capsys, *NOWHERE, "--apply")
    assert code == 2 and out == ""
    assert "stdin is not one: add --yes" in err


def test_apply_options_need_apply(capsys: pytest.CaptureFixture[str]) -> None:
    for extra in (("--yes",), ("--apply-value", "strict")):
        code, _, err = run(capsys, *WHAT_IF, *extra)
        assert code == 2 and "only go with --apply" in err
    with pytest.raises(SystemExit) as exit_info:  # argparse's own usage error
        main(["advise", *NOWHERE, "--apply", "--yes", "--apply-value", "tight"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'tight'" in capsys.readouterr().err


def test_with_yes_the_connection_is_tried(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *NOWHERE, "--apply", "--yes")
    assert code == 1 and out == ""
    assert "127.0.0.1:24997" in err  # the connect error names the server


def test_chosen_value_of_the_worked_example() -> None:
    result = method1(Load(100, 92, F("0.8"), F(7), F("1.1")))
    # strict 42 - 42 / 7 = 36, middle (42 + 36) / 2 = 39, lenient LPT = 42
    assert [chosen_value(result, v) for v in ApplyValue] == [36, 39, 42]


@pytest.mark.parametrize(
    ("typed", "yes"),
    [("y\n", True), ("Y\n", True), ("yes\n", True), (" y \n", True), ("\n", False),
     ("n\n", False), ("no\n", False), ("yep\n", False), ("", False)],
)
def test_confirm(typed: str, yes: bool) -> None:
    out = io.StringIO()
    prompt = question(39, "127.0.0.1:3306")
    assert prompt == "Apply SET GLOBAL wait_timeout=39 on 127.0.0.1:3306? [y/N] "
    assert confirm(prompt, io.StringIO(typed), out) is yes
    assert out.getvalue().startswith(prompt)
    assert out.getvalue().endswith("\n") is (not typed.endswith("\n"))  # EOF ends the line


def test_describe_says_when_the_server_stored_another_value() -> None:
    lines = describe(Applied(before=28800, requested=39, after=39), "h:1")
    assert lines[0] == (
        "wait_timeout on h:1: before 28800 s, after 39 s (SET GLOBAL wait_timeout=39)"
    )
    assert "the server stored" not in " ".join(lines)
    clamped = describe(Applied(before=28800, requested=40_000_000, after=31_536_000), "h:1")
    assert "the server stored 31536000 s instead of 40000000 s" in clamped
