"""The statement table (sql_corpus.ROWS): kind and features of every row, exactly."""

from __future__ import annotations

import pytest
from sql_corpus import ROWS, Row

from interlock.sql.classifier import classify


def test_table_is_large() -> None:
    assert len(ROWS) >= 200
    assert len({row.sql for row in ROWS}) == len(ROWS), "duplicate statements in the table"


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.sql.decode("utf-8", "replace")[:60])
def test_kind_and_features(row: Row) -> None:
    c = classify(row.sql)
    assert (c.kind, c.features) == (row.kind, row.features)
