"""What a client observed for one statement, and the direct-versus-proxy comparison."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from tests.integration.clients.target import Target


@dataclass(frozen=True, slots=True)
class ClientErrorInfo:
    code: int
    message: str
    sqlstate: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """Everything a DB-API client exposes about one executed statement."""

    step: str
    description: tuple[tuple[Any, ...], ...] | None = None
    rows: tuple[tuple[Any, ...], ...] | None = None
    rowcount: int | None = None
    lastrowid: int | None = None
    warnings: int | None = None
    error: ClientErrorInfo | None = None


def plain(value: Any) -> Any:
    """bytearray -> bytes, so rows compare and print the same whatever the client returns."""
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return value


def freeze_rows(rows: Sequence[Sequence[Any]]) -> tuple[tuple[Any, ...], ...]:
    return tuple(tuple(plain(v) for v in row) for row in rows)


def freeze_description(desc: Sequence[Sequence[Any]] | None) -> tuple[tuple[Any, ...], ...] | None:
    if desc is None:
        return None
    return tuple(tuple(plain(v) for v in col) for col in desc)


def _shorten(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def differences(expected: Sequence[Outcome], got: Sequence[Outcome]) -> list[str]:
    """Human-readable differences, one per (step, field)."""
    if [o.step for o in expected] != [o.step for o in got]:
        return [f"steps differ: {[o.step for o in expected]} vs {[o.step for o in got]}"]
    out: list[str] = []
    for want, have in zip(expected, got, strict=True):
        for f in fields(Outcome):
            a, b = getattr(want, f.name), getattr(have, f.name)
            if a != b:
                out.append(f"step {want.step!r} {f.name}: direct={_shorten(a)} got={_shorten(b)}")
    return out


def assert_same(expected: Sequence[Outcome], got: Sequence[Outcome], target: Target) -> None:
    diffs = differences(expected, got)
    assert not diffs, f"{target.name} differs from direct:\n" + "\n".join(diffs) + target.log_tail()
