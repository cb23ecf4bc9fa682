"""The monitor's planning modules are pure: no asyncio/socket/ssl/selectors imports.

(``tests/unit/test_layering.py`` covers wire/sql/routing/config; the monitor's probe and
executor modules, when they exist, are the only ones allowed I/O and are listed here.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import interlock.monitor

FORBIDDEN = frozenset({"asyncio", "socket", "ssl", "selectors", "threading", "subprocess"})
IO_MODULES = frozenset({"probe.py", "executor.py", "loop.py"})
ROOT = Path(interlock.monitor.__file__).parent


def pure_modules() -> list[Path]:
    return sorted(p for p in ROOT.glob("*.py") if p.name not in IO_MODULES)


@pytest.mark.parametrize("path", pure_modules(), ids=lambda p: p.name)
def test_planning_module_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    assert not [n for n in names if n.split(".")[0] in FORBIDDEN]


def test_the_planners_are_there() -> None:
    assert {"gtid.py", "observations.py", "cluster.py", "health.py", "plans.py",
            "events.py", "settings.py"} <= {p.name for p in pure_modules()}
