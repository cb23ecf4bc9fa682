"""The pure packages never import I/O modules (docs/architecture.md, "sans-IO core").

Walks the AST of every .py file in interlock/wire, interlock/sql, interlock/routing,
interlock/config, interlock/monitor (except its I/O modules: the probes, the executor and
the loop) and interlock/advisor (except live.py, which samples a server, and cli.py, the shell
that runs it) and fails on any
import of asyncio, socket, ssl or selectors (including submodules such as ``asyncio.events``
and ``from socket import ...``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import interlock

PURE_PACKAGES = ("wire", "sql", "routing", "config", "monitor", "advisor")
#: the I/O half of the monitor (docs/architecture.md): probes, executor, loop; the advisor's
#: live sampling and its command-line shell
IO_MODULES = frozenset(
    {"monitor/probe.py", "monitor/executor.py", "monitor/loop.py",
     "advisor/live.py", "advisor/cli.py"}
)
FORBIDDEN = frozenset({"asyncio", "socket", "ssl", "selectors"})
ROOT = Path(interlock.__file__).parent


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def pure_files() -> list[Path]:
    return sorted(
        p
        for pkg in PURE_PACKAGES
        for p in (ROOT / pkg).rglob("*.py")
        if p.relative_to(ROOT).as_posix() not in IO_MODULES
    )


def test_pure_packages_exist() -> None:
    for pkg in PURE_PACKAGES:
        assert (ROOT / pkg / "__init__.py").is_file(), pkg
    assert any(p.parent.name == "wire" and p.name == "response.py" for p in pure_files())


@pytest.mark.parametrize("path", pure_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_io_imports(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = [f"{path.relative_to(ROOT)}:{line} imports {name}"
           for line, name in imported_modules(tree) if name.split(".")[0] in FORBIDDEN]
    assert not bad, "\n".join(bad)


def test_detector_catches_forbidden_imports() -> None:
    source = "import os\nimport asyncio.events\nfrom socket import socket\nfrom . import ssl\n"
    names = [name for _, name in imported_modules(ast.parse(source))]
    assert [n for n in names if n.split(".")[0] in FORBIDDEN] == ["asyncio.events", "socket"]
