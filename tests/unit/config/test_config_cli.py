"""``interlock check -c FILE``: output and exit status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from config_helpers import BASE, DATA

from interlock.cli import main


def test_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / "issue2-sample.cnf"
    assert main(["check", "-c", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == f"OK: {path}: 1 server, 1 service, 1 listener, 0 monitors\n"
    assert err == ""


def test_check_ok_with_warnings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("interlock.cnf").write_text(BASE.replace("threads=auto", "threads=auto\npassive=true"))
    assert main(["check", "-c", "interlock.cnf"]) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines() == [
        "warning: interlock.cnf:3: [maxscale] parameter 'passive' is accepted but ignored: "
        "Interlock does not implement it yet",
        "OK: interlock.cnf: 1 server, 1 service, 1 listener, 0 monitors",
    ]


def test_check_realworld_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-c", str(DATA / "realworld-maxscale.cnf")]) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines()[-1].endswith(": 3 servers, 2 services, 2 listeners, 1 monitor")
    assert len(out.splitlines()) == 8  # 7 ignored parameters, then OK


def test_check_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    bad = BASE.replace("address=", "adress=").replace("port=4006", "port=4006x")
    Path("interlock.cnf").write_text(bad)
    assert main(["check", "-c", "interlock.cnf"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "interlock.cnf:5: [server1] unknown parameter 'adress'; did you mean 'address'?",
        "interlock.cnf:16: [Read-Write-Listener] invalid value for 'port': '4006x' is not an "
        "integer; expected an integer from 1 to 65535",
        "interlock.cnf: 2 errors",
    ]


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "absent.cnf"
    assert main(["check", "-c", str(path)]) == 1
    _, err = capsys.readouterr()
    assert err.splitlines() == [
        f"{path}: cannot read the configuration file: No such file or directory",
        f"{path}: 1 error",
    ]


def test_check_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["check"])
    assert caught.value.code == 2
    assert "the following arguments are required: -c/--config" in capsys.readouterr().err


def test_check_as_a_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "interlock", "check", "-c", str(DATA / "issue2-sample.cnf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK: ")
