"""Observations of scenarios run against the direct target, computed once per session.

The ``proxy`` variant of a test compares against the same run the ``direct`` variant checked.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from tests.integration.clients.target import Target

T = TypeVar("T")


class Baseline:
    """Observations of scenarios run against the direct target, computed once each."""

    def __init__(self, direct: Target) -> None:
        self.direct = direct
        self._cache: dict[Hashable, Any] = {}

    def get(self, key: Hashable, run: Callable[[Target], T]) -> T:
        if key not in self._cache:
            self._cache[key] = run(self.direct)
        result: T = self._cache[key]
        return result

    def observe(self, key: Hashable, target: Target, run: Callable[[Target], T]) -> tuple[T, T]:
        """(direct observations, this target's observations); one run when target is direct."""
        expected = self.get(key, run)
        got = expected if target.is_direct else run(target)
        return expected, got
