"""A bounded-memory histogram of durations with relative precision, and its percentiles.

Values (seconds, >= 0) go into logarithmic buckets: bucket ``i >= 1`` holds
``[MIN * G**(i-1), MIN * G**i)`` with ``G = 1 + precision``; bucket 0 holds everything below
``MIN``.  With the defaults (1 ms, 2 %) a week fits in about 1,000 buckets whatever the number
of values, so memory is bounded by the range, not by the count.  A percentile is the upper edge
of the bucket holding the nearest-rank value, capped at the exact maximum: an upper bound at
most 2 % above the true value, the safe side for "a timeout above p99.9".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
# log(value / MIN) / log(G) is exact to ~1e-12 over the whole range (a few thousand buckets):
# a fractional part this far from 0 and 1 leaves no doubt about the bucket
_EDGE = 1e-9


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    p50: float
    p90: float
    p99: float
    p999: float
    max: float

    def as_dict(self) -> dict[str, float | int]:
        return {"count": self.count, "p50": self.p50, "p90": self.p90, "p99": self.p99,
                "p99.9": self.p999, "max": self.max}


EMPTY = Summary(0, 0.0, 0.0, 0.0, 0.0, 0.0)


class Histogram:
    __slots__ = ("_buckets", "_per_log", "count", "growth", "max", "min_value", "total")

    def __init__(self, min_value: float = 0.001, precision: float = 0.02) -> None:
        self.min_value = min_value
        self.growth = 1.0 + precision
        self._per_log = 1.0 / math.log(self.growth)
        self._buckets: dict[int, int] = {}
        self.count = 0
        self.total = 0.0
        self.max = 0.0

    def add(self, value: float) -> None:
        # called by the proxy for every command (Method 2): kept to a few hundred nanoseconds
        if not value >= self.min_value:  # (NaN too)
            index = 0
            if not value > 0.0:
                value = 0.0
        else:  # index(), inlined for the common case
            x = math.log(value / self.min_value) * self._per_log
            index = int(x)
            if _EDGE < x - index < 1.0 - _EDGE:
                index += 1
            else:
                index = self.index(value)
        buckets = self._buckets
        buckets[index] = buckets.get(index, 0) + 1
        self.count += 1
        self.total += value
        if value > self.max:
            self.max = value

    def index(self, value: float) -> int:
        if not value >= self.min_value:
            return 0
        x = math.log(value / self.min_value) * self._per_log
        index = int(x)
        if _EDGE < x - index < 1.0 - _EDGE:  # clear of a bucket edge: no rounding doubt
            return index + 1
        index += 1
        upper = self.min_value * self.growth**index
        if value >= upper:  # float rounding at a bucket edge
            while value >= upper:
                index += 1
                upper = self.min_value * self.growth**index
        else:
            while index > 1 and value < self.min_value * self.growth ** (index - 1):
                index -= 1
        return index

    def upper_edge(self, index: int) -> float:
        return self.min_value * self.growth**index

    @property
    def buckets(self) -> int:
        return len(self._buckets)

    def percentile(self, percent: float) -> float:
        """Nearest-rank percentile (upper bucket edge, capped at the maximum); 0 when empty."""
        if self.count == 0:
            return 0.0
        rank = max(1, math.ceil(percent / 100.0 * self.count))
        seen = 0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                return min(self.upper_edge(index), self.max)
        return self.max  # pragma: no cover - rank <= count

    def summary(self) -> Summary:
        if self.count == 0:
            return EMPTY
        p50, p90, p99, p999 = (self.percentile(p) for p in PERCENTILES)
        return Summary(self.count, p50, p90, p99, p999, self.max)

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s values (same ``min_value`` and precision) to this histogram."""
        if other.min_value != self.min_value or other.growth != self.growth:
            raise ValueError("histograms of different bucket layouts cannot be merged")
        for index, count in other._buckets.items():
            self._buckets[index] = self._buckets.get(index, 0) + count
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)

    def counts(self) -> list[tuple[float, int]]:
        """``(upper edge, count)`` per non-empty bucket, in order (for plots)."""
        return [(self.upper_edge(i), self._buckets[i]) for i in sorted(self._buckets)]
