"""The MaxScale log line format, including messages of several lines."""

from __future__ import annotations

import io
import logging
import re

from interlock import log

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d   (notice |warning|error  |info   ): .*$")


def _capture() -> tuple[io.StringIO, log.InterlockLogger]:
    stream = io.StringIO()
    log.setup(stream=stream, level=logging.INFO)
    return stream, log.get_logger("interlock.test")


def test_levels_and_format() -> None:
    stream, logger = _capture()
    logger.notice("started %s", "ok")
    logger.warning("careful")
    logger.error("broken")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert all(LINE.match(line) for line in lines), lines
    assert [line.split(": ", 1)[0][-7:] for line in lines] == ["notice ", "warning", "error  "]


def test_every_line_of_a_multiline_message_carries_the_prefix() -> None:
    stream, logger = _capture()
    logger.error("a.cnf:3: first\na.cnf:9: second")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("error  : a.cnf:3: first")
    assert lines[1].endswith("error  : a.cnf:9: second")
    assert any(line.endswith("ValueError: boom") for line in lines)
    assert all(LINE.match(line) for line in lines), lines
