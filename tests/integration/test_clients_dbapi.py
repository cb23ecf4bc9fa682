"""Real DB-API clients run the statement corpus; through the proxy they must see what they
see on the primary: rows, column metadata, rowcounts, lastrowid, warnings, error code/message.

Prepared-statement modes (mysql-connector ``cursor(prepared=True)``, MariaDB Connector/Python
``cursor(binary=True)``) must really use the binary protocol: the primary's COM_STMT_PREPARE /
EXECUTE / CLOSE counters are checked around each run.
"""

from __future__ import annotations

import pytest
from tests.integration.clients import corpus
from tests.integration.clients.baseline import Baseline
from tests.integration.clients.dbapi import CLIENTS, Client, run_steps
from tests.integration.clients.outcome import Outcome, assert_same
from tests.integration.clients.status import counter_delta
from tests.integration.clients.target import Target

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.integration.clients.fixtures"]

STMT_COUNTERS = ("Com_stmt_prepare", "Com_stmt_execute", "Com_stmt_close")
#: corpus steps the server already rejects at COM_STMT_PREPARE (never executed or closed)
REJECTED_AT_PREPARE = {"syntax-error", "no-table", "no-column"}


def _client(name: str) -> Client:
    client = CLIENTS[name]
    if not client.available:
        pytest.fail(client.why_not)
    return client


@pytest.mark.parametrize("client_name", list(CLIENTS))
def test_corpus(
    client_name: str, target: Target, baseline: Baseline, counted_servers: list[Target]
) -> None:
    client = _client(client_name)

    def run(t: Target) -> tuple[list[Outcome], dict[str, int]]:
        with counter_delta(counted_servers, *STMT_COUNTERS) as delta:
            outcomes = run_steps(client, t, corpus.STEPS)
        return outcomes, delta

    (expected, _), (got, delta) = baseline.observe(("corpus", client_name), target, run)
    skip = [step for step, _bug in client.quirks]
    assert corpus.problems(got, client.exact_errors, skip) == []
    assert_same(expected, got, target)
    if "prepared" in client.tags:
        executed = len(corpus.STEPS) - len(REJECTED_AT_PREPARE)
        assert delta["Com_stmt_prepare"] >= len(corpus.STEPS), delta
        assert delta["Com_stmt_execute"] >= executed, delta
        assert delta["Com_stmt_close"] >= executed, delta
