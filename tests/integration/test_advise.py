"""``interlock advise`` against the real sandbox primary.

The figures in the command's output are checked against values this test reads itself from
``SHOW GLOBAL STATUS`` / ``SHOW GLOBAL VARIABLES`` (before and after the run, since counters
move) and against its own, independent implementation of the formulas (decimal arithmetic,
``ROUND_HALF_UP``).  The ``--apply`` tests change ``wait_timeout`` on the shared sandbox
primary and restore it in a ``finally``; the others change nothing.
"""

from __future__ import annotations

import json
import re
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
    moved = int(after["connections"]) - int(before["connections"])
    assert 0 < out["measured_peak_cps"] <= moved / 0.5  # readings are about 1 s apart
    # a young sandbox (its setup made many connections in few seconds) can have an average
    # since start above the window's peak: then the average stands in for the peak
    if out["measured_peak_cps"] >= out["avg_cps"]:
        assert out["peak_source"] == "measured"
        assert out["peak_cps"] == out["measured_peak_cps"]
    else:
        assert out["peak_source"] == "average"
        assert out["peak_cps"] == out["avg_cps"]
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


# -- --plot and --apply against the live server ---------------------------------------------

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SENTINEL_WAIT = 12345  # set before an --apply run so that a change is visible


def advise_run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "interlock", "advise", *argv],
        capture_output=True, text=True, timeout=120, check=False,
    )


def live_args(sandbox: Sandbox, role: Role) -> list[str]:
    p = sandbox.params(role=role, database=None)
    return ["--host", p.host, "--port", str(p.port), "--user", p.user, "--password", p.password]


def global_wait_timeout(sandbox: Sandbox) -> int:
    return int(sandbox.sql(sandbox.primary, "SELECT @@global.wait_timeout AS w")[0]["w"])


def set_global_wait_timeout(sandbox: Sandbox, value: int) -> None:
    sandbox.sql(sandbox.primary, f"SET GLOBAL wait_timeout = {value}")
    assert global_wait_timeout(sandbox) == value


def test_live_threads_connected_is_sampled(sandbox: Sandbox) -> None:
    from interlock.advisor import live
    from interlock.advisor.plotdata import sampled_of

    p = sandbox.params(role=Role.ADMIN, database=None)
    held = [sandbox.connect(role=Role.APP, database="app") for _ in range(5)]
    try:
        reading = live.read_live(live.Target(p.host, p.port, p.user, p.password), 2)
    finally:
        for conn in held:
            conn.close()
    assert len(reading.threads) == len(reading.samples) == 3
    assert [t for t, _ in reading.threads] == [t for t, _ in reading.samples]
    max_connections = int(reading.variables["max_connections"])
    for _, threads in reading.threads:  # the 5 held connections and the sampler's own
        assert 6 <= threads <= max_connections
    sampled = sampled_of(reading.samples, reading.threads)
    assert sampled is not None and sampled.threads[0][0] == 0.0
    assert len(sampled.rates) == 2


def test_apply_yes_sets_the_printed_value(sandbox: Sandbox, tmp_path: Path) -> None:
    original = global_wait_timeout(sandbox)
    plot = tmp_path / "live.png"
    try:
        set_global_wait_timeout(sandbox, SENTINEL_WAIT)
        done = advise_run(*live_args(sandbox, Role.ADMIN), "--sample", "2s", "--apply", "--yes",
                          "--plot", str(plot))
        assert done.returncode == 0, done.stderr
        recommended = re.search(r"wait_timeout  strict \d+ s   middle (\d+) s", done.stdout)
        assert recommended is not None, done.stdout
        value = int(recommended.group(1))
        assert value != SENTINEL_WAIT
        assert "Apply SET GLOBAL" not in done.stdout  # --yes: no question
        assert (
            f"wait_timeout on {sandbox.primary.host}:{sandbox.primary.port}: before"
            f" {SENTINEL_WAIT} s, after {value} s (SET GLOBAL wait_timeout={value})"
        ) in done.stdout
        assert global_wait_timeout(sandbox) == value
        data = plot.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 20_000
    finally:
        set_global_wait_timeout(sandbox, original)


def test_apply_value_strict_with_json(sandbox: Sandbox) -> None:
    original = global_wait_timeout(sandbox)
    try:
        set_global_wait_timeout(sandbox, SENTINEL_WAIT)
        done = advise_run(*live_args(sandbox, Role.ADMIN), "--sample", "1s", "--apply", "--yes",
                          "--apply-value", "strict", "--json")
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)  # the apply lines went to stderr: stdout is JSON only
        strict = out["wait_timeout"]["strict"]
        assert f"before {SENTINEL_WAIT} s, after {strict} s" in done.stderr
        assert global_wait_timeout(sandbox) == strict
    finally:
        set_global_wait_timeout(sandbox, original)


def test_apply_without_the_privilege(sandbox: Sandbox) -> None:
    before = global_wait_timeout(sandbox)
    done = advise_run(*live_args(sandbox, Role.APP), "--sample", "0", "--apply", "--yes")
    assert done.returncode == 1
    assert "Recommendations:" in done.stdout  # the report came first
    assert "the account 'app' lacks the SUPER or SYSTEM_VARIABLES_ADMIN privilege" in done.stderr
    assert global_wait_timeout(sandbox) == before


def test_apply_asks_on_a_terminal(sandbox: Sandbox) -> None:
    import pexpect

    original = global_wait_timeout(sandbox)
    label = f"{sandbox.primary.host}:{sandbox.primary.port}"
    argv = ["-m", "interlock", "advise", *live_args(sandbox, Role.ADMIN), "--sample", "0",
            "--apply"]
    try:
        set_global_wait_timeout(sandbox, SENTINEL_WAIT)
        child = pexpect.spawn(sys.executable, argv, encoding="utf-8", timeout=60)
        child.expect(rf"Apply SET GLOBAL wait_timeout=(\d+) on {re.escape(label)}\? \[y/N\] ")
        child.sendline("n")
        child.expect(f"not applied: wait_timeout on {re.escape(label)} is unchanged")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
        assert global_wait_timeout(sandbox) == SENTINEL_WAIT

        child = pexpect.spawn(sys.executable, argv, encoding="utf-8", timeout=60)
        child.expect(r"Apply SET GLOBAL wait_timeout=(\d+) on ")
        value = int(child.match.group(1))
        child.sendline("y")
        child.expect(f"before {SENTINEL_WAIT} s, after {value} s")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
        assert global_wait_timeout(sandbox) == value
    finally:
        set_global_wait_timeout(sandbox, original)
