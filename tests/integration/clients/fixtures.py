"""Fixtures of the ``test_clients*`` modules (``pytest_plugins`` there; nothing imports this).

``target`` is parametrized ``direct`` / ``proxy``; ``baseline`` (see baseline.py) caches what
scenarios observed on the direct target; ``direct_target`` / ``admin_target`` are the app and
admin accounts on the primary itself.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.integration.clients.baseline import Baseline
from tests.integration.clients.target import (
    DIRECT,
    PROXY,
    Target,
    admin_target,
    direct_target,
    proxy_target,
)


@pytest.fixture(scope="session", name="direct_target")
def _direct_target(sandbox: Any) -> Target:
    """The app account on the primary itself."""
    return direct_target(sandbox)


@pytest.fixture(scope="session", name="admin_target")
def _admin_target(sandbox: Any) -> Target:
    """The admin account on the primary itself (status counters)."""
    return admin_target(sandbox)


@pytest.fixture(scope="session")
def baseline(direct_target: Target) -> Baseline:
    return Baseline(direct_target)


@pytest.fixture(params=[DIRECT, PROXY])
def target(request: pytest.FixtureRequest, sandbox: Any) -> Target:
    if request.param == DIRECT:
        return direct_target(sandbox)
    via = proxy_target(sandbox, request.getfixturevalue("proxy"))
    assert via.port != int(sandbox.primary.port), "the proxy fixture points at the primary"
    return via
