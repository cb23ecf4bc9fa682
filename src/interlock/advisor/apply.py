"""``--apply``: ``SET GLOBAL wait_timeout`` on the server just advised, on the same connection.

Order: the report is printed first; then the privilege is checked with a no-op
``SET GLOBAL wait_timeout = @@global.wait_timeout`` (so nobody is asked to confirm what cannot
be done); then the question on the terminal (``--yes`` skips it); then the ``SET GLOBAL``, and
the value is read back.  The change reaches new connections only (open sessions keep theirs)
and is lost at a restart unless the ``my.cnf`` line of the report is added.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from interlock.advisor.errors import ApplyError, LiveSampleError, ServerRefusedError
from interlock.advisor.live import LiveSession
from interlock.advisor.method1 import Method1Result

ACCESS_DENIED_NEED_PRIVILEGE = 1227  # ER_SPECIFIC_ACCESS_DENIED_ERROR
#: what the session itself may idle while the question waits for an answer (the server's
#: wait_timeout may be the 10 s an earlier --apply set)
SESSION_PATIENCE = 86400


class ApplyValue(enum.StrEnum):
    STRICT = "strict"
    MIDDLE = "middle"
    LENIENT = "lenient"


_PICK: dict[ApplyValue, Callable[[Method1Result], int]] = {
    ApplyValue.STRICT: lambda r: r.strict,
    ApplyValue.MIDDLE: lambda r: r.middle,
    ApplyValue.LENIENT: lambda r: r.lenient,
}


@dataclass(frozen=True, slots=True)
class Applied:
    before: int
    requested: int
    after: int

    @property
    def exact(self) -> bool:
        return self.after == self.requested


def chosen_value(result: Method1Result, which: ApplyValue) -> int:
    return _PICK[which](result)


def question(value: int, label: str) -> str:
    return f"Apply SET GLOBAL wait_timeout={value} on {label}? [y/N] "


def confirm(prompt: str, stdin: TextIO, out: TextIO) -> bool:
    """Ask on the terminal; only ``y``/``yes`` (any case) is a yes, end of input is a no."""
    out.write(prompt)
    out.flush()
    answer = stdin.readline()
    if not answer.endswith("\n"):
        out.write("\n")
    return answer.strip().lower() in ("y", "yes")


def _refused(session: LiveSession, value: int, exc: ServerRefusedError) -> ApplyError:
    user, label = session.target.user, session.target.label
    if exc.code == ACCESS_DENIED_NEED_PRIVILEGE:
        return ApplyError(
            f"cannot SET GLOBAL wait_timeout on {label}: the account '{user}' lacks the"
            " SUPER or SYSTEM_VARIABLES_ADMIN privilege (MariaDB: SUPER; MySQL 8:"
            f" SYSTEM_VARIABLES_ADMIN) (server: {exc.server_message}); nothing was changed:"
            f" run SET GLOBAL wait_timeout = {value}; as an account that has it"
        )
    return ApplyError(f"cannot SET GLOBAL wait_timeout on {label}: {exc}")


async def _global_wait_timeout(session: LiveSession) -> int:
    text = await session.scalar("SELECT @@global.wait_timeout")
    if text is None or not text.isdigit():
        raise ApplyError(f"SELECT @@global.wait_timeout returned {text!r}, not a number")
    return int(text)


async def check_privilege(session: LiveSession, value: int) -> None:
    """A no-op ``SET GLOBAL``: :class:`ApplyError` naming the privilege when it is refused.

    Also lets the session itself wait ``SESSION_PATIENCE`` for the answer to the question."""
    try:
        await session.rows("SET GLOBAL wait_timeout = @@global.wait_timeout")
        await session.rows(f"SET SESSION wait_timeout = {SESSION_PATIENCE}")
    except ServerRefusedError as exc:
        raise _refused(session, value, exc) from exc
    except LiveSampleError as exc:
        raise ApplyError(f"nothing applied: {exc}") from exc


async def apply_wait_timeout(session: LiveSession, value: int) -> Applied:
    """``SET GLOBAL wait_timeout = value`` and the value before and after it."""
    try:
        before = await _global_wait_timeout(session)
        await session.rows(f"SET GLOBAL wait_timeout = {int(value)}")
        after = await _global_wait_timeout(session)
    except ServerRefusedError as exc:
        raise _refused(session, value, exc) from exc
    except LiveSampleError as exc:
        raise ApplyError(f"SET GLOBAL wait_timeout = {value} may not have been applied: {exc}") \
            from exc
    return Applied(before, value, after)


def describe(applied: Applied, label: str) -> list[str]:
    lines = [
        f"wait_timeout on {label}: before {applied.before} s, after {applied.after} s"
        f" (SET GLOBAL wait_timeout={applied.requested})",
    ]
    if not applied.exact:
        lines.append(f"the server stored {applied.after} s instead of {applied.requested} s")
    lines.append(
        "New connections get it; sessions already open keep theirs. It is lost at a restart:"
        " add the my.cnf line above to keep it."
    )
    return lines
