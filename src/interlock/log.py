"""Logging in MaxScale's line format: ``2023-07-24 10:54:52   notice : message``.

Levels are ``error``, ``warning``, ``notice`` (the normal operational level, between INFO and
WARNING) and ``info``/``debug``.  Use ``get_logger(__name__)`` and ``log.notice(...)``.

``setup(log_file, settings=LogSettings(...))`` configures the ``interlock`` logger tree once
for the process: one dispatching handler applies the level switches (``log_info``,
``log_debug``, ``log_notice``, ``log_warning``) and throttling, then hands each record to the
outputs (stdout, the log file when ``maxlog``, syslog when ``syslog``), each formatting it as a
MaxScale line or, with ``log_format=json``, as one JSON object per line.

Throttling (``log_throttling=10, 1000ms, 10000ms``, MaxScale's default): when the same message
is logged ``count`` times within ``window``, that message is suppressed for ``suppress``; the
line that starts the suppression says so, and when the period ends a summary line says how many
were suppressed.  As in MaxScale, "the same message" is the same log statement (file and line),
whatever its arguments, and only errors and warnings are throttled.

``reopen()`` reopens the log file (log rotation: rename the file, then reopen; the proxy calls
it on SIGUSR1).
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
_THROTTLED = frozenset({logging.WARNING, logging.ERROR})
_SYSLOG_PRIORITY = {name: name for name in ("debug", "info", "notice", "warning", "error")}
_SYSLOG_PRIORITY["alert"] = "alert"


class InterlockLogger(logging.Logger):
    def notice(self, msg: object, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(NOTICE):
            self._log(NOTICE, msg, args, **kwargs)


logging.setLoggerClass(InterlockLogger)
for _level, _name in _LEVEL_NAMES.items():
    logging.addLevelName(_level, _name)


def get_logger(name: str) -> InterlockLogger:
    return cast(InterlockLogger, logging.getLogger(name))


# -- settings -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Throttling:
    """``log_throttling``: ``count`` messages within ``window`` seconds -> ``suppress`` seconds
    of silence for that message.  Any value 0 turns throttling off."""

    count: int = 10
    window: float = 1.0
    suppress: float = 10.0

    @property
    def enabled(self) -> bool:
        return self.count > 0 and self.window > 0 and self.suppress > 0


@dataclass(frozen=True, slots=True)
class LogSettings:
    """The global logging parameters; the defaults are MaxScale's."""

    throttling: Throttling = field(default_factory=Throttling)
    json: bool = False  # log_format=json (Interlock extension)
    info: bool = False  # log_info
    debug: bool = False  # log_debug
    notice: bool = True  # log_notice
    warning: bool = True  # log_warning
    maxlog: bool = True  # write the log file (when there is one)
    syslog: bool = False
    ms_timestamp: bool = False
    syslog_address: str = "/dev/log"

    def enabled_levels(self) -> frozenset[int]:
        switches = {
            logging.DEBUG: self.debug,
            logging.INFO: self.info,
            NOTICE: self.notice,
            logging.WARNING: self.warning,
        }
        return frozenset(level for level, on in switches.items() if on) | {
            logging.ERROR,
            logging.CRITICAL,
        }


# -- formats --------------------------------------------------------------------------------


def _stamp(created: float, ms: bool) -> str:
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
    return f"{text}.{int(created * 1000) % 1000:03d}" if ms else text


