"""``interlock advise`` through the real entry point (what-if and saved files; the live mode
is tested against the sandbox in tests/integration/test_advise.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlock.cli import main

DATA = Path(__file__).parent / "data"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["advise", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_what_if_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "--max-connections", "100", "--max-used-connections", "92", "--avg-cps", "0.8",
        "--max-cps", "1.1", "--cpq", "7", "--json",
    )
    assert code == 0
    data = json.loads(out)
    # the worked example of test_advisor_method1.test_issue_what_if_example
    assert (data["EXP"], data["POL"], data["CUR"], data["PAS"]) == (63, 46, 58, 42)
    assert data["wait_timeout"] == {"strict": 36, "middle": 39, "lenient": 42}
    assert data["source"] == "what-if" and data["POC"] is None


def test_what_if_text_says_the_peak_is_an_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "--max-connections", "100", "--max-used-connections", "92", "--avg-cps", "0.8",
        "--cpq", "7", "--policy", "lenient",
    )
    assert code == 0
    assert "peak cps    1.2000   (estimate: 1.5 x average)" in out
    assert "LPT = 42 s from POL: lenient policy" in out  # (100 / 1.2 + 1) / 2 = 42.17 -> 42
    assert "wait_timeout = 39 s" in out  # strict 42 - 6 = 36; middle (42 + 36) / 2 = 39


def test_saved_files(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "--status-file", str(DATA / "mysqladmin-extended-status.txt.gz"),
        "--variables-file", str(DATA / "show-global-variables.tsv"), "--memory", "4G", "--json",
    )
    assert code == 0
    data = json.loads(out)
    # Connections 30, Uptime 9, Questions 93, Max_used 2, max_connections 1000
    assert data["avg_cps"] == pytest.approx(30 / 9)
    assert data["cpq"] == pytest.approx(93 / 30)
    assert data["EXP"] == 151  # (1000 / (30/9) + 1) / 2 = (300 + 1) / 2 = 150.5 -> 151
    assert data["POF"] == pytest.approx(100 / 30)  # Aborted_connects 1
    assert data["memory"]["machine_bytes"] == 4 << 30
    assert data["variables"]["max_connections"] == 1000


def test_relative_mysqladmin_file_gives_a_measured_peak(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys, "--status-file", str(DATA / "mysqladmin-r-i1-c3.txt.gz"),
        "--variables-file", str(DATA / "show-global-variables.tsv"), "--json",
    )
    assert code == 0
    data = json.loads(out)
    # Connections stayed at 36 over Uptime 11 -> 13: measured peak 0, below the average
    # 36 / 13, so the average is used and the report says so
    assert data["samples"] == 3 and data["measured_peak_cps"] == 0
    assert data["peak_source"] == "average"


def test_errors_name_what_is_missing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "--status-file", str(DATA / "show-global-status.tsv"))
    assert code == 1
    assert "max_connections is missing from SHOW GLOBAL VARIABLES" in err
    assert "--variables-file" in err
    bad = tmp_path / "status.txt"
    bad.write_text("Uptime\t5\nhello world\n")
    code, _, err = run(capsys, "--status-file", str(bad))
    assert code == 1 and f"{bad}:2: cannot read 'hello world'" in err
    code, _, err = run(capsys)
    assert code == 1 and "say where the counters come from" in err
    code, _, err = run(capsys, "--avg-cps", "1", "--cpq", "3")
    assert code == 1 and "a what-if needs --max-connections, --max-used-connections" in err
