"""Fixtures of the ``test_clients*`` modules (``pytest_plugins`` there; nothing imports this).

``target`` is parametrized ``direct`` / ``proxy`` / ``rwsplit`` (a readwritesplit proxy);
``baseline`` (see baseline.py) caches what scenarios observed on the direct target;
``direct_target`` / ``admin_target`` are the app and admin accounts on the primary itself;
``counted_servers`` are where a target's commands are counted.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.integration.clients.baseline import Baseline
from tests.integration.clients.target import (
    DIRECT,
    PROXY,
    RWS,
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


@pytest.fixture
def counted_servers(target: Target, sandbox: Any) -> list[Target]:
    """Where to count the commands a target received: the primary, or every server for the
    readwritesplit target (reads and their prepared statements run on the replicas)."""
    primary = admin_target(sandbox)
    if target.name != RWS:
        return [primary]
    return [primary, *(
        Target("admin", s.host, int(s.port), sandbox.admin_user, sandbox.admin_password)
        for s in sandbox.replicas)]


@pytest.fixture(scope="session")
def baseline(direct_target: Target) -> Baseline:
    return Baseline(direct_target)


@pytest.fixture(params=[DIRECT, PROXY, RWS])
def target(request: pytest.FixtureRequest, sandbox: Any) -> Target:
    if request.param == DIRECT:
        return direct_target(sandbox)
    if request.param == RWS:
        return proxy_target(sandbox, request.getfixturevalue("rws_proxy"), RWS)
    via = proxy_target(sandbox, request.getfixturevalue("proxy"))
    assert via.port != int(sandbox.primary.port), "the proxy fixture points at the primary"
    return via
