"""``interlock advise`` against the real sandbox primary.

The figures in the command's output are checked against values this test reads itself from
``SHOW GLOBAL STATUS`` / ``SHOW GLOBAL VARIABLES`` (before and after the run, since counters
move) and against its own, independent implementation of the formulas (decimal arithmetic,
``ROUND_HALF_UP``).  Nothing here changes the server's settings.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from interlock.sandbox import Sandbox
from interlock.sandbox.binaries import client_binary
from interlock.sandbox.model import Role

COUNTERS = ("connections", "uptime", "questions", "max_used_connections", "aborted_clients",
            "aborted_connects")
VARIABLES = ("max_connections", "wait_timeout", "interactive_timeout", "connect_timeout",
             "key_buffer_size", "read_buffer_size", "sort_buffer_size",
             "innodb_buffer_pool_size", "innodb_log_buffer_size", "read_rnd_buffer_size",
             "join_buffer_size", "thread_stack", "binlog_cache_size", "tmp_table_size")


def server_values(sandbox: Sandbox, statement: str) -> dict[str, str]:
    rows = sandbox.sql(sandbox.primary, statement)
    return {row["Variable_name"].lower(): row["Value"] for row in rows}


def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def lifetime(limit: int, rate: Decimal) -> int:
    return half_up((Decimal(limit) / rate + 1) / 2)


def expected_figures(status: dict[str, int], max_connections: int, peak: Decimal) -> dict[str, Any]:
    """Method 1 written out again, from the issue's text, in decimal arithmetic."""
    avg = Decimal(status["connections"]) / Decimal(status["uptime"])
    cpq = Decimal(status["questions"]) / Decimal(status["connections"])
    used = status["max_used_connections"]
    exp, cur = lifetime(max_connections, avg), lifetime(used, avg)
    pas, pol = lifetime(used, peak), lifetime(max_connections, peak)
    c_pct = Decimal(cur * 100) / Decimal(exp)
    lpt = cur if c_pct < 50 and cur - pas > pas else pas
    if lpt <= 10 or cpq <= 1:
        strict = middle = lenient = 10
    else:
        strict_exact = lpt - Decimal(lpt) / cpq
        strict = max(10, half_up(strict_exact))
        middle = max(10, half_up((lpt + strict_exact) / 2))
        lenient = lpt
    return {"EXP": exp, "CUR": cur, "PAS": pas, "POL": pol, "LPT": lpt, "DEF": cur - pas,
            "wait_timeout": {"strict": strict, "middle": middle, "lenient": lenient}}


def advise(*argv: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "interlock", "advise", *argv, "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "sampling [" not in done.stderr  # no progress bar when stderr is not a terminal
    result: dict[str, Any] = json.loads(done.stdout)
    return result


class ConnectionLoad:
    """Opens and closes a connection (with two queries) every 50 ms until stopped."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.stop = threading.Event()
        self.made = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.05):
            conn = self.sandbox.connect(role=Role.APP, database="app")
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                cur.execute("SELECT 2")
            conn.close()
            self.made += 1

    def __enter__(self) -> ConnectionLoad:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


def test_live_sample_matches_the_server(sandbox: Sandbox) -> None:
    for _ in range(5):  # make the counters move before the window
        sandbox.connect(role=Role.APP, database="app").close()
    before = server_values(sandbox, "SHOW GLOBAL STATUS")
    admin = sandbox.params(role=Role.ADMIN, database=None)
    with ConnectionLoad(sandbox) as load:
        out = advise("--host", admin.host, "--port", str(admin.port), "--user", admin.user,
                     "--password", admin.password, "--sample", "3s")
    after = server_values(sandbox, "SHOW GLOBAL STATUS")
    variables = server_values(sandbox, "SHOW GLOBAL VARIABLES")
    assert load.made > 0

    for name in COUNTERS:  # the run read the counters between our two readings
        assert int(before[name]) <= out["status"][name] <= int(after[name]), name
    for name in VARIABLES:
        assert out["variables"][name] == int(variables[name]), name

    assert out["samples"] == 4  # at 0, 1, 2 and 3 s
    assert out["peak_source"] == "measured"
    moved = int(after["connections"]) - int(before["connections"])
    assert 0 < out["measured_peak_cps"] <= moved / 0.5  # readings are about 1 s apart
    peak = Decimal(repr(out["peak_cps"]))
    expected = expected_figures(out["status"], out["variables"]["max_connections"], peak)
    assert {k: out[k] for k in expected} == expected
    assert out["avg_cps"] == pytest.approx(out["status"]["connections"] / out["status"]["uptime"])
    assert out["POF"] == pytest.approx(
        out["status"]["aborted_connects"] * 100 / out["status"]["connections"]
    )
    assert "wait_timeout = " in " ".join(a["text"] for a in out["advice"])
    assert out["mycnf"][0] == "[mariadb]"


def admin_tool() -> str:
    for name in ("mariadb-admin", "mysqladmin"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("mariadb-admin is not installed (apt-get install mariadb-client)")


def table_values(text: str) -> dict[str, str]:
    """The test's own reading of mysqladmin's table: '| name | value |' rows."""
    out = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| Variable_name"):
            name, value = (cell.strip() for cell in line.strip("|").split("|", 1))
            out[name.lower()] = value
    return out


def test_saved_output_of_the_real_tools(sandbox: Sandbox, tmp_path: Path) -> None:
    socket = f"--socket={sandbox.primary.socket}"
    ext = subprocess.run(
        [admin_tool(), "--no-defaults", "--user=root", socket, "extended-status"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    tsv = subprocess.run(
        [client_binary(), "--no-defaults", "--user=root", socket, "-e", "SHOW GLOBAL STATUS"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    variables = subprocess.run(
        [client_binary(), "--no-defaults", "--user=root", socket, "-e", "SHOW GLOBAL VARIABLES"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    (tmp_path / "ext.txt").write_text(ext)
    (tmp_path / "status.tsv").write_text(tsv)
    (tmp_path / "variables.tsv").write_text(variables)
    assert tsv.startswith("Variable_name\tValue\n")  # mariadb -e into a file: tab-separated

    wanted = table_values(ext)
    tsv_values = dict(
        (line.split("\t", 1)[0].lower(), line.split("\t", 1)[1]) for line in tsv.splitlines()[1:]
    )
    max_connections = int(
        dict(line.split("\t", 1) for line in variables.splitlines()[1:])["max_connections"]
    )
    for path, source in (("ext.txt", wanted), ("status.tsv", tsv_values)):
        out = advise("--status-file", str(tmp_path / path),
                     "--variables-file", str(tmp_path / "variables.tsv"))
        status = {name: int(source[name]) for name in COUNTERS}
        assert out["status"] == status
        assert out["peak_source"] == "estimated" and out["peak_estimated"] is True
        peak = Decimal(status["connections"]) / Decimal(status["uptime"]) * Decimal("1.5")
        expected = expected_figures(status, max_connections, peak)
        assert {k: out[k] for k in expected} == expected
