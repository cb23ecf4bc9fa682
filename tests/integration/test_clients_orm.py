"""SQLAlchemy ORM round trip through the proxy, for several DB-API drivers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from tests.integration.clients.baseline import Baseline
from tests.integration.clients.orm import DRIVERS, round_trip
from tests.integration.clients.target import Target

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.integration.clients.fixtures"]

WHEN = dt.datetime(2024, 5, 17, 12, 30, 45)


@pytest.mark.parametrize("drivername", DRIVERS)
def test_orm_round_trip(drivername: str, target: Target, baseline: Baseline) -> None:
    expected, got = baseline.observe(
        ("orm", drivername), target, lambda t: round_trip(t, drivername)
    )
    assert got == expected, target.log_tail()
    steps = dict(got)
    assert [row[:3] for row in steps["after insert"]] == [
        (1, "widget", Decimal("9.99")),
        (2, "gadget 😀", Decimal("1234.50")),
        (3, "doohickey", Decimal("0.01")),
    ]
    assert steps["after insert"][1][3:] == (WHEN, {"color": "blau", "n": 3}, "ünïcode")
    assert steps["after update"][1][2:5] == (Decimal("999.00"), WHEN, {"color": "rot"})
    assert [row[0] for row in steps["after delete"]] == [2, 3]
    assert steps["in transaction"] == 3
    assert steps["after rollback"] == steps["after delete"]