class MaxScaleFormatter(logging.Formatter):
    """``YYYY-mm-dd HH:MM:SS   level  : message`` with the level padded to 7 columns.

    A message of several lines (all the errors of a config file, a traceback) becomes several
    lines that each carry the prefix, so every line of the log parses the same way.
    """

    def __init__(self, ms_timestamp: bool = False) -> None:
        super().__init__()
        self.ms_timestamp = ms_timestamp

    def format(self, record: logging.LogRecord) -> str:
        level = _LEVEL_NAMES.get(record.levelno, record.levelname.lower())
        prefix = f"{_stamp(record.created, self.ms_timestamp)}   {level:<7}: "
        return "\n".join(prefix + line for line in _text(self, record).splitlines() or [""])


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``timestamp`` (ISO 8601, ms, local offset), ``priority``,
    ``message`` (all its lines), ``logger`` and, for an exception, ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
        offset = time.strftime("%z", time.localtime(record.created))
        document: dict[str, Any] = {
            "timestamp": f"{moment}.{int(record.created * 1000) % 1000:03d}"
            f"{offset[:3]}:{offset[3:]}",
            "priority": _LEVEL_NAMES.get(record.levelno, record.levelname.lower()),
            "message": record.getMessage(),
            "logger": record.name,
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


class _SyslogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(_text(self, record).splitlines())


def _text(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info:
        text = f"{text}\n{formatter.formatException(record.exc_info)}"
    return text


class _Syslog(logging.handlers.SysLogHandler):
    def mapPriority(self, levelName: str) -> str:
        return _SYSLOG_PRIORITY.get(levelName, "warning")


# -- throttling -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Seen:
    first: float  # start of the counting window
    count: int = 0
    until: float | None = None  # end of the suppression, when suppressed
    suppressed: int = 0
    last: logging.LogRecord | None = None  # the last suppressed record


class Throttle:
    """The throttling decisions, with an injected clock (pure; the handler does the output)."""

    def __init__(self, cfg: Throttling, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.clock = clock
        self._seen: dict[tuple[str, int, int], _Seen] = {}
        self._suppressing: set[tuple[str, int, int]] = set()

    def admit(self, record: logging.LogRecord) -> list[logging.LogRecord]:
        """The records to write for ``record``: none, it (maybe annotated), or a summary
        of an expired suppression and then it."""
        if not self.cfg.enabled or record.levelno not in _THROTTLED:
            return [record]
        now = self.clock()
        key = (record.pathname, record.lineno, record.levelno)
        seen = self._seen.setdefault(key, _Seen(now))
        out: list[logging.LogRecord] = []
        if seen.until is not None:
            if now < seen.until:
                seen.suppressed += 1
                seen.last = record
                return []
            out += self._end(key, seen, now)
            seen = self._seen[key]
        if now - seen.first > self.cfg.window:
            seen.first, seen.count = now, 0
        seen.count += 1
        if seen.count < self.cfg.count:
            return [*out, record]
        seen.until = now + self.cfg.suppress
        self._suppressing.add(key)
        ms = round(self.cfg.suppress * 1000)
        note = f" (subsequent similar messages suppressed for {ms} milliseconds)"
        return [*out, _rewrite(record, record.getMessage() + note)]

    def expired(self) -> list[logging.LogRecord]:
        """Summaries of the suppressions that have ended (each reported once)."""
        if not self._suppressing:
            return []
        now = self.clock()
        out: list[logging.LogRecord] = []
        for key in sorted(self._suppressing):
            seen = self._seen[key]
            if seen.until is not None and now >= seen.until:
                out += self._end(key, seen, now)
        return out

    def pending(self) -> list[logging.LogRecord]:
        """Summaries of every running suppression, ended now (at shutdown)."""
        now = self.clock()
        out: list[logging.LogRecord] = []
        for key in sorted(self._suppressing):
            out += self._end(key, self._seen[key], now)
        return out

    def next_expiry(self) -> float | None:
        """Seconds until the next suppression ends, if one is running."""
        ends = [u for k in self._suppressing if (u := self._seen[k].until) is not None]
        return max(0.0, min(ends) - self.clock()) if ends else None

    def _end(self, key: tuple[str, int, int], seen: _Seen, now: float) -> list[logging.LogRecord]:
        summary = []
        if seen.suppressed and seen.last is not None:
            ms = round(self.cfg.suppress * 1000)
            text = (
                f"{seen.last.getMessage()} (this message was suppressed {seen.suppressed} "
                f"times in {ms} milliseconds)"
            )
            summary.append(_rewrite(seen.last, text, created=time.time()))
        self._seen[key] = _Seen(now)
        self._suppressing.discard(key)
        return summary


def _rewrite(
    record: logging.LogRecord, text: str, created: float | None = None
) -> logging.LogRecord:
    copy = logging.makeLogRecord(record.__dict__)
    copy.msg, copy.args = text, None
    if created is not None:
        copy.created = created
    return copy


# -- the handler ----------------------------------------------------------------------------


class Dispatcher(logging.Handler):
    """The one handler of the ``interlock`` logger: level switches, throttling, outputs."""

    def __init__(self, settings: LogSettings, outputs: list[logging.Handler]) -> None:
        super().__init__(logging.DEBUG)
        self.settings = settings
        self.outputs = outputs
        self.levels = settings.enabled_levels()
        self.throttle = Throttle(settings.throttling)
        self._timer: threading.Timer | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno not in self.levels:
            return
        for item in [*self.throttle.expired(), *self.throttle.admit(record)]:
            self._write(item)
        self._arm()

    def _write(self, record: logging.LogRecord) -> None:
        for output in self.outputs:
            output.handle(record)

    def _arm(self) -> None:
        """A timer that writes the summary when a suppression ends, even if all is quiet."""
        delay = self.throttle.next_expiry()
        if delay is None or self._timer is not None:
            return
        self._timer = threading.Timer(delay + 0.01, self._on_timer)
        self._timer.daemon = True
        self._timer.start()

    def _on_timer(self) -> None:
        with _locked(self):
            self._timer = None
            self.flush_summaries()
            self._arm()

    def flush_summaries(self) -> None:
        for item in self.throttle.expired():
            self._write(item)

    def reopen(self) -> int:
        """Reopen the log files; returns how many there are."""
        files = [o for o in self.outputs if isinstance(o, logging.FileHandler)]
        for output in files:
            with _locked(output):
                if output.stream is not None:
                    output.stream.close()
                output.stream = output._open()
        return len(files)

    def close(self) -> None:
        """Cancel the timer and write what the running suppressions have swallowed."""
        with _locked(self):
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            for item in self.throttle.pending():
                self._write(item)
        super().close()


@contextlib.contextmanager
def _locked(handler: logging.Handler) -> Iterator[None]:
    handler.acquire()
    try:
        yield
    finally:
        handler.release()


def _outputs(
    settings: LogSettings, log_file: str | None, stream: Any, problems: list[str]
) -> list[logging.Handler]:
    formatter: logging.Formatter = (
        JsonFormatter() if settings.json else MaxScaleFormatter(settings.ms_timestamp)
    )
    outputs: list[logging.Handler] = [logging.StreamHandler(stream or sys.stdout)]
    if log_file and settings.maxlog:
        outputs.append(logging.FileHandler(log_file))
    for output in outputs:
        output.setFormatter(formatter)
    if settings.syslog and not os.path.exists(settings.syslog_address):
        problems.append(
            f"syslog=true but {settings.syslog_address} does not exist (no syslog "
            "daemon?); not logging to syslog"
        )
    elif settings.syslog:
        syslog = _Syslog(address=settings.syslog_address)
        syslog.ident = "interlock: "
        syslog.setFormatter(_SyslogFormatter())
        outputs.append(syslog)
    return outputs


def setup(
    log_file: str | None = None,
    level: int = NOTICE,
    stream: Any = None,
    settings: LogSettings | None = None,
) -> None:
    """Log to stdout (or ``stream``) and, when given (and ``maxlog``), to ``log_file`` too.

    Without ``settings`` MaxScale's defaults apply, with every level from ``level`` up.
    Raises OSError when the log file cannot be opened.
    """
    if settings is None:
        settings = LogSettings(
            info=level <= logging.INFO,
            debug=level <= logging.DEBUG,
            notice=level <= NOTICE,
            warning=level <= logging.WARNING,
        )
    root = logging.getLogger("interlock")
    problems: list[str] = []
    outputs = _outputs(settings, log_file, stream, problems)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
        if isinstance(handler, Dispatcher):
            for output in handler.outputs:
                output.close()
    root.setLevel(min(settings.enabled_levels()))
    root.propagate = False
    root.addHandler(Dispatcher(settings, outputs))
    for problem in problems:
        root.warning(problem)


def _dispatcher() -> Dispatcher | None:
    found = [h for h in logging.getLogger("interlock").handlers if isinstance(h, Dispatcher)]
    return found[0] if found else None


def reopen() -> None:
    """Reopen the log file (after it was renamed for rotation) and log that it happened.

    Safe to call from the event loop's signal handler (``loop.add_signal_handler``).
    """
    dispatcher = _dispatcher()
    if dispatcher is not None and dispatcher.reopen():
        get_logger(__name__).notice("Log file reopened")


def flush() -> None:
    """Write the summaries of the suppressions that have ended (e.g. before shutdown)."""
    dispatcher = _dispatcher()
    if dispatcher is not None:
        with _locked(dispatcher):
            dispatcher.flush_summaries()
