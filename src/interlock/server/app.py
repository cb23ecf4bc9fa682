"""The proxy process: services and listeners built from a :class:`Config`, start and stop.

Startup: every ``type=monitor`` section gets a :class:`MonitorRuntime` publishing into its own
:class:`TopologySource`; a service whose servers one monitor covers reads that source (else
static roles from the config).  The monitors run their first tick (so roles are real before a
client connects), then for every service the proxy connects to its primary with the service
user, logs the server's version string and loads the user accounts (an unreachable primary is
logged and retried when a client logs in); then every listener opens.  SIGINT/SIGTERM stop the
proxy gracefully: listeners close, sessions are closed, monitors stop, the process exits 0.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import signal
import sys

from interlock import __version__
from interlock.admin.http import AdminServer
from interlock.config.model import Config, MonitorConfig, ServerConfig, ServiceConfig
from interlock.errors import InterlockError
from interlock.log import get_logger, reopen
from interlock.monitor.executor import WriteGate
from interlock.monitor.loop import MonitorRuntime
from interlock.server import backend, tls
from interlock.server.client import ClientConnection, ListenerContext
from interlock.server.listener import open_listener
from interlock.server.registry import SessionRegistry
from interlock.server.service import ServiceRuntime
from interlock.server.topology_source import TopologySource, static_topology

log = get_logger(__name__)

STOP_GRACE = 5.0
VERSION_PROBE_TIMEOUT = 3.0


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when available, else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but stay usable without
        log.warning("uvloop is not installed; using asyncio's event loop")
        return asyncio.new_event_loop()
    log.notice("Event loop: uvloop %s", importlib.metadata.version("uvloop"))
    return uvloop.new_event_loop()


class Proxy:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.registry: SessionRegistry[ClientConnection] = SessionRegistry()
        self.monitors = {
            name: MonitorRuntime(mon, config.servers, _source_for(mon))
            for name, mon in config.monitors.items()
        }
        self.services = {
            name: ServiceRuntime(svc, config.servers, config.global_,
                                 topology=self._monitor_source(svc))
            for name, svc in config.services.items()
        }
        for name, service in self.services.items():
            service.write_gate = self.write_gate(name)
        self.listeners: list[asyncio.AbstractServer] = []
        self.admin: AdminServer | None = None
        self._stopped = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def monitor_of(self, service: str) -> MonitorRuntime | None:
        """The monitor whose topology ``service`` routes by (None: static roles)."""
        svc = self.config.services.get(service)
        if svc is None:
            return None
        return next((m for m in self.monitors.values() if _covers(m.config, svc)), None)

    def write_gate(self, service: str) -> WriteGate | None:
        """The switchover write hold of ``service``'s monitor: a session awaits
        ``gate.wait()`` while ``gate.held`` before sending a write (see docs/failover.md)."""
        monitor = self.monitor_of(service)
        return monitor.gate if monitor is not None else None

    def _monitor_source(self, svc: ServiceConfig) -> TopologySource | None:
        for monitor in self.monitors.values():
            if _covers(monitor.config, svc):
                return monitor.source
        return None

    async def start(self) -> None:
        log.notice("Interlock %s starting (config %s)", __version__, self.config.path)
        await asyncio.gather(*(monitor.start() for monitor in self.monitors.values()))
        await asyncio.gather(
            *(self._log_version(server) for server in self.config.servers.values()),
            *(svc.accounts.load() for svc in self.services.values()),
        )
        if self.config.global_.admin_enabled:  # before the listeners: up once they answer
            self.admin = AdminServer(self)
            await self.admin.start()
        for name, cfg in self.config.listeners.items():
            service = self.services[cfg.service]
            ctx = ListenerContext(
                listener=cfg,
                service=service,
                registry=self.registry,
                tls=tls.server_context(cfg.tls) if cfg.tls.enabled else None,
            )
            server = await open_listener(cfg, lambda ctx=ctx: ClientConnection(ctx))  # type: ignore[misc]
            self.listeners.append(server)
            log.notice(
                "Listener '%s' for service '%s' listening on [%s]:%d%s",
                name, cfg.service, cfg.address, cfg.port, " with TLS" if ctx.tls else "",
            )
        interval = self.config.global_.users_refresh_interval
        if interval > 0:
            self._tasks.append(asyncio.ensure_future(self._refresh_accounts(interval)))
        log.notice("Interlock started with %d listener(s)", len(self.listeners))

    async def _refresh_accounts(self, interval: float) -> None:
        """users_refresh_interval: reload every service's accounts periodically."""
        while True:
            await asyncio.sleep(interval)
            await asyncio.gather(*(svc.accounts.load() for svc in self.services.values()))

    async def _log_version(self, server: ServerConfig) -> None:
        address = f"'{server.name}' ({server.address}:{server.port})"
        try:
            version = await backend.probe_version(server, VERSION_PROBE_TIMEOUT)
        except (OSError, TimeoutError, InterlockError) as exc:
            reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            log.warning("Server %s is not reachable: %s", address, reason)
            return
        log.notice("Server %s version: %s", address, version)

    def request_stop(self) -> None:
        if not self._stopped.is_set():
            log.notice("Shutting down")
            self._stopped.set()

    async def wait(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.admin is not None:
            await self.admin.stop()
        for monitor in self.monitors.values():
            await monitor.stop()
        for server in self.listeners:
            server.close()
        for client in self.registry.values():
            if client.session is not None:
                client.session.close()
            else:
                client.close()
        for server in self.listeners:
            try:
                await asyncio.wait_for(server.wait_closed(), STOP_GRACE)
            except TimeoutError:
                log.warning("Some connections did not close within %gs", STOP_GRACE)
        log.notice("Interlock stopped")


def _covers(monitor: MonitorConfig, service: ServiceConfig) -> bool:
    return bool(service.servers) and set(service.servers) <= set(monitor.servers)


def _source_for(monitor: MonitorConfig) -> TopologySource:
    """The monitor's topology source; until its first tick, the config's static roles."""
    return TopologySource(monitor.name, static_topology(monitor.servers))


async def serve(config: Config) -> int:
    loop = asyncio.get_running_loop()
    proxy = Proxy(config)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, proxy.request_stop)
    loop.add_signal_handler(signal.SIGUSR1, reopen)  # log rotation: reopen the log file
    try:
        await proxy.start()
    except InterlockError as exc:
        log.error("%s", exc)
        await proxy.stop()
        return 1
    await proxy.wait()
    await proxy.stop()
    return 0


def run(config: Config) -> int:
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        try:
            return runner.run(serve(config))
        except KeyboardInterrupt:  # pragma: no cover - signal handlers normally catch it
            return 0


def main_error(message: str) -> int:
    print(f"interlock: {message}", file=sys.stderr)
    return 1
