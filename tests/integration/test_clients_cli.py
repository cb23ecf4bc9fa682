"""The ``mariadb`` CLI through the proxy: batch output byte for byte equal to a direct run
(only the connection id normalised), and an interactive session in a pseudo-terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.clients.baseline import Baseline
from tests.integration.clients.cli import (
    BatchResult,
    Interactive,
    run_batch,
    script,
    status_fields,
)
from tests.integration.clients.corpus import SYNTAX_MESSAGE
from tests.integration.clients.target import Target

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.integration.clients.fixtures"]

BATCH = script(
    [
        "SELECT 0 AS zero, -1 AS neg, 18446744073709551615 AS umax, 1.5 AS dec1, "
        "CAST(12345.6789 AS DECIMAL(10,4)) AS d, 1e308 AS big, 1/3e0 AS third",
        "SELECT DATE '2024-02-29' AS d, TIME '-838:59:59' AS t, "
        "TIMESTAMP '2024-01-02 03:04:05.123456' AS ts, CAST('12:34:56.789' AS TIME(3)) AS t3",
        "SELECT 'héllo 😀🐬' AS s, 'tab\\there' AS tab, 'new\\nline' AS nl, 'back\\\\slash' AS bs, "
        "'' AS empty",
        "SELECT NULL AS n, CAST(NULL AS DATE) AS nd, X'00FF41' AS bin, "
        "JSON_OBJECT('k', 'v 😀', 'a', JSON_ARRAY(1, 2.5, NULL)) AS js",
        "SELECT 'never' AS nothing FROM DUAL WHERE 1 = 0",
        "SELECT 1/0 AS div0",
        "SHOW WARNINGS",
        "SELECT DATABASE() AS db, USER() AS who, CURRENT_USER() AS acct",
        "CREATE TEMPORARY TABLE cli_t (id INT PRIMARY KEY, s VARCHAR(20)) DEFAULT CHARSET=utf8mb4",
        "INSERT INTO cli_t VALUES (1, 'one'), (2, 'two 😀')",
        "SELECT ROW_COUNT() AS affected, LAST_INSERT_ID() AS last_id",
        "UPDATE cli_t SET s = CONCAT(s, '!')",
        "SELECT * FROM cli_t ORDER BY id",
        "SELECT seq, CONCAT('row ', seq) AS label FROM seq_1_to_500",
    ]
)

ERRORS = script(
    [
        "SELECT 'before' AS x",
        "CREATE TEMPORARY TABLE cli_e (id INT PRIMARY KEY)",
        "INSERT INTO cli_e VALUES (1)",
        "INSERT INTO cli_e VALUES (1)",
        "SELEC 1",
        "SELECT * FROM no_such_table",
        "SELECT 'after' AS x",
    ]
)


def _batch(
    target: Target, baseline: Baseline, key: str, text: str, *options: str, stdin: bool = False
) -> BatchResult:
    expected, got = baseline.observe(
        ("cli", key), target, lambda t: run_batch(t, text, *options, stdin=stdin)
    )
    assert got == expected, (
        f"{target.name} batch output differs from direct\n--- direct stdout\n"
        f"{expected.stdout!r}\n--- {target.name} stdout\n{got.stdout!r}\n--- stderr "
        f"{expected.stderr!r} vs {got.stderr!r}{target.log_tail()}"
    )
    return got


def test_cli_batch(target: Target, baseline: Baseline) -> None:
    got = _batch(target, baseline, "batch", BATCH)
    assert (got.returncode, got.stderr) == (0, b"")
    lines = got.stdout.decode(errors="replace").split("\n")
    assert lines[0] == "zero\tneg\tumax\tdec1\td\tbig\tthird"
    assert lines[1].startswith("0\t-1\t18446744073709551615\t1.5\t12345.6789\t1e308\t0.333")
    assert "héllo 😀🐬\ttab\\there\tnew\\nline\tback\\\\slash\t" in lines
    assert "Warning\t1365\tDivision by 0" in lines
    assert "affected\tlast_id" in lines and "2\t0" in lines
    assert "2\ttwo 😀!" in lines
    assert lines[-2] == "500\trow 500"


def test_cli_batch_table_and_column_types(target: Target, baseline: Baseline) -> None:
    got = _batch(target, baseline, "table", BATCH, "--table", "--column-type-info")
    assert got.returncode == 0, got.stderr
    text = got.stdout.decode(errors="replace")
    assert "Field   1:  `zero`" in text
    assert "Type:       LONGLONG" in text
    assert "| héllo 😀🐬" in text


def test_cli_batch_errors(target: Target, baseline: Baseline) -> None:
    """Script on standard input with --force: every error reported, the session goes on."""
    got = _batch(target, baseline, "errors", ERRORS, "--force", stdin=True)
    assert got.stdout.decode(errors="replace").split("\n") == ["x", "before", "x", "after", ""]
    assert [line for line in got.stderr.decode().splitlines() if "ERROR" in line] == [
        "ERROR 1062 (23000) at line 4: Duplicate entry '1' for key 'PRIMARY'",
        f"ERROR 1064 (42000) at line 5: {SYNTAX_MESSAGE}",
        "ERROR 1146 (42S02) at line 6: Table 'test.no_such_table' doesn't exist",
    ]


def test_cli_batch_stops_at_first_error(target: Target, baseline: Baseline) -> None:
    got = _batch(target, baseline, "stop", ERRORS)
    assert got.returncode == 1
    assert got.stdout.decode(errors="replace") == "x\nbefore\n"
    assert got.stderr.decode().endswith(
        "ERROR 1062 (23000) at line 4: Duplicate entry '1' for key 'PRIMARY'\n"
    )


SAME_STATUS = (
    "Current database",
    "Current user",
    "SSL",
    "Server",
    "Server version",
    "Protocol version",
    "Connection",
    "Server characterset",
    "Db     characterset",
    "Client characterset",
    "Conn.  characterset",
    "Using delimiter",
)


def _interactive(t: Target, home: Path) -> dict[str, object]:
    session = Interactive(t, home)
    try:
        seen: dict[str, object] = {"banner": session.banner}
        seen["select"] = session.type("SELECT 1 + 1 AS two, 'héllo 😀' AS s, NULL AS n;")
        seen["rows"] = session.type("SELECT seq FROM seq_1_to_3;")
        seen["error"] = session.type("SELECT * FROM no_such_table;")
        seen["use"] = session.type("USE app", database_after="app")
        seen["db"] = session.type("SELECT DATABASE();")
        status = status_fields(session.type("\\s"))
        seen["status"] = {name: status.get(name) for name in SAME_STATUS}
        seen["tcp port"] = status.get("TCP port")
        seen["exit"] = session.exit()
        return seen
    finally:
        session.kill()


def test_cli_interactive(target: Target, baseline: Baseline, tmp_path: Path) -> None:
    expected, got = baseline.observe(
        ("cli", "interactive"), target, lambda t: _interactive(t, tmp_path)
    )
    assert got["tcp port"] == str(target.port)
    assert {k: v for k, v in got.items() if k != "tcp port"} == {
        k: v for k, v in expected.items() if k != "tcp port"
    }, target.log_tail()
    assert "Your MariaDB connection id is <id>" in str(got["banner"])
    assert "|   2 | héllo 😀" in str(got["select"]) and "| NULL |" in str(got["select"])
    assert "3 rows in set" in str(got["rows"])
    assert "ERROR 1146 (42S02): Table 'test.no_such_table' doesn't exist" in str(got["error"])
    assert "Database changed" in str(got["use"])
    assert "| app        |" in str(got["db"])
    status = got["status"]
    assert isinstance(status, dict)
    assert status["Current database"] == "app"
    assert status["Connection"] == f"{target.host} via TCP/IP"
    assert got["exit"] == ("exit\nBye\n", 0)
