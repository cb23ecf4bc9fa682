"""Reading saved status/variables output: real captures from a sandbox mariadbd (10.11) and
small hand-written files for each form and each error."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.advisor.dump import load_dump, parse_dump
from interlock.advisor.errors import InputFileError, MissingInputError
from interlock.advisor.figures import counters_from, variables_from

DATA = Path(__file__).parent / "data"


def test_real_mysqladmin_extended_status() -> None:
    """``mariadb-admin extended-status`` (table form; the sandbox's TLS makes Ssl_cipher_list
    1,404 characters wide, so every row is padded to it)."""
    dump = load_dump(DATA / "mysqladmin-extended-status.txt.gz")
    assert len(dump.snapshots) == 1 and not dump.relative
    values = dump.merged()
    assert len(values) == 562
    c = counters_from(values)
    assert (c.connections, c.uptime, c.questions) == (30, 9, 93)
    assert (c.max_used_connections, c.aborted_clients, c.aborted_connects) == (2, 0, 1)
    assert values["wsrep_provider_name"] == ""  # empty values survive
    assert values["ssl_cipher"] == "TLS_AES_256_GCM_SHA384"
    assert len(values["ssl_cipher_list"]) == 1404


def test_real_show_global_status_and_variables_tsv() -> None:
    status = load_dump(DATA / "show-global-status.tsv").merged()
    variables = variables_from(load_dump(DATA / "show-global-variables.tsv").merged())
    assert counters_from(status).connections == 31
    assert (variables.max_connections, variables.wait_timeout) == (1000, 28800)
    assert (variables.interactive_timeout, variables.connect_timeout) == (28800, 10)
    assert variables.buffer("key_buffer_size") == 134217728
    assert variables.buffer("thread_stack") == 299008


def test_real_variables_in_table_form_match_the_tsv() -> None:
    table = load_dump(DATA / "show-global-variables-table.txt.gz").merged()
    tsv = load_dump(DATA / "show-global-variables.tsv").merged()
    assert table == tsv


def test_real_mysqladmin_relative_output_is_made_absolute() -> None:
    """``mariadb-admin -r -i 1 -c 3 extended-status``: the 2nd and 3rd tables are differences
    (Uptime 1); they are added back up."""
    dump = load_dump(DATA / "mysqladmin-r-i1-c3.txt.gz")
    assert dump.relative and len(dump.snapshots) == 3
    assert [s.get("uptime") for s in dump.snapshots] == ["11", "12", "13"]
    assert [s.get("connections") for s in dump.snapshots] == ["36", "36", "36"]


TABLE = """\
+-------------------+-------+
| Variable_name     | Value |
+-------------------+-------+
| Connections       | 120   |
| Uptime            | 60    |
| Version_comment   | a | b |
+-------------------+-------+
"""


def test_table_form_keeps_pipes_inside_values() -> None:
    values = parse_dump(TABLE, "t.txt").merged()
    assert values == {"connections": "120", "uptime": "60", "version_comment": "a | b"}


def test_vertical_form() -> None:
    text = (
        "*************************** 1. row ***************************\n"
        "Variable_name: Connections\n        Value: 7\n"
        "*************************** 2. row ***************************\n"
        "Variable_name: Uptime\n        Value: 3\n2 rows in set (0.001 sec)\n"
    )
    assert parse_dump(text).merged() == {"connections": "7", "uptime": "3"}


def test_repeated_readings_become_snapshots() -> None:
    text = "Uptime\t10\nConnections\t5\nUptime\t11\nConnections\t9\n"  # mariadb -BN, twice
    dump = parse_dump(text)
    assert [dict(s.values) for s in dump.snapshots] == [
        {"uptime": "10", "connections": "5"}, {"uptime": "11", "connections": "9"},
    ]
    assert dump.snapshots[1].line == 3


def test_unreadable_line_names_file_and_line() -> None:
    text = "Variable_name\tValue\nConnections\t5\nthis is not a status line\n"
    with pytest.raises(InputFileError) as info:
        parse_dump(text, "status.txt")
    assert str(info.value).startswith("status.txt:3: cannot read 'this is not a status line'")
    with pytest.raises(InputFileError, match=r"^t.txt:2: 'not-a-name' is not a variable name"):
        parse_dump("Uptime\t1\nnot-a-name\t3\n", "t.txt")
    with pytest.raises(InputFileError, match=r"^t.txt:1: a table row needs"):
        parse_dump("| Uptime 5\n", "t.txt")


def test_empty_binary_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no variables found"):
        parse_dump("\n+---+\n", "empty.txt")
    binary = tmp_path / "core"
    binary.write_bytes(b"\x7fELF\x00\x01")
    with pytest.raises(InputFileError, match=r"core: not a text file"):
        load_dump(binary)
    with pytest.raises(InputFileError, match=r"nope.txt: cannot read the file"):
        load_dump(tmp_path / "nope.txt")


def test_missing_counters_and_variables_are_named() -> None:
    with pytest.raises(MissingInputError) as info:
        counters_from({"connections": "5", "uptime": "x"})
    message = str(info.value)
    assert "Uptime is not a number in SHOW GLOBAL STATUS: 'x'" in message
    for name in ("Questions", "Max_used_connections", "Aborted_clients", "Aborted_connects"):
        assert f"{name} is missing from SHOW GLOBAL STATUS" in message
    with pytest.raises(MissingInputError, match="Uptime is 0"):
        counters_from({k.lower(): "0" for k in (
            "Connections", "Uptime", "Questions", "Max_used_connections", "Aborted_clients",
            "Aborted_connects")} | {"connections": "4"})
    with pytest.raises(MissingInputError, match=r"max_connections is missing.*--variables-file"):
        variables_from({"wait_timeout": "5"})
