"""The ``mariadb`` command-line client: batch runs and an interactive session in a pty."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pexpect
from tests.integration.clients.target import Target

CONNECTION_ID = re.compile(r"(connection id is |Connection id:\s+)\d+")
TIMING = re.compile(r" \(\d+\.\d+ sec\)")


def base_argv(t: Target, *extra: str, database: str | None = None) -> list[str]:
    """``mariadb`` with no option files read (so only these options count)."""
    return [
        "mariadb",
        "--no-defaults",
        f"-h{t.host}",
        f"-P{t.port}",
        f"-u{t.user}",
        f"-p{t.password}",
        "--protocol=TCP",
        "--default-character-set=utf8mb4",
        *extra,
        database or t.database,
    ]


def client_env(home: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, MYSQL_HISTFILE="/dev/null", TERM="dumb", LC_ALL="C.UTF-8")
    env.pop("MYSQL_PWD", None)
    if home is not None:
        env["HOME"] = str(home)
    return env


@dataclass(frozen=True, slots=True)
class BatchResult:
    returncode: int
    stdout: bytes
    stderr: bytes


def normalise_connection_id(data: bytes) -> bytes:
    return CONNECTION_ID.sub(r"\1<id>", data.decode("utf-8", "surrogateescape")).encode(
        "utf-8", "surrogateescape"
    )


def run_batch(
    t: Target, script: str, *options: str, stdin: bool = False, timeout: float = 60
) -> BatchResult:
    """``mariadb ... --batch -e SCRIPT`` (or the script on standard input, where ``--force``
    works and errors name their line); stdout and stderr as bytes."""
    argv = (
        base_argv(t, "--batch", *options)
        if stdin
        else base_argv(t, "--batch", *options, "-e", script)
    )
    proc = subprocess.run(
        argv,
        input=script.encode() if stdin else None,
        capture_output=True,
        env=client_env(),
        timeout=timeout,
        check=False,
    )
    return BatchResult(
        proc.returncode, normalise_connection_id(proc.stdout), normalise_connection_id(proc.stderr)
    )


def status_fields(text: str) -> dict[str, str]:
    """``\\s`` output as {field: value} (``Connection id:\\t\\t74`` -> {"Connection id": "74"})."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and "\t" in value:
            out[name.strip()] = value.strip()
    return out


class Interactive:
    """A ``mariadb`` session driven through a pseudo-terminal, as a person would type."""

    def __init__(self, t: Target, home: Path, timeout: float = 20) -> None:
        self.database = t.database
        argv = base_argv(t)
        self.child = pexpect.spawn(
            argv[0],
            argv[1:],
            env=client_env(home),
            encoding="utf-8",
            dimensions=(50, 200),
            timeout=timeout,
        )
        self.banner = CONNECTION_ID.sub(r"\1<id>", self._until_prompt())

    @property
    def prompt(self) -> str:
        return f"MariaDB [{self.database}]> "

    def _until_prompt(self) -> str:
        self.child.expect_exact(self.prompt)
        return str(self.child.before).replace("\r\n", "\n")

    def type(self, line: str, database_after: str | None = None) -> str:
        """Type one line, return what the terminal showed until the next prompt (echo
        included), with timings ``(0.001 sec)`` removed."""
        self.child.sendline(line)
        if database_after is not None:
            self.database = database_after
        return TIMING.sub("", self._until_prompt())

    def exit(self) -> tuple[str, int | None]:
        self.child.sendline("exit")
        self.child.expect(pexpect.EOF)
        tail = str(self.child.before).replace("\r\n", "\n")
        self.child.close()
        return tail, self.child.exitstatus

    def kill(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


def script(statements: Sequence[str]) -> str:
    return "\n".join(s.rstrip(";") + ";" for s in statements)
