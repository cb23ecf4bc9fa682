"""Logging in MaxScale's line format: ``2023-07-24 10:54:52   notice : message``.

Levels are ``error``, ``warning``, ``notice`` (the normal operational level, between INFO and
WARNING) and ``info``/``debug``.  Use ``get_logger(__name__)`` and ``log.notice(...)``.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, cast

NOTICE = 25
_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    NOTICE: "notice",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "alert",
}


class InterlockLogger(logging.Logger):
    def notice(self, msg: object, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(NOTICE):
            self._log(NOTICE, msg, args, **kwargs)


logging.setLoggerClass(InterlockLogger)
for _level, _name in _LEVEL_NAMES.items():
    logging.addLevelName(_level, _name)


class MaxScaleFormatter(logging.Formatter):
    """``YYYY-mm-dd HH:MM:SS   level  : message`` with the level padded to 7 columns.

    A message of several lines (all the errors of a config file, a traceback) becomes several
    lines that each carry the prefix, so every line of the log parses the same way.
    """

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        level = _LEVEL_NAMES.get(record.levelno, record.levelname.lower())
        text = record.getMessage()
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        prefix = f"{stamp}   {level:<7}: "
        return "\n".join(prefix + line for line in text.splitlines() or [""])


def get_logger(name: str) -> InterlockLogger:
    return cast(InterlockLogger, logging.getLogger(name))


def setup(log_file: str | None = None, level: int = NOTICE, stream: Any = None) -> None:
    """Log to stdout (or ``stream``) and, when given, to ``log_file`` too."""
    root = logging.getLogger("interlock")
    root.setLevel(level)
    root.propagate = False
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stdout)]
    if log_file:
        handlers.append(logging.FileHandler(log_file))
    for handler in handlers:
        handler.setFormatter(MaxScaleFormatter())
        root.addHandler(handler)
