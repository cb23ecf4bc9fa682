"""Sizes (``16G``, ``512M``, ``1073741824``) and durations (``60s``, ``2m``, ``90``)."""

from __future__ import annotations

import re

from interlock.advisor.errors import AdvisorError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$", re.IGNORECASE)
_SIZE_FACTORS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$", re.IGNORECASE)
_DURATION_FACTORS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_size(text: str) -> int:
    """Bytes from ``16G`` / ``512M`` / ``64k`` / ``1073741824`` (binary multiples)."""
    match = _SIZE.match(text)
    if match is None:
        raise AdvisorError(f"not a size: {text!r} (examples: 16G, 512M, 1073741824)")
    return int(float(match.group(1)) * _SIZE_FACTORS[match.group(2).lower()])


def parse_duration(text: str) -> float:
    """Seconds from ``60s`` / ``2m`` / ``1h`` / ``500ms`` / ``90`` (plain numbers are seconds)."""
    match = _DURATION.match(text)
    if match is None:
        raise AdvisorError(f"not a duration: {text!r} (examples: 60s, 2m, 90)")
    return float(match.group(1)) * _DURATION_FACTORS[(match.group(2) or "s").lower()]


def format_size(size: int) -> str:
    """``17179869184`` -> ``16.0G`` (binary multiples, one decimal)."""
    value = float(size)
    for unit in ("", "K", "M", "G", "T"):
        if abs(value) < 1024 or unit == "T":
            return f"{value:.0f}" if unit == "" else f"{value:.1f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
