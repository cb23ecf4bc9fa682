"""Helpers for the config tests: write a config into a temp dir and load it from there.

Tests run with the temp dir as working directory and load ``interlock.cnf`` by that relative
name, so messages read exactly as a user sees them: ``interlock.cnf:14: [server1] ...``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from interlock.config.diagnostics import ConfigFileError
from interlock.config.loader import parse_config
from interlock.config.model import Config


@pytest.fixture
def cnf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Config]:
    """``cnf(text)`` writes ``interlock.cnf`` in a temp working dir and parses it."""
    monkeypatch.chdir(tmp_path)

    def load(text: str) -> Config:
        Path("interlock.cnf").write_text(text, encoding="utf-8")
        return parse_config("interlock.cnf")

    return load


@pytest.fixture
def errors(cnf: Callable[[str], Config]) -> Callable[[str], list[str]]:
    """``errors(text)``: the error lines of a file that must fail to load."""

    def collect(text: str) -> list[str]:
        with pytest.raises(ConfigFileError) as caught:
            cnf(text)
        assert str(caught.value) == "\n".join(caught.value.errors)
        return list(caught.value.errors)

    return collect
