"""What `interlock start` logs, read from a real proxy process: the line format, the backends'
version strings, the event loop in use, and a bad config reported one error per line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from interlock.sandbox import Sandbox
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d   (notice |warning|error  |info   ): \S")


def test_start_log_names_each_backend_version_and_the_loop(
    proxy: ProxyHandle, sandbox: Sandbox
) -> None:
    assert proxy.log_path is not None
    lines = [line for line in proxy.log_path.read_text().splitlines() if line]
    assert lines and all(LINE.match(line) for line in lines), lines
    text = "\n".join(lines)
    for server in sandbox.servers:
        assert re.search(
            rf"notice : Server '{server.name}' \(127\.0\.0\.1:{server.port}\) version: "
            r"5\.5\.5-10\.\d+\.\d+-MariaDB",
            text,
        ), server.name
    assert "notice : Event loop: uvloop " in text
    assert f"listening on [127.0.0.1]:{proxy.port}" in text


def test_bad_config_is_refused_with_one_prefixed_line_per_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.cnf"
    config.write_text(
        "[server1]\ntype=server\nadress=127.0.0.1\n"
        "[svc]\ntype=service\nrouter=readwritesplit\nservers=server1\nuser=u\npassword=p\n"
        "[lst]\ntype=listener\nservice=svc\nport=70000\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "interlock", "start", "-c", str(config)],
        capture_output=True, text=True, timeout=30,
    )
    assert run.returncode == 1
    errors = [line for line in run.stdout.splitlines() if " error  : " in line]
    assert all(LINE.match(line) for line in run.stdout.splitlines() if line), run.stdout
    assert any(f"{config}:3: [server1] unknown parameter 'adress'" in e for e in errors), errors
    assert any(
        e.endswith(f"{config}:13: [lst] invalid value for 'port': 70000 is out of range;"
                   " expected an integer from 1 to 65535")
        for e in errors
    ), errors
