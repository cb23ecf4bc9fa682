"""Micro-benchmark of the statement classifier (not collected by pytest).

Classifies a mix of statements shaped like an OLTP application's (sysbench oltp_read_write's
statements, ORM-style SELECTs with joins and comments, session commands, transactions) and
prints nanoseconds per statement: ``lex``, ``classify``, ``classify`` + ``decide``, and the
whole per-statement routing work (+ ``after_query``).  Each figure is the best of many short
batches, which filters out time lost to other load on the machine; the reference line (a
100-iteration Python loop) tells how fast this machine runs Python at all.

    uv run python tests/unit/sql/bench_classifier.py [--batches 300]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from interlock.routing.policy import decide
from interlock.routing.session_state import ResponseFacts, SessionState, after_query
from interlock.routing.settings import RouterSettings
from interlock.routing.topology import ServerInfo, ServerRole, Topology
from interlock.sql.classifier import classify
from interlock.sql.tokenizer import lex_tuple

PAD = b"'67847967377-48000963322-62604785301-91415491898-96926520291'"
C = (b"'83868641912-28773972837-60736120486-75162659906-27563526494-20381887404-"
     b"41576422241-93426793964-56405065102-33518432330'")

MIX: list[tuple[int, bytes]] = [  # (weight, statement)
    (10, b"SELECT c FROM sbtest1 WHERE id=5012"),
    (1, b"SELECT c FROM sbtest1 WHERE id BETWEEN 5012 AND 5111"),
    (1, b"SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 5012 AND 5111"),
    (1, b"SELECT c FROM sbtest1 WHERE id BETWEEN 5012 AND 5111 ORDER BY c"),
    (1, b"SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 5012 AND 5111 ORDER BY c"),
    (1, b"UPDATE sbtest1 SET k=k+1 WHERE id=5012"),
    (1, b"UPDATE sbtest1 SET c=" + C + b" WHERE id=5012"),
    (1, b"DELETE FROM sbtest1 WHERE id=5012"),
    (1, b"INSERT INTO sbtest1 (id, k, c, pad) VALUES (5012, 4992, " + C + b", " + PAD + b")"),
    (1, b"BEGIN"),
    (1, b"COMMIT"),
    (2, b"/* app:orders.list user=42 */ SELECT o.id, o.total, c.name FROM orders o "
        b"JOIN customers c ON c.id = o.customer_id WHERE o.status = 'open' "
        b"AND o.created_at > '2024-01-01' ORDER BY o.created_at DESC LIMIT 20"),
    (2, b"SELECT `users`.`id`, `users`.`email` FROM `users` WHERE `users`.`id` = 17 LIMIT 1"),
    (1, b"SELECT * FROM accounts WHERE id = 9 FOR UPDATE"),
    (1, b"SET NAMES utf8mb4"),
    (1, b"SET autocommit=0"),
    (1, b"SELECT LAST_INSERT_ID()"),
    (1, b"SELECT 1"),
]


def statements() -> list[bytes]:
    out = [sql for weight, sql in MIX for _ in range(weight)]
    random.Random(1).shuffle(out)
    return out


def best_ns(fn: Callable[[bytes], object], texts: list[bytes], batches: int) -> float:
    """Best time per call over ``batches`` passes over ``texts``."""
    best = float("inf")
    clock = time.perf_counter_ns
    for _ in range(batches):
        start = clock()
        for text in texts:
            fn(text)
        best = min(best, (clock() - start) / len(texts))
    return best


def reference(_: bytes) -> int:
    total = 0
    for i in range(100):
        total += i
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    args = parser.parse_args()
    batches = args.batches
    texts = statements()
    topology = Topology.of([ServerInfo("p1", ServerRole.PRIMARY),
                            ServerInfo("r1", ServerRole.REPLICA),
                            ServerInfo("r2", ServerRole.REPLICA)])
    state, settings, rng = SessionState(), RouterSettings(), random.Random(1)

    def route(text: bytes) -> object:
        return decide(classify(text), state, topology, settings, rng=rng)

    def route_and_update(text: bytes) -> object:
        c = classify(text)
        decision = decide(c, state, topology, settings, rng=rng)
        facts = ResponseFacts(decision.server or "p1", True, 2)
        return after_query(state, c, decision, facts, settings)

    print(f"mix of {len(texts)} statements, mean {sum(map(len, texts)) / len(texts):.0f} bytes")
    print(f"reference loop      {best_ns(reference, texts, batches):7.0f} ns (calibration)")
    print(f"lex_tuple           {best_ns(lex_tuple, texts, batches):7.0f} ns/statement")
    print(f"classify            {best_ns(classify, texts, batches):7.0f} ns/statement")
    print(f"classify + decide   {best_ns(route, texts, batches):7.0f} ns/statement")
    print(f"+ after_query       {best_ns(route_and_update, texts, batches):7.0f} ns/statement")
    print("classify, per statement:")
    for _, sql in MIX:
        label = sql.decode()[:64]
        print(f"  {best_ns(classify, [sql] * 20, batches):7.0f} ns  {label}")


if __name__ == "__main__":
    main()
