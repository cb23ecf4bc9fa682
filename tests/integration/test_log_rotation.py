"""Log settings of a real proxy process (needs the [maxscale] logging parameters wired into
`interlock start` and SIGUSR1 in server/app.py): rotation on SIGUSR1, JSON lines, a configured
`log_throttling`."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from tests.conftest import ProxyFactory
from tests.integration.test_log_throttling import bad_handshake

from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration


def wait_for(path: Path, needle: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if needle in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} not in {path}")


def start(start_proxy: ProxyFactory, log_file: Path, **settings: str) -> ProxyHandle:
    return start_proxy({"maxscale": {"log_file": str(log_file), **settings}}, tls=False)


def test_sigusr1_reopens_the_log_file(start_proxy: ProxyFactory, tmp_path: Path) -> None:
    path = tmp_path / "interlock.log"
    proxy = start(start_proxy, path)
    wait_for(path, "listening on")
    rotated = tmp_path / "interlock.log.1"
    path.rename(rotated)
    proxy.process.send_signal(signal.SIGUSR1)
    wait_for(path, "notice : Log file reopened")
    bad_handshake(proxy)
    new = wait_for(path, "bad handshake from")
    old = rotated.read_text()
    assert "listening on" in old and "bad handshake" not in old
    assert "listening on" not in new
    assert proxy.running()


def test_json_lines(start_proxy: ProxyFactory, tmp_path: Path) -> None:
    path = tmp_path / "interlock.log"
    proxy = start(start_proxy, path, log_format="json", ms_timestamp="true")
    bad_handshake(proxy)
    wait_for(path, "bad handshake from")
    documents = [json.loads(line) for line in path.read_text().splitlines()]
    assert {"timestamp", "priority", "message", "logger"} <= set(documents[0])
    assert any(d["priority"] == "warning" and "bad handshake" in d["message"]
               for d in documents)


def test_configured_throttling(start_proxy: ProxyFactory, tmp_path: Path) -> None:
    path = tmp_path / "interlock.log"
    proxy = start(start_proxy, path, log_throttling="3, 60s, 1s")
    for _ in range(12):
        bad_handshake(proxy)
    text = wait_for(path, "(this message was suppressed 9 times in 1000 milliseconds)")
    lines = [line for line in text.splitlines() if "bad handshake from" in line]
    assert len(lines) == 4
    assert lines[2].endswith("(subsequent similar messages suppressed for 1000 milliseconds)")


def test_log_warning_false_silences_warnings(start_proxy: ProxyFactory, tmp_path: Path) -> None:
    path = tmp_path / "interlock.log"
    proxy = start(start_proxy, path, log_warning="false", log_info="true")
    bad_handshake(proxy)
    wait_for(path, "info   : ")
    proxy.stop()
    text = path.read_text()
    assert " warning: " not in text
    assert "notice : Interlock stopped" in text
