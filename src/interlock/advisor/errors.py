"""Exceptions of the advisor layer.

:class:`AdvisorError` is the root.  Bad input always names what is wrong: the file and line of
an unreadable status dump, the counters or variables that are missing, the server that could
not be queried.
"""

from __future__ import annotations

from interlock.errors import InterlockError


class AdvisorError(InterlockError):
    """Root of the advisor layer's exceptions."""


class InputFileError(AdvisorError, ValueError):
    """A saved status/variables dump cannot be read; the message names the file and line."""

    def __init__(self, source: str, line: int, detail: str) -> None:
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {detail}")
        self.source = source
        self.line = line
        self.detail = detail


class MissingInputError(AdvisorError, ValueError):
    """Counters or variables the method needs are absent or unusable (e.g. ``Uptime`` 0)."""

    def __init__(self, problems: tuple[str, ...], hint: str = "") -> None:
        text = "; ".join(problems)
        super().__init__(f"{text}{f' ({hint})' if hint else ''}")
        self.problems = problems
        self.hint = hint


class LiveSampleError(AdvisorError):
    """A live server could not be reached or queried (no privilege, lost connection)."""


class ServerRefusedError(LiveSampleError):
    """The server answered a statement with an error (``code`` is its error number)."""

    def __init__(self, statement: str, code: int, server_message: str) -> None:
        super().__init__(f"{statement}: {server_message}")
        self.code = code
        self.server_message = server_message


class UsageError(AdvisorError):
    """Options that do not go together, or a missing tool (exit status 2)."""


class PlotUnavailable(UsageError):
    """``--plot`` without matplotlib installed."""


class ApplyError(AdvisorError):
    """``--apply`` could not set the value (no privilege, lost connection, clamped value)."""
