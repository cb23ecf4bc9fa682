"""Local MariaDB replication clusters of real mariadbd processes (``interlock sandbox ...``).

Used by the CLI, by ``make demo`` and by the test fixtures (``tests/conftest.py``)::

    sb = Sandbox.create("/tmp/sb", replicas=2, base_port=13500).up()
    sb.primary.port, sb.app_user, sb.app_password, sb.config_path
    sb.kill("server2"); sb.start("server2"); sb.destroy()
"""

from interlock.sandbox.cluster import Sandbox, ServerStatus
from interlock.sandbox.model import Account, Role, SandboxServer, SandboxSpec
from interlock.sandbox.params import ConnParams

__all__ = [
    "Account",
    "ConnParams",
    "Role",
    "Sandbox",
    "SandboxServer",
    "SandboxSpec",
    "ServerStatus",
]
