"""Server status counters on the primary, read with the admin account (always direct).

Used to prove which protocol commands a client really sent (e.g. COM_STMT_FETCH). Counters
are global, so a delta is a lower bound on what the measured code did: other sessions can only
add to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pymysql
from tests.integration.clients.target import Target


def read_counters(admin: Target, names: tuple[str, ...]) -> dict[str, int]:
    conn = pymysql.connect(
        host=admin.host, port=admin.port, user=admin.user, password=admin.password
    )
    try:
        with conn.cursor() as cur:
            marks = ", ".join(["%s"] * len(names))
            cur.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({marks})", names)
            found = {name.lower(): int(value) for name, value in cur.fetchall()}
    finally:
        conn.close()
    return {name: found[name.lower()] for name in names}


@contextmanager
def counter_delta(admin: Target, *names: str) -> Iterator[dict[str, int]]:
    """``with counter_delta(admin, "Com_stmt_fetch") as delta: ...``; delta filled on exit."""
    before = read_counters(admin, names)
    delta: dict[str, int] = {}
    yield delta
    after = read_counters(admin, names)
    delta.update({name: after[name] - before[name] for name in names})
