"""Large payloads: a 20 MiB BLOB round trip, and LOAD DATA LOCAL INFILE.

Both work on TEMPORARY tables, so a run leaves nothing behind and never replicates 20 MiB.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import MySQLdb
import pymysql
from tests.integration.clients import dbapi
from tests.integration.clients.cli import run_batch
from tests.integration.clients.target import Target

BLOB_SIZE = 20 * 1024 * 1024
MAX_PACKET = 64 * 1024 * 1024
BLOB_DDL = "CREATE TEMPORARY TABLE blob_rt (id INT PRIMARY KEY, b LONGBLOB) ENGINE=InnoDB"


def blob_payload(seed: int = 20) -> bytes:
    """20 MiB of pseudo-random bytes: every byte value occurs, incl. 0x00, quotes, 0xFF."""
    return random.Random(seed).randbytes(BLOB_SIZE)


@dataclass(frozen=True, slots=True)
class BlobResult:
    sent_sha256: str
    server_sha256: str
    server_length: int
    read_sha256: str
    read_length: int


def _blob_round_trip(conn: Any, cursor: Callable[[Any], Any], payload: bytes) -> BlobResult:
    cur = cursor(conn)
    cur.execute(BLOB_DDL)
    cur.close()
    cur = cursor(conn)
    cur.execute("INSERT INTO blob_rt (id, b) VALUES (%s, %s)", (1, payload))
    cur.close()
    cur = cursor(conn)
    cur.execute("SELECT SHA2(b, 256), LENGTH(b) FROM blob_rt WHERE id = %s", (1,))
    server_sha, server_len = cur.fetchall()[0]
    cur.close()
    cur = cursor(conn)
    cur.execute("SELECT b FROM blob_rt WHERE id = %s", (1,))
    (data,) = cur.fetchall()[0]
    cur.close()
    data = bytes(data)
    return BlobResult(
        hashlib.sha256(payload).hexdigest(),
        str(server_sha),
        int(server_len),
        hashlib.sha256(data).hexdigest(),
        len(data),
    )


#: client name -> (connect keyword arguments, cursor factory); text and binary protocol.
#: Not mysql-connector's pure prepared cursor: it cuts binary-protocol rows longer than one
#: 16 MiB packet (reads back 16777204 bytes even from the server directly), a client bug.
BLOB_CLIENTS: dict[str, tuple[dict[str, Any], Callable[[Any], Any]]] = {
    "pymysql-text": ({"max_allowed_packet": MAX_PACKET}, lambda c: c.cursor()),
    "mysqldb-text": ({}, lambda c: c.cursor()),
    "connector-cext-prepared": ({}, lambda c: c.cursor(prepared=True)),
    "mariadb-binary": ({}, lambda c: c.cursor(binary=True)),
}

_CONNECT: dict[str, Callable[..., Any]] = {
    "pymysql-text": dbapi.connect_pymysql,
    "mysqldb-text": dbapi.connect_mysqldb,
    "connector-cext-prepared": lambda t, **kw: dbapi.connect_connector(t, use_pure=False, **kw),
    "mariadb-binary": dbapi.connect_mariadb,
}


def blob_round_trip(t: Target, client: str, payload: bytes) -> BlobResult:
    kwargs, cursor = BLOB_CLIENTS[client]
    conn = _CONNECT[client](t, **kwargs)
    try:
        return _blob_round_trip(conn, cursor, payload)
    finally:
        conn.close()


# --- LOAD DATA LOCAL INFILE -------------------------------------------------------------------

INFILE_ROWS = 5000
INFILE_DDL = (
    "CREATE TEMPORARY TABLE infile_t (id INT PRIMARY KEY, name VARCHAR(64), "
    "amount DECIMAL(12,2), note TEXT) DEFAULT CHARSET=utf8mb4"
)
LOAD_SQL = (
    "LOAD DATA LOCAL INFILE '{path}' INTO TABLE infile_t CHARACTER SET utf8mb4 "
    "FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' (id, name, amount, note)"
)
SUMMARY_SQL = (
    "SELECT COUNT(*), SUM(id), SUM(amount), COUNT(note), "
    "SUM(CRC32(CONCAT_WS('|', id, name, amount, note))) FROM infile_t"
)
SAMPLE_SQL = (
    "SELECT id, name, amount, note FROM infile_t WHERE id IN (1, 2, 4999, 5000) ORDER BY id"
)


def write_infile(path: Path) -> Path:
    """5000 tab-separated rows: utf8mb4 names, decimals, NULLs (\\N), escaped tabs."""
    lines = []
    for i in range(1, INFILE_ROWS + 1):
        note = "\\N" if i % 7 == 0 else f"note {i} with\\ttab and 😀"
        lines.append(f"{i}\tnäme-{i}-🐬\t{i * 3}.{i % 100:02d}\t{note}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


MISSING_FILE = "/nonexistent/interlock-infile.tsv"


@dataclass(frozen=True, slots=True)
class LoadResult:
    affected: int
    warnings: int | None
    summary: tuple[Any, ...]
    sample: tuple[tuple[Any, ...], ...]
    #: the client's error when asked to send a file that does not exist (it answers the
    #: server's LOCAL INFILE request with an empty packet), then a query on the same session
    missing_file_error: tuple[Any, ...]
    after_missing: tuple[tuple[Any, ...], ...]


def _load_dbapi(
    conn: Any, path: Path, warnings: Callable[[Any, Any], int | None], errors: type[Exception]
) -> LoadResult:
    cur = conn.cursor()
    cur.execute(INFILE_DDL)
    cur.execute(LOAD_SQL.format(path=path))
    affected, warned = cur.rowcount, warnings(conn, cur)
    cur.execute(SUMMARY_SQL)
    summary = tuple(cur.fetchall()[0])
    cur.execute(SAMPLE_SQL)
    sample = tuple(tuple(row) for row in cur.fetchall())
    missing: tuple[Any, ...] = ()
    try:
        cur.execute(LOAD_SQL.format(path=MISSING_FILE))
    except errors as e:
        missing = tuple(e.args)
    cur.execute("SELECT 'after', COUNT(*) FROM infile_t")
    after = tuple(tuple(row) for row in cur.fetchall())
    cur.close()
    return LoadResult(affected, warned, summary, sample, missing, after)


def load_pymysql(t: Target, path: Path) -> LoadResult:
    conn = dbapi.connect_pymysql(t, local_infile=True)
    try:
        return _load_dbapi(conn, path, lambda c, cur: cur.warning_count, pymysql.Error)
    finally:
        conn.close()


def load_mysqldb(t: Target, path: Path) -> LoadResult:
    conn = dbapi.connect_mysqldb(t, local_infile=1)
    try:
        return _load_dbapi(conn, path, lambda c, cur: c.warning_count(), MySQLdb.Error)
    finally:
        conn.close()


def load_cli(t: Target, path: Path) -> Any:
    text = (
        ";\n".join(
            [INFILE_DDL, LOAD_SQL.format(path=path), "SELECT ROW_COUNT()", SUMMARY_SQL, SAMPLE_SQL]
        )
        + ";"
    )
    return run_batch(t, text, "--local-infile=1")
