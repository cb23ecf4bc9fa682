"""aiomysql (asyncio): the corpus over several concurrent connections, plus a streamed read."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterable
from typing import Any

import aiomysql
import pymysql
from tests.integration.clients.corpus import Step
from tests.integration.clients.outcome import (
    ClientErrorInfo,
    Outcome,
    freeze_description,
    freeze_rows,
)
from tests.integration.clients.target import Target

# aiomysql 0.3.2 imports pymysql.converters.escape_bytes_prefixed, which PyMySQL 1.2 turned
# into a placeholder string ("DO NOT IMPORT THIS!!!"), so any bytes parameter raises TypeError.
# Use PyMySQL 1.2's own bytes escaping (_binary X'..') instead.
if not callable(aiomysql.connection.escape_bytes_prefixed):
    aiomysql.connection.escape_bytes_prefixed = pymysql.converters.escape_bytes

STREAM_SQL = "SELECT seq, CONCAT('stream-', seq) FROM seq_1_to_20000"


async def connect_aiomysql(t: Target, **kw: Any) -> aiomysql.Connection:
    return await aiomysql.connect(
        host=t.host,
        port=t.port,
        user=t.user,
        password=t.password,
        db=t.database,
        charset="utf8mb4",
        autocommit=True,
        **kw,
    )


async def _run_step(conn: aiomysql.Connection, step: Step) -> Outcome:
    async with conn.cursor() as cur:
        try:
            await cur.execute(step.sql, step.params)
            rows = freeze_rows(await cur.fetchall()) if cur.description else None
            # aiomysql keeps the server's warning count only on the cursor's result object
            result = cur._result
            return Outcome(
                step.name,
                freeze_description(cur.description),
                rows,
                cur.rowcount,
                cur.lastrowid,
                result.warning_count if result else None,
            )
        except pymysql.err.MySQLError as e:
            return Outcome(step.name, error=ClientErrorInfo(int(e.args[0]), str(e.args[1])))


async def _stream(conn: aiomysql.Connection) -> tuple[int, int, str]:
    """Rows, sum of ids and last label of a 20000-row result read with an unbuffered cursor."""
    count = total = 0
    last = ""
    async with conn.cursor(aiomysql.SSCursor) as cur:
        await cur.execute(STREAM_SQL)
        while rows := await cur.fetchmany(500):
            count += len(rows)
            total += sum(r[0] for r in rows)
            last = rows[-1][1]
    return count, total, last


async def _session(t: Target, steps: Iterable[Step]) -> tuple[list[Outcome], tuple[int, int, str]]:
    conn = await connect_aiomysql(t)
    try:
        outcomes = [await _run_step(conn, step) for step in steps]
        return outcomes, await _stream(conn)
    finally:
        conn.close()


async def _sessions(t: Target, steps: tuple[Step, ...], n: int) -> list[Any]:
    return list(await asyncio.gather(*(_session(t, steps) for _ in range(n))))


def run_concurrent(t: Target, steps: tuple[Step, ...], n: int) -> list[Any]:
    """n concurrent sessions, each running ``steps`` then a streamed read; one result each."""
    with warnings.catch_warnings():
        # aiomysql re-issues SHOW WARNINGS and turns each into a Python warning; the counts
        # are compared through Outcome.warnings instead
        warnings.simplefilter("ignore")
        return asyncio.run(_sessions(t, steps, n))
