"""``Sandbox``: a primary and N replicas of real mariadbd processes in one directory.

Layout of ``DIR``::

    sandbox.json         settings and accounts (fixed, documented passwords)
    interlock.cnf        a ready Interlock config for this cluster
    tls/                 ca.pem, server-cert.pem, server-key.pem (servers and proxy listener)
    serverN/my.cnf       each server's only option file (--defaults-file)
    serverN/data/        its datadir; error.log, mariadbd.sock, mariadbd.pid beside it

``up()`` on a new directory initialises everything and sets up replication; on an existing one it
starts whatever is stopped.  Either way it returns only once replication demonstrably runs.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interlock.errors import SandboxError
from interlock.log import get_logger
from interlock.sandbox import accounts, interlock_cnf, mycnf, process, replication, sqlcli, tls
from interlock.sandbox.binaries import check_all
from interlock.sandbox.model import SPEC_FILE, Role, SandboxServer, SandboxSpec
from interlock.sandbox.params import ConnParams
from interlock.sandbox.ports import port_is_free, taken_ports

log = get_logger(__name__)

START_TIMEOUT = 60.0
REPLICATION_TIMEOUT = 60.0
CONFIG_FILE = "interlock.cnf"
DEFAULT_ADMIN_PORT = 8989  # MaxScale's admin_port
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes including the terminating NUL


@dataclass(frozen=True, slots=True)
class ServerStatus:
    name: str
    port: int
    role: str
    pid: int | None
    running: bool
    replication: str  # "-" for the primary, "Yes/Yes", "stopped", an error...
    gtid: str


class Sandbox:
    """Drive one sandbox directory.  ``die_with_parent=True`` ties the servers this object
    starts to the calling thread (tests); the CLI leaves them running on their own."""

    def __init__(self, spec: SandboxSpec, initialized: bool = False, die_with_parent: bool = False):
        self.spec = spec
        self.die_with_parent = die_with_parent
        self._initialized = initialized
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: str | Path,
        replicas: int = 2,
        base_port: int = 3310,
        proxy_port: int = 4006,
        semi_sync: bool = False,
        die_with_parent: bool = False,
    ) -> Sandbox:
        """A sandbox for ``directory``: the existing one if its settings match, else a new one."""
        directory = Path(directory).absolute()
        spec = SandboxSpec(directory, replicas, base_port, proxy_port, semi_sync)
        if (directory / SPEC_FILE).exists():
            existing = cls.open(directory, die_with_parent)
            if _settings(existing.spec) != _settings(spec):
                raise SandboxError(
                    f"{directory} already holds a sandbox with {_describe(existing.spec)}; "
                    f"use it as it is, or run `interlock sandbox destroy --dir {directory}` first"
                )
            return existing
        return cls(spec, die_with_parent=die_with_parent)

    @classmethod
    def open(cls, directory: str | Path, die_with_parent: bool = False) -> Sandbox:
        directory = Path(directory).absolute()
        try:
            text = (directory / SPEC_FILE).read_text()
        except FileNotFoundError:
            raise SandboxError(
                f"no sandbox in {directory} (run `interlock sandbox up --dir {directory}`)"
            ) from None
        spec, initialized = SandboxSpec.from_json(directory, text)
        return cls(spec, initialized, die_with_parent)

    # -- what it is --------------------------------------------------------------------------

    @property
    def dir(self) -> Path:
        return self.spec.directory

    @property
    def servers(self) -> tuple[SandboxServer, ...]:
        return self.spec.servers

    @property
    def primary(self) -> SandboxServer:
        return self.servers[0]

    @property
    def replicas(self) -> tuple[SandboxServer, ...]:
        return self.servers[1:]

    def server(self, name: str | SandboxServer) -> SandboxServer:
        wanted = name.name if isinstance(name, SandboxServer) else name
        for server in self.servers:
            if server.name == wanted:
                return server
        raise SandboxError(f"no server {wanted!r} in this sandbox ({self._names()})")

    def _names(self) -> str:
        return ", ".join(server.name for server in self.servers)

    @property
    def config_path(self) -> Path:
        return self.dir / CONFIG_FILE

    @property
    def proxy_port(self) -> int:
        return self.spec.proxy_port

    @property
    def tls_files(self) -> tls.TlsFiles:
        return tls.TlsFiles.in_dir(self.dir / "tls")

    @property
    def tls_cert(self) -> Path:
        return self.tls_files.cert

    @property
    def tls_key(self) -> Path:
        return self.tls_files.key

    @property
    def tls_ca(self) -> Path:
        return self.tls_files.ca

    def _user(self, role: Role) -> str:
        return self.spec.account(role).user

    def _password(self, role: Role) -> str:
        return self.spec.account(role).password

    @property
    def app_user(self) -> str:
        return self._user(Role.APP)

    @property
    def app_password(self) -> str:
        return self._password(Role.APP)

    @property
    def admin_user(self) -> str:
        return self._user(Role.ADMIN)

    @property
    def admin_password(self) -> str:
        return self._password(Role.ADMIN)

    @property
    def monitor_user(self) -> str:
        return self._user(Role.MONITOR)

    @property
    def monitor_password(self) -> str:
        return self._password(Role.MONITOR)

    @property
    def service_user(self) -> str:
        return self._user(Role.SERVICE)

    @property
    def service_password(self) -> str:
        return self._password(Role.SERVICE)

    @property
    def repl_user(self) -> str:
        return self._user(Role.REPLICATION)

    @property
    def repl_password(self) -> str:
        return self._password(Role.REPLICATION)

    def params(
        self,
        name: str | SandboxServer | None = None,
        role: Role = Role.APP,
        database: str | None = "app",
    ) -> ConnParams:
        """How to reach a server (default: the primary) directly, as the account of ``role``."""
        server = self.server(name) if name is not None else self.primary
        account = self.spec.account(role)
        return ConnParams(server.host, server.port, account.user, account.password, database)

    def proxy_params(
        self, port: int | None = None, role: Role = Role.APP, database: str | None = "app"
    ) -> ConnParams:
        account = self.spec.account(role)
        return ConnParams(
            self.spec.host, port or self.proxy_port, account.user, account.password, database
        )

    def render_config(
        self,
        listener_port: int | None = None,
        tls: bool = True,
        overrides: interlock_cnf.Overrides | None = None,
        admin_port: int | None = None,
    ) -> str:
        return interlock_cnf.render(self, listener_port, tls, overrides, admin_port)

    # -- lifecycle ---------------------------------------------------------------------------

    def up(self, timeout: float = START_TIMEOUT) -> Sandbox:
        check_all()
        self._check_paths()
        self.dir.mkdir(parents=True, exist_ok=True)
        started_before = dict(self._procs)
        try:
            if self._initialized:
                self._start_stopped(self.servers, timeout)
            else:
                self._bootstrap(timeout)
            replication.wait_replicating(self.primary, self.replicas, REPLICATION_TIMEOUT)
        except BaseException:
            self._stop_started_since(started_before)  # leave no half-started cluster behind
            raise
        self._write_config()
        log.notice("sandbox in %s is up: %s", self.dir, self._summary())
        return self

    def down(self) -> None:
        """Stop every server cleanly (SIGTERM, all at once); the data stays."""
        running = [(s, process.signal_server(s, signal.SIGTERM)) for s in self.servers]
        for server, pid in running:
            proc = self._procs.pop(server.name, None)
            if pid is not None and not process.wait_gone(pid, server, START_TIMEOUT, proc):
                process.stop(server, proc, 0.0)
            process.reap(proc)

    def destroy(self) -> None:
        """Stop every server and delete the sandbox directory."""
        self.down()
        if (self.dir / SPEC_FILE).exists() or not self.dir.exists() or not any(self.dir.iterdir()):
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            raise SandboxError(f"{self.dir} does not look like a sandbox; not deleting it")

    def start(self, name: str | SandboxServer, timeout: float = START_TIMEOUT) -> None:
        """Start one stopped server and wait until it accepts connections."""
        self._start_stopped([self.server(name)], timeout)

    def stop(self, name: str | SandboxServer, timeout: float = START_TIMEOUT) -> None:
        """Shut one server down cleanly."""
        server = self.server(name)
        process.stop(server, self._procs.pop(server.name, None), timeout)

    def kill(self, name: str | SandboxServer, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to a server; for SIGKILL/SIGTERM, wait until the process is gone."""
        server = self.server(name)
        pid = process.signal_server(server, sig)
        if pid is None:
            raise SandboxError(f"{server.name} is not running")
        if sig in (signal.SIGKILL, signal.SIGTERM):
            proc = self._procs.pop(server.name, None)
            process.wait_gone(pid, server, START_TIMEOUT, proc)
            process.reap(proc)

    def is_running(self, name: str | SandboxServer) -> bool:
        return process.running_pid(self.server(name)) is not None

    # -- SQL ---------------------------------------------------------------------------------

    def sql(self, name: str | SandboxServer, statement: str) -> list[dict[str, str]]:
        """Run SQL as root on the server's socket; rows of the last result as dicts of str."""
        return sqlcli.query(self.server(name), statement)

    def connect(
        self,
        name: str | SandboxServer | None = None,
        role: Role = Role.ADMIN,
        database: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """A PyMySQL connection (PyMySQL is a dev dependency, imported only here)."""
        import pymysql  # type: ignore[import-untyped]

        params = self.params(name, role, database)
        return pymysql.connect(**params.pymysql_kwargs(), **kwargs)

    def status(self) -> list[ServerStatus]:
        return [self._server_status(server) for server in self.servers]

    def _server_status(self, server: SandboxServer) -> ServerStatus:
        pid = process.running_pid(server)
        role = "primary" if server.is_primary else "replica"
        if pid is None:
            return ServerStatus(server.name, server.port, role, None, False, "-", "")
        try:
            gtid = sqlcli.scalar(server, "SELECT @@GLOBAL.gtid_current_pos") or ""
            state = None if server.is_primary else replication.replica_state(server)
        except SandboxError as exc:
            return ServerStatus(server.name, server.port, role, pid, True, str(exc), "")
        repl = "-" if state is None else f"IO={state.io_running} SQL={state.sql_running}"
        if state is not None and state.error:
            repl = f"{repl} ({state.error})"
        return ServerStatus(server.name, server.port, role, pid, True, repl, gtid)

    # -- internals ---------------------------------------------------------------------------

    def _summary(self) -> str:
        return ", ".join(
            f"{s.name} 127.0.0.1:{s.port} ({'primary' if s.is_primary else 'replica'})"
            for s in self.servers
        )

    def _save(self) -> None:
        (self.dir / SPEC_FILE).write_text(self.spec.to_json(self._initialized))

    def _write_config(self) -> None:
        # the demo's config: the admin API on MaxScale's port when it is free
        admin = DEFAULT_ADMIN_PORT if port_is_free(DEFAULT_ADMIN_PORT, self.spec.host) else None
        self.config_path.write_text(self.render_config(admin_port=admin))

    def _write_cnfs(self) -> None:
        files = tls.generate(self.dir / "tls")
        for server in self.servers:
            server.directory.mkdir(parents=True, exist_ok=True)
            server.cnf.write_text(mycnf.render(self.spec, server, files))

    def _stop_started_since(self, before: dict[str, subprocess.Popen[bytes]]) -> None:
        started = [name for name, proc in self._procs.items() if before.get(name) is not proc]
        for name in started:
            server = self.server(name)
            proc = self._procs.pop(name)
            if proc.poll() is None:
                process.stop(server, proc, 10.0)
                if proc.poll() is None:
                    proc.kill()
            process.reap(proc)

    def _check_paths(self) -> None:
        longest = max(len(str(server.socket)) for server in self.servers)
        if longest > MAX_SOCKET_PATH:
            raise SandboxError(
                f"the sandbox directory {self.dir} is too deep for unix socket paths"
                f" ({longest} > {MAX_SOCKET_PATH} characters); choose a shorter --dir"
            )

    def _check_ports(self, servers: Iterable[SandboxServer]) -> None:
        taken = taken_ports(server.port for server in servers)
        if taken:
            listed = ", ".join(str(port) for port in taken)
            raise SandboxError(
                f"port {listed} on 127.0.0.1 is already in use; stop what listens there or choose"
                f" other ports with --base-port (this sandbox needs {len(self.servers)} ports"
                f" from {self.spec.base_port})"
            )

    def _bootstrap(self, timeout: float) -> None:
        for server in self.servers:
            if process.running_pid(server) is not None:
                raise SandboxError(
                    f"{server.name} of a half-made sandbox still runs; "
                    f"run `interlock sandbox destroy --dir {self.dir}` first"
                )
        self._check_ports(self.servers)
        self._save()
        self._write_cnfs()
        installs = [(s, process.start_install_db(s)) for s in self.servers]
        for server, proc in installs:
            process.finish_install_db(server, proc, timeout)
        self._launch_and_wait(self.servers, timeout)
        self._setup_replication()
        self._initialized = True
        self._save()

    def _setup_replication(self) -> None:
        for server in self.servers:
            sqlcli.execute(server, accounts.LOCAL_ROOT_CLEANUP)
        setup = accounts.schema_sql()
        for account in self.spec.accounts:
            setup += accounts.account_sql(account)
        if self.spec.semi_sync:  # no replica is attached yet: do not wait for acks
            sqlcli.execute(self.primary, "SET GLOBAL rpl_semi_sync_master_enabled=0")
        sqlcli.execute(self.primary, ";\n".join(setup))
        change = replication.change_master_sql(self.primary, self.spec.account(Role.REPLICATION))
        for replica in self.replicas:
            sqlcli.execute(replica, change)
        replication.wait_threads_running(self.replicas, REPLICATION_TIMEOUT)
        if self.spec.semi_sync:
            sqlcli.execute(self.primary, "SET GLOBAL rpl_semi_sync_master_enabled=1")
            for replica in self.replicas:  # reconnect, now as semi-sync replicas
                sqlcli.execute(replica, "STOP SLAVE IO_THREAD; START SLAVE IO_THREAD")

    def _start_stopped(self, servers: Iterable[SandboxServer], timeout: float) -> None:
        stopped = [s for s in servers if process.running_pid(s) is None]
        self._check_ports(stopped)
        if stopped:
            self._write_cnfs()
        self._launch_and_wait(stopped, timeout)

    def _launch_and_wait(self, servers: Iterable[SandboxServer], timeout: float) -> None:
        pending = list(servers)
        for server in pending:  # launched from this thread: see process.launch(die_with_parent)
            self._procs[server.name] = process.launch(server, self.die_with_parent)
        deadline = time.monotonic() + timeout
        while pending:
            for server in list(pending):
                proc = self._procs[server.name]
                code = proc.poll()
                if code is not None:
                    raise process.startup_failure(server, code)
                if server.socket.exists() and sqlcli.can_connect(server):
                    pending.remove(server)
            if pending and time.monotonic() > deadline:
                names = ", ".join(server.name for server in pending)
                raise SandboxError(
                    f"{names} did not accept connections within {timeout:.0f}s;"
                    f" the end of {pending[0].error_log}:\n" + process.tail(pending[0].error_log)
                )
            if pending:
                time.sleep(0.05)


def _settings(spec: SandboxSpec) -> tuple[int, int, int, bool]:
    return spec.replicas, spec.base_port, spec.proxy_port, spec.semi_sync


def _describe(spec: SandboxSpec) -> str:
    return (
        f"--replicas {spec.replicas} --base-port {spec.base_port} "
        f"--proxy-port {spec.proxy_port}{' --semi-sync' if spec.semi_sync else ''}"
    )
