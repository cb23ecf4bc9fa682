"""``MonitorSettings``: mariadbmon's parameters (names and defaults as MaxScale has them).

Interlock's own additions: ``failover_block`` (anti-flapping: no second automatic failover of
the cluster within this time unless a person acknowledges) and ``switchover_max_lag`` (a
switchover candidate must be at most this many seconds behind).  Durations are seconds.
:meth:`MonitorSettings.from_params` reads the raw ``key=value`` pairs of a ``type=monitor``
section with the config layer's value parsers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from interlock.config.values import parse_bool, parse_duration, parse_int
from interlock.errors import ConfigError
from interlock.monitor.errors import MonitorSettingsError


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    monitor_interval: float = 2.0
    failcount: int = 5
    auto_failover: bool = False
    auto_rejoin: bool = False
    failover_timeout: float = 90.0
    switchover_timeout: float = 90.0
    verify_master_failure: bool = True
    master_failure_timeout: float = 10.0
    servers_no_promotion: tuple[str, ...] = ()
    promotion_sql_file: str | None = None
    demotion_sql_file: str | None = None
    enforce_read_only_slaves: bool = False
    enforce_writable_master: bool = False
    replication_user: str | None = None  # None: the monitor's user (as MaxScale)
    replication_password: str | None = field(default=None, repr=False)
    replication_master_ssl: bool = False
    failover_block: float = 3600.0  # Interlock: anti-flapping window
    switchover_max_lag: float = 10.0  # Interlock: max Seconds_Behind_Master of a candidate

    def __post_init__(self) -> None:
        if self.failcount < 1:
            raise MonitorSettingsError(f"failcount must be 1 or more, not {self.failcount}")
        for name in ("monitor_interval", "failover_timeout", "switchover_timeout",
                     "master_failure_timeout", "failover_block", "switchover_max_lag"):
            if getattr(self, name) < 0:
                raise MonitorSettingsError(f"{name} must not be negative")

    @classmethod
    def from_params(cls, params: Mapping[str, str], **overrides: Any) -> MonitorSettings:
        """Settings from raw config values (unknown keys are ignored: the config layer already
        reported them); ``overrides`` win (e.g. the monitor user as replication user)."""
        values: dict[str, Any] = {}
        known = {f.name for f in fields(cls)}
        for key, raw in params.items():
            if key not in known:
                continue
            parser = _PARSERS[key]
            try:
                values[key] = parser(raw)
            except (ConfigError, ValueError) as exc:
                raise MonitorSettingsError(f"{key}={raw!r}: {exc}") from None
        values.update(overrides)
        return cls(**values)


def _names(raw: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in raw.split(",") if n.strip())


def _text(raw: str) -> str | None:
    return raw.strip() or None


_PARSERS: dict[str, Callable[[str], Any]] = {
    "monitor_interval": parse_duration,
    "failcount": lambda raw: parse_int(raw, 1),
    "auto_failover": parse_bool,
    "auto_rejoin": parse_bool,
    "failover_timeout": parse_duration,
    "switchover_timeout": parse_duration,
    "verify_master_failure": parse_bool,
    "master_failure_timeout": parse_duration,
    "servers_no_promotion": _names,
    "promotion_sql_file": _text,
    "demotion_sql_file": _text,
    "enforce_read_only_slaves": parse_bool,
    "enforce_writable_master": parse_bool,
    "replication_user": _text,
    "replication_password": lambda raw: raw,
    "replication_master_ssl": parse_bool,
    "failover_block": parse_duration,
    "switchover_max_lag": parse_duration,
}
