"""What a REST handler may use: the running proxy and the admin listener's own state."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from interlock.admin.auth import AdminUsers, Tokens

if TYPE_CHECKING:
    from interlock.server.app import Proxy


@dataclass(slots=True)
class AdminContext:
    proxy: Proxy
    users: AdminUsers
    tokens: Tokens
    started: float = field(default_factory=time.time)  # wall clock, for uptime
    started_monotonic: float = field(default_factory=time.monotonic)

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started_monotonic
