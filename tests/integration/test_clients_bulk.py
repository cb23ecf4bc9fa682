"""Big payloads through the proxy: a 20 MiB BLOB (text and binary protocol, packets split at
16 MiB both ways) and LOAD DATA LOCAL INFILE (PyMySQL, mysqlclient, the mariadb CLI)."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import pytest
from tests.integration.clients import bulk
from tests.integration.clients.baseline import Baseline
from tests.integration.clients.target import Target

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.integration.clients.fixtures"]


@pytest.fixture(scope="module")
def payload() -> bytes:
    return bulk.blob_payload()


@pytest.fixture(scope="module")
def infile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bulk.write_infile(tmp_path_factory.mktemp("infile") / "rows.tsv")


@pytest.mark.parametrize("client", list(bulk.BLOB_CLIENTS))
def test_blob_20mib(client: str, target: Target, payload: bytes, baseline: Baseline) -> None:
    expected, got = baseline.observe(
        ("blob", client), target, lambda t: bulk.blob_round_trip(t, client, payload)
    )
    sha = hashlib.sha256(payload).hexdigest()
    assert (got.sent_sha256, got.server_sha256, got.read_sha256) == (sha, sha, sha), (
        f"{got}{target.log_tail()}"
    )
    assert got.server_length == got.read_length == bulk.BLOB_SIZE
    assert got == expected


EXPECTED_SUMMARY = (5000, Decimal(12502500), Decimal("37509975.00"), 4286)


@pytest.mark.parametrize("client", ["pymysql", "mysqldb"])
def test_load_data_local_infile(
    client: str, target: Target, infile: Path, baseline: Baseline
) -> None:
    load = {"pymysql": bulk.load_pymysql, "mysqldb": bulk.load_mysqldb}[client]
    expected, got = baseline.observe(("infile", client), target, lambda t: load(t, infile))
    assert (got.affected, got.warnings) == (bulk.INFILE_ROWS, 0)
    assert got.summary[:4] == EXPECTED_SUMMARY
    assert got.sample[0] == (1, "näme-1-🐬", Decimal("3.01"), "note 1 with\ttab and 😀")
    assert got.missing_file_error, "sending a missing file must fail"
    assert got.after_missing == (("after", bulk.INFILE_ROWS),)
    assert got == expected, target.log_tail()


def test_load_data_local_infile_cli(target: Target, infile: Path, baseline: Baseline) -> None:
    expected, got = baseline.observe(("infile", "cli"), target, lambda t: bulk.load_cli(t, infile))
    assert (got.returncode, got.stderr) == (0, b""), got.stderr
    lines = got.stdout.decode().split("\n")
    assert lines[:2] == ["ROW_COUNT()", "5000"]
    assert lines[3].startswith("5000\t12502500\t37509975.00\t4286\t")
    assert got == expected, target.log_tail()
