"""sysbench through a readwritesplit proxy: ``oltp_read_only`` spreads the reads over both
replicas (``bench.spread``, the numbers the benchmark reports), ``oltp_read_write`` (prepared
statements, transactions) finishes without a single error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bench.spread import measure
from bench.sysbench import Dataset, Endpoint, _execute, argv
from tests.conftest import _stop_proxy
from tests.integration.rws_helpers import start_rws, wait_replicated

from interlock.sandbox import Sandbox
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration

DATA = Dataset(tables=2, table_size=2000)


@pytest.fixture(scope="module")
def endpoint(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    handle: ProxyHandle = start_rws(sandbox, tmp_path_factory.mktemp("rws_sysbench"))
    ep = Endpoint("interlock-rws", handle.host, handle.port, sandbox.app_user,
                  sandbox.app_password, "test")
    try:
        for command in ("cleanup", "prepare"):
            _execute(argv("oltp_read_write", ep, DATA, 4, 0, command), 120)
        wait_replicated(sandbox)
        yield ep
    finally:
        _execute(argv("oltp_read_write", ep, DATA, 4, 0, "cleanup"), 120)
        _stop_proxy(handle)


def test_read_only_spreads_over_both_replicas(sandbox: Sandbox, endpoint: Endpoint) -> None:
    spread = measure(sandbox, endpoint, DATA, threads=8, seconds=5)
    shares = spread.shares
    assert spread.report.errors == 0
    primary = sandbox.primary.name
    assert shares[primary] < 0.05, shares  # the primary only sees the odd session command
    for replica in sandbox.replicas:
        assert shares[replica.name] > 0.25, shares


def test_read_write_has_no_errors(sandbox: Sandbox, endpoint: Endpoint) -> None:
    # with its transactions: without them (skip_trx) sysbench's DELETE + INSERT of one id by
    # two threads at once gives duplicate keys on any server (akopytov/sysbench#23, #253)
    spread = measure(sandbox, endpoint, DATA, threads=4, seconds=5, script="oltp_read_write",
                     skip_trx=False)
    report = spread.report
    assert (report.errors, report.reconnects) == (0, 0)
    assert report.events > 0
    assert sum(spread.selects.values()) > 0
