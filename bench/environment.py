"""What a results file records about where it was measured: git state, machine, versions."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import haproxy
from interlock.sandbox.binaries import server_binary

ROOT = Path(__file__).resolve().parent.parent
RESULTS = "bench/results/"


def _run(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False)
    except FileNotFoundError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def git_state() -> dict[str, Any]:
    """Short sha of HEAD and whether the tree has uncommitted changes (results files aside)."""
    sha = _run("git", "rev-parse", "--short", "HEAD") or "unknown"
    status = _run("git", "status", "--porcelain")
    changed = [line[3:] for line in status.splitlines() if line[3:] and
               not line[3:].strip('"').startswith(RESULTS)]
    dirty = bool(changed)
    return {"sha": sha, "dirty": dirty, "describe": f"{sha}-dirty" if dirty else sha}


def _version(argv: list[str], pattern: str) -> str:
    out = _run(*argv)
    match = re.search(pattern, out)
    return match.group(1) if match else out.splitlines()[0] if out else "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "uvloop": metadata.version("uvloop"),
        "mariadb": _version([server_binary(), "--version"], r"Ver (\S+)"),
        "haproxy": haproxy.version(),
        "sysbench": _version(["sysbench", "--version"], r"sysbench (\S+)"),
    }


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_times(pid: int) -> tuple[float, float]:
    """``(user, system)`` CPU seconds used so far by process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # after the ")" of comm, state is field 3; utime is field 14 and stime 15 (man 5 proc)
    return int(fields[11]) / _TICKS, int(fields[12]) / _TICKS
