"""Collects every error and warning found in one configuration file.

Messages read ``FILE:LINE: [section] text`` (``FILE: text`` for whole-file problems) so a user
can fix everything in one go; :meth:`Diagnostics.raise_if_errors` raises them all together as
one :class:`ConfigFileError`, one message per line, sorted by line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from interlock.errors import ConfigError


class ConfigFileError(ConfigError):
    """All the errors of a configuration file; ``str()`` gives one per line."""

    def __init__(self, errors: tuple[str, ...]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Message:
    line: int | None
    order: int
    text: str

    def sort_key(self) -> tuple[bool, int, int]:
        return (self.line is None, self.line or 0, self.order)


@dataclass(slots=True)
class Diagnostics:
    path: str
    _errors: list[Message] = field(default_factory=list)
    _warnings: list[Message] = field(default_factory=list)

    def format(self, text: str, line: int | None = None, section: str | None = None) -> str:
        where = self.path if line is None else f"{self.path}:{line}"
        return f"{where}: [{section}] {text}" if section is not None else f"{where}: {text}"

    def error(self, text: str, line: int | None = None, section: str | None = None) -> None:
        formatted = self.format(text, line, section)
        self._errors.append(Message(line, len(self._errors), formatted))

    def warning(self, text: str, line: int | None = None, section: str | None = None) -> None:
        formatted = self.format(text, line, section)
        self._warnings.append(Message(line, len(self._warnings), formatted))

    @property
    def errors(self) -> tuple[str, ...]:
        return tuple(m.text for m in sorted(self._errors, key=Message.sort_key))

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(m.text for m in sorted(self._warnings, key=Message.sort_key))

    def raise_if_errors(self) -> None:
        if self._errors:
            raise ConfigFileError(self.errors)
