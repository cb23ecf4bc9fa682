"""Several results in one response, through the proxy: multi-statements (incl. one failing
mid-way), a stored procedure with two result sets and an OUT parameter, and server-side
cursors whose rows come by COM_STMT_FETCH (proved with the primary's Com_stmt_fetch)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from tests.integration.clients import results
from tests.integration.clients.baseline import Baseline
from tests.integration.clients.corpus import SYNTAX_MESSAGE
from tests.integration.clients.status import counter_delta
from tests.integration.clients.target import Target

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.integration.clients.fixtures"]


@pytest.mark.parametrize("client", list(results.MULTI_RUNNERS))
def test_multi_statements(client: str, target: Target, baseline: Baseline) -> None:
    expected, got = baseline.observe(("multi", client), target, results.MULTI_RUNNERS[client])
    multi = got["multi"]
    assert [r[2] for r in multi] == [0, 2, 2, 1, 1, 0, 1]
    assert multi[2][1] == ((1, "a"), (2, "b😀"))
    assert multi[4][1] == ((1, None, Decimal("2.5")),)
    assert multi[5][1] == () and multi[5][0] is not None
    assert multi[6][1] == ((2,),)
    failing = got["failing"]
    assert failing[0][1] == (("first",),)
    assert failing[1][:2] == ("error", 1064)
    assert failing[1][2].startswith(SYNTAX_MESSAGE.split(" near ")[0])
    assert len(failing) == 2
    assert got["after"][1] == (("after", 2),)
    assert got == expected, target.log_tail()


@pytest.fixture(scope="module")
def procedure(direct_target: Target) -> Iterator[str]:
    results.create_procedure(direct_target)
    yield results.PROC
    results.drop_procedure(direct_target)


ITEMS = tuple((i, f"item {i}") for i in range(1, 6))


@pytest.mark.parametrize("client", list(results.CALL_RUNNERS))
def test_stored_procedure(client: str, target: Target, baseline: Baseline, procedure: str) -> None:
    expected, got = baseline.observe(
        ("call", client), target, lambda t: results.CALL_RUNNERS[client](t, 5)
    )
    sets = got["results"]
    assert sets[0][1] == ITEMS
    assert sets[1][1] == ((10, "second set 😀"),)
    if client == "mariadb":
        assert sets[2][1] == ((15,),), "OUT parameter result set (binary protocol)"
        assert sets[3] == (None, None), "the CALL's closing OK"
    elif client == "pymysql":
        assert sets[2][:2] == (None, None), "the CALL's closing OK"
        assert got["out"] == 15
    else:
        assert len(sets) == 2
        assert got["out"] == 15
    assert got == expected, target.log_tail()


@pytest.mark.parametrize("client", list(results.CURSOR_RUNNERS))
def test_server_side_cursor(
    client: str, target: Target, baseline: Baseline, counted_servers: list[Target]
) -> None:
    def run(t: Target) -> tuple[dict[str, object], int]:
        with counter_delta(counted_servers, "Com_stmt_fetch") as delta:
            seen = results.CURSOR_RUNNERS[client](t)
        return seen, delta["Com_stmt_fetch"]

    (expected, _), (got, fetches) = baseline.observe(("cursor", client), target, run)
    rows = got["rows"]
    assert isinstance(rows, tuple)
    assert len(rows) == 1000
    assert rows[0] == (1, "row 1") and rows[-1] == (1000, "row 1000")
    assert fetches >= 1000 // results.PREFETCH, f"only {fetches} COM_STMT_FETCH seen"
    if client == "connector-pure":
        assert got["cursor_opened"] is True
        batches = got["batches"]
        assert isinstance(batches, list)
        assert [n for n, _ in batches] == [100] * 10 + [0]
        assert batches[-1][1] == results.SERVER_STATUS_LAST_ROW_SENT
        assert got["after"] == (("after cursor",),)
    assert got == expected, target.log_tail()
