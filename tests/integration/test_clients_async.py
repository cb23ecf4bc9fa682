"""aiomysql through the proxy: the corpus on several concurrent connections, and an unbuffered
(SSCursor) read of 20000 rows on each, all equal to what a direct connection sees."""

from __future__ import annotations

import pytest
from tests.integration.clients import corpus
from tests.integration.clients.asyncdb import run_concurrent
from tests.integration.clients.baseline import Baseline
from tests.integration.clients.outcome import assert_same
from tests.integration.clients.target import Target

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.integration.clients.fixtures"]

SESSIONS = 4


def test_aiomysql_concurrent(target: Target, baseline: Baseline) -> None:
    expected, got = baseline.observe(
        ("aiomysql", SESSIONS), target, lambda t: run_concurrent(t, corpus.STEPS, SESSIONS)
    )
    assert len(got) == SESSIONS
    want_outcomes, _ = expected[0]
    for outcomes, streamed in got:
        assert corpus.problems(outcomes) == []
        assert_same(want_outcomes, outcomes, target)
        assert streamed == (20000, 20000 * 20001 // 2, "stream-20000")
