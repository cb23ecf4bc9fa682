"""Server status counters, read with the admin account (always direct): on the primary, or
summed over every server (a readwritesplit target spreads the commands over all of them).

Used to prove which protocol commands a client really sent (e.g. COM_STMT_FETCH). Counters
are global, so a delta is a lower bound on what the measured code did: other sessions can only
add to it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


def _summed(admins: Sequence[Target], names: tuple[str, ...]) -> dict[str, int]:
    counts = [read_counters(admin, names) for admin in admins]
    return {name: sum(c[name] for c in counts) for name in names}


@contextmanager
def counter_delta(admin: Target | Sequence[Target], *names: str) -> Iterator[dict[str, int]]:
    """``with counter_delta(admin, "Com_stmt_fetch") as delta: ...``; delta filled on exit.
    ``admin`` may be several servers' admin targets: the deltas are summed."""
    admins = [admin] if isinstance(admin, Target) else list(admin)
    before = _summed(admins, names)
    delta: dict[str, int] = {}
    yield delta
    after = _summed(admins, names)
    delta.update({name: after[name] - before[name] for name in names})
