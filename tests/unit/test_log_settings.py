"""Log settings: throttling, JSON lines, level switches, ms timestamps, syslog, reopen()."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlock import log
from interlock.log import LogSettings, Throttle, Throttling

SUPPRESSING = " (subsequent similar messages suppressed for 10000 milliseconds)"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, level: int = logging.WARNING, line: int = 7) -> logging.LogRecord:
    return logging.LogRecord("interlock.t", level, "/src/x.py", line, msg, None, None)


def texts(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    log.setup(stream=io.StringIO())


# -- the throttle, with a fake clock --------------------------------------------------------


def test_the_tenth_message_within_a_second_starts_a_suppression() -> None:
    clock = Clock()
    throttle = Throttle(Throttling(), clock)
    written = []
    for i in range(25):
        clock.now += 0.01
        written += texts(throttle.admit(record(f"failure {i}")))
    assert written == [f"failure {i}" for i in range(9)] + ["failure 9" + SUPPRESSING]
    assert throttle.expired() == []
    clock.now += 10
    (summary,) = throttle.expired()
    assert summary.getMessage() == (
        "failure 24 (this message was suppressed 15 times in 10000 milliseconds)"
    )
    assert summary.levelno == logging.WARNING
    assert throttle.expired() == []
    assert texts(throttle.admit(record("again"))) == ["again"]


def test_a_message_after_the_suppression_brings_the_summary_first() -> None:
    clock = Clock()
    throttle = Throttle(Throttling(3, 1.0, 5.0), clock)
    for _ in range(5):
        throttle.admit(record("x"))
    clock.now += 5
    assert texts(throttle.admit(record("y"))) == [
        "x (this message was suppressed 2 times in 5000 milliseconds)",
        "y",
    ]
    assert texts(throttle.admit(record("z"))) == ["z"]  # counting starts again


def test_messages_spread_over_time_are_not_suppressed() -> None:
    clock = Clock()
    throttle = Throttle(Throttling(), clock)
    written = []
    for _ in range(50):
        clock.now += 0.2  # 5 per second, under the limit of 10
        written += throttle.admit(record("slow"))
    assert texts(written) == ["slow"] * 50


def test_call_sites_and_levels_are_throttled_separately() -> None:
    throttle = Throttle(Throttling(2, 1.0, 10.0), Clock())
    assert len(throttle.admit(record("a", line=1))) == 1
    assert texts(throttle.admit(record("a", line=1)))[0].endswith("10000 milliseconds)")
    assert throttle.admit(record("a", line=1)) == []
    assert texts(throttle.admit(record("a", line=2))) == ["a"]
    assert texts(throttle.admit(record("a", logging.ERROR, line=1))) == ["a"]
    for _ in range(20):
        assert texts(throttle.admit(record("n", log.NOTICE, line=3))) == ["n"]


@pytest.mark.parametrize("cfg", [Throttling(0, 1.0, 10.0), Throttling(10, 0.0, 0.0)])
def test_throttling_off(cfg: Throttling) -> None:
    throttle = Throttle(cfg, Clock())
    assert sum(len(throttle.admit(record("x"))) for _ in range(100)) == 100


# -- real log files -------------------------------------------------------------------------


def wait_for(path: Path, needle: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text()
        if needle in text:
            return text
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} not in {path}:\n{path.read_text()}")


def test_throttled_file_gets_the_summary_when_all_is_quiet(tmp_path: Path) -> None:
    path = tmp_path / "interlock.log"
    settings = LogSettings(throttling=Throttling(3, 60.0, 0.5))
    log.setup(str(path), stream=io.StringIO(), settings=settings)
    logger = log.get_logger("interlock.test")
    for i in range(10):
        logger.error("backend %d is down", i)
    text = wait_for(path, "suppressed 7 times")
    lines = text.splitlines()
    assert len(lines) == 4, lines
    assert lines[0].endswith("error  : backend 0 is down")
    assert lines[2].endswith(
        "error  : backend 2 is down (subsequent similar messages suppressed for 500 milliseconds)"
    )
    assert lines[3].endswith(
        "error  : backend 9 is down (this message was suppressed 7 times in 500 milliseconds)"
    )


def test_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "interlock.log"
    log.setup(str(path), stream=io.StringIO(), settings=LogSettings(json=True))
    logger = log.get_logger("interlock.server.app")
    logger.notice("started")
    logger.error("a.cnf:3: first\na.cnf:9: second")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    documents = [json.loads(line) for line in path.read_text().splitlines()]
    assert [d["priority"] for d in documents] == ["notice", "error", "error"]
    assert documents[1]["message"] == "a.cnf:3: first\na.cnf:9: second"
    assert documents[0]["logger"] == "interlock.server.app"
    assert documents[2]["exception"].endswith("ValueError: boom")
    assert re.match(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$", documents[0]["timestamp"]
    )


def test_level_switches_and_ms_timestamps() -> None:
    stream = io.StringIO()
    settings = LogSettings(info=True, notice=False, warning=False, ms_timestamp=True)
    log.setup(stream=stream, settings=settings)
    logger = log.get_logger("interlock.test")
    logger.debug("d")
    logger.info("i")
    logger.notice("n")
    logger.warning("w")
    logger.error("e")
    lines = stream.getvalue().splitlines()
    assert [line.split("   ", 1)[1] for line in lines] == ["info   : i", "error  : e"]
    assert all(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}   ", line) for line in lines)


def test_maxlog_false_writes_no_file(tmp_path: Path) -> None:
    stream = io.StringIO()
    log.setup(str(tmp_path / "x.log"), stream=stream, settings=LogSettings(maxlog=False))
    log.get_logger("interlock.test").notice("only on stdout")
    assert not (tmp_path / "x.log").exists()
    assert stream.getvalue().endswith("notice : only on stdout\n")


def test_reopen_after_rename_writes_to_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "interlock.log"
    log.setup(str(path), stream=io.StringIO())
    logger = log.get_logger("interlock.test")
    logger.notice("before rotation")
    path.rename(tmp_path / "interlock.log.1")
    logger.notice("still the old file")
    log.reopen()
    logger.notice("after rotation")
    old = (tmp_path / "interlock.log.1").read_text()
    new = path.read_text()
    assert "before rotation" in old and "still the old file" in old
    assert "after rotation" not in old
    assert [line.split(": ", 1)[1] for line in new.splitlines()] == [
        "Log file reopened", "after rotation"
    ]  # fmt: skip


def test_syslog(tmp_path: Path) -> None:
    address = str(tmp_path / "log.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(address)
        server.settimeout(5)
        settings = LogSettings(syslog=True, syslog_address=address)
        log.setup(stream=io.StringIO(), settings=settings)
        logger = log.get_logger("interlock.test")
        logger.notice("hello\nworld")
        logger.error("bad")
        first, second = server.recv(4096), server.recv(4096)
    assert first == b"<13>interlock: hello world\x00"  # facility user (1) * 8 + notice (5)
    assert second == b"<11>interlock: bad\x00"


def test_syslog_unavailable_is_a_warning(tmp_path: Path) -> None:
    stream = io.StringIO()
    missing = str(tmp_path / "nothing")
    log.setup(stream=stream, settings=LogSettings(syslog=True, syslog_address=missing))
    assert f"warning: syslog=true but {missing} does not exist" in stream.getvalue()


def test_running_suppressions_are_summarised_at_shutdown(tmp_path: Path) -> None:
    path = tmp_path / "interlock.log"
    log.setup(str(path), stream=io.StringIO(), settings=LogSettings(throttling=Throttling(2)))
    logger = log.get_logger("interlock.test")
    for _ in range(5):
        logger.warning("same")
    log.setup(stream=io.StringIO())  # replaces (closes) the handler, as at exit
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    assert lines[-1].endswith("same (this message was suppressed 3 times in 10000 milliseconds)")


def test_reopen_without_a_log_file_does_nothing() -> None:
    stream = io.StringIO()
    log.setup(stream=stream)
    log.reopen()
    assert stream.getvalue() == ""
