"""``sysbench oltp_read_write`` (prepared statements on) through the proxy and directly: zero
ignored errors, zero reconnects, transactions done; the primary really saw COM_STMT_EXECUTE."""

from __future__ import annotations

import pytest
from tests.integration.clients import sysbench
from tests.integration.clients.status import counter_delta
from tests.integration.clients.target import Target

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.integration.clients.fixtures"]


def test_sysbench_oltp_read_write(target: Target, counted_servers: list[Target]) -> None:
    sysbench.run(target, "cleanup")
    prepared = sysbench.run(target, "prepare")
    assert prepared.returncode == 0, prepared.output + target.log_tail()
    try:
        with counter_delta(counted_servers, "Com_stmt_prepare", "Com_stmt_execute") as delta:
            report = sysbench.run(target, "run")
    finally:
        cleaned = sysbench.run(target, "cleanup")
    assert report.returncode == 0, report.output + target.log_tail()
    assert (report.ignored_errors, report.reconnects) == (0, 0), report.output
    assert report.transactions is not None and report.transactions > 0, report.output
    assert report.queries is not None, report.output
    assert delta["Com_stmt_execute"] >= report.queries, (
        f"prepared statements not used: {delta}\n{report.output}"
    )
    assert cleaned.returncode == 0, cleaned.output
