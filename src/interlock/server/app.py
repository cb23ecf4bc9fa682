"""The proxy process: services and listeners built from a :class:`Config`, start and stop.

Startup: every ``type=monitor`` section gets a :class:`MonitorRuntime` publishing into its own
:class:`TopologySource`; a service whose servers one monitor covers reads that source (else
static roles from the config).  The monitors run their first tick (so roles are real before a
client connects), then for every service the proxy connects to its primary with the service
user, logs the server's version string and loads the user accounts (an unreachable primary is
logged and retried when a client logs in); then every listener opens.

SIGINT/SIGTERM stop the proxy gracefully (:meth:`Proxy.stop`): the listeners and the admin
listener close (new connections are refused), idle sessions and logins in progress are closed
at once, a session running a statement is closed as soon as its answer is complete, for at most
``shutdown_timeout`` (then every session left is closed); then the monitors stop and the process
exits 0.  A second signal skips what is left of the wait.

``POST /v1/maxscale/tls/reload`` (:meth:`Proxy.reload_tls`) loads every TLS certificate again:
listeners', backends' and the admin listener's; new connections use them, established ones keep
theirs.  Nothing changes unless every file loads.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import signal
import ssl
import sys
import time
from typing import TYPE_CHECKING

from interlock import __version__
from interlock.admin.http import AdminServer
from interlock.admin.metrics import LoopLag
from interlock.cluster.leadership import ClusterMembership
from interlock.config.model import (
    Config,
    ListenerConfig,
    MonitorConfig,
    ServerConfig,
    ServiceConfig,
)
from interlock.errors import InterlockError
from interlock.log import get_logger, reopen
from interlock.monitor.executor import WriteGate
from interlock.monitor.loop import MonitorRuntime
from interlock.server import backend, tls
from interlock.server.client import ClientConnection, ListenerContext
from interlock.server.listener_set import ListenerSet, Prepared
from interlock.server.registry import SessionRegistry
from interlock.server.service import ServiceRuntime
from interlock.server.topology_source import TopologySource, static_topology

if TYPE_CHECKING:
    from interlock.cluster.registry import InstanceRegistry
    from interlock.cluster.shared_config import SharedConfig

log = get_logger(__name__)

STOP_GRACE = 5.0
DRAIN_POLL = 0.02  # seconds between looks at the sessions still running a statement
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
        self.listener_set = ListenerSet()
        self.admin: AdminServer | None = None
        self.shared_config: SharedConfig | None = None  # cluster=etcd (interlock.cluster)
        self.loop_lag = LoopLag()
        self._stopped = asyncio.Event()
        self._hurry = asyncio.Event()  # a second stop signal: no more waiting for statements
        self._tasks: list[asyncio.Task[None]] = []
        #: cluster=etcd: monitor leadership through etcd (interlock.cluster.leadership)
        self.membership: ClusterMembership | None = None
        #: cluster=etcd: this instance's entry in <prefix>instances/ (interlock.cluster.registry)
        self.instance_registry: InstanceRegistry | None = None

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
        if self.config.global_.cluster == "etcd":
            self._join_cluster()
        await asyncio.gather(*(monitor.start() for monitor in self.monitors.values()))
        await asyncio.gather(
            *(self._log_version(server) for server in self.config.servers.values()),
            *(svc.accounts.load() for svc in self.services.values()),
        )
        if self.config.global_.admin_enabled:  # before the listeners: up once they answer
            self.admin = AdminServer(self)
            await self.admin.start()
        await self.listener_set.apply(self.listener_set.prepare(self.config.listeners),
                                      self._listener_context)
        interval = self.config.global_.users_refresh_interval
        if interval > 0:
            self._tasks.append(asyncio.ensure_future(self._refresh_accounts(interval)))
        self._tasks.append(asyncio.ensure_future(self.loop_lag.run()))
        if self.membership is not None:
            self._register()
        log.notice("Interlock started with %d listener(s)", len(self.listener_set))

    def _listener_context(self, cfg: ListenerConfig, context: ssl.SSLContext | None
                          ) -> ListenerContext:
        return ListenerContext(listener=cfg, service=self.services[cfg.service],
                               registry=self.registry, tls=context)

    def _register(self) -> None:
        """cluster=etcd: keep this instance's registry entry (``ctl cluster status``)."""
        from interlock.admin.resources.cluster import instance_document
        from interlock.cluster.registry import InstanceRegistry
        assert self.membership is not None
        started = self.admin.ctx.started if self.admin is not None else time.time()
        self.instance_registry = InstanceRegistry(
            self.membership.client, self.membership.prefix, self.membership.instance,
            self.membership.ttl, lambda: instance_document(self, started))
        self.instance_registry.start()

    def _join_cluster(self) -> None:
        """cluster=etcd: every monitor campaigns for its leadership and follows the leader's
        published topology (before the first tick: nobody acts before it leads)."""
        self.membership = ClusterMembership(self.config.global_)
        if self.shared_config is not None:  # started from its cache: no campaign until read
            self.shared_config.hold_leadership(self.membership.may_lead)
        for name, monitor in self.monitors.items():
            self._lead(monitor, name)
        self.membership.start()

    def _lead(self, monitor: MonitorRuntime, name: str) -> None:
        if self.membership is None:
            return
        leadership = self.membership.for_monitor(name)
        leadership.on_topology = monitor.follow
        monitor.leadership = leadership

    def cluster_ok(self) -> tuple[bool, str]:
        """Whether this instance is in touch with its cluster store (the health check)."""
        if self.membership is None:
            return True, "no cluster store configured"
        cached = self.shared_config.cut_off_detail() if self.shared_config is not None else None
        return (False, cached) if cached is not None else self.membership.cluster_ok()

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
        elif not self._hurry.is_set():
            log.notice("Shutting down now: running statements are not waited for")
            self._hurry.set()

    async def wait(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        """Stop accepting, let running statements finish (``shutdown_timeout``), close every
        session, stop the monitors."""
        for task in self._tasks:
            task.cancel()
        self.listener_set.close()
        # the admin listener closes at once too; its cleanup waits for requests in progress
        # (an operation, say) while the sessions drain, not before
        stopping = [self._drain(self.config.global_.shutdown_timeout)]
        if self.admin is not None:
            stopping.append(self.admin.stop())
        await asyncio.gather(*stopping)
        if self.instance_registry is not None:
            await self.instance_registry.stop()
        for monitor in self.monitors.values():
            await monitor.stop()
        if self.membership is not None:
            await self.membership.stop()
        for server in self.listener_set.servers():
            try:
                await asyncio.wait_for(server.wait_closed(), STOP_GRACE)
            except TimeoutError:
                log.warning("Some connections did not close within %gs", STOP_GRACE)
        log.notice("Interlock stopped")

    async def _drain(self, timeout: float) -> None:
        """Close sessions as they become idle; after ``timeout`` (or a second signal) close
        the rest."""
        running = self._close_idle()
        if running and timeout > 0 and not self._hurry.is_set():
            log.notice("Waiting up to %gs for %d running statement(s)", timeout, running)
            deadline = time.monotonic() + timeout
            while running and not self._hurry.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), min(DRAIN_POLL, left))
                running = self._close_idle()
        if running:
            log.warning("Closing %d session(s) whose statement did not finish in time", running)
        for client in self.registry.values():
            if client.session is not None:
                client.session.close()
            else:
                client.close()

    def _close_idle(self) -> int:
        """Close clients logging in and sessions not running a statement; how many are left."""
        running = 0
        for client in self.registry.values():
            session = client.session
            if session is None:
                client.close()
            elif session.closed:
                continue
            elif session.in_flight():
                running += 1
            else:
                session.close()
        return running

    def reload_tls(self) -> str:
        """Load every TLS certificate and key again (listeners, backends, the admin listener);
        connections made from now on use them.  Every file is loaded before anything changes:
        one that does not load raises (:class:`tls.TlsSetupError`, or ``AdminError`` for the
        admin listener's) and nothing changes.  Returns what was reloaded, for the log."""
        listeners = [(item.context, tls.server_context(item.config.tls))
                     for item in self.listener_set if item.context.tls is not None]
        backends: dict[str, ssl.SSLContext | None] = {
            name: tls.client_context(server.tls) if server.tls.enabled else None
            for name, server in self.config.servers.items()}
        admin = self.admin is not None and self.admin.reload_tls()  # checked before it changes
        for ctx, context in listeners:
            ctx.tls = context
        for service in self.services.values():
            service.replace_tls(backends)
        servers = sum(1 for context in backends.values() if context is not None)
        what = (f"{len(listeners)} listener(s), {servers} backend server(s)"
                + (", the admin listener" if admin else ""))
        log.notice("TLS certificates reloaded: %s", what)
        return what

    async def reconfigure(self, new: Config, listeners: Prepared | None = None) -> None:
        """Apply a validated runtime change (``interlock.admin.runtime_apply``, which checked
        ``config.runtime.refusals``: the global section, routers and which monitor a service
        routes by do not change).  Servers, services, monitors and listeners are added, changed
        or removed: new sessions, new connections and the next probes use the new values;
        running sessions keep their settings and connections.

        ``listeners``: the change's listeners, prepared by :meth:`prepare_listeners` (else
        prepared here, first).  Raises, before changing anything, ListenerError or
        TlsSetupError (a listener cannot open here), or TimeoutError when a monitor to change
        is running a cluster operation (the prepared listeners are released then)."""
        if listeners is None:
            listeners = self.prepare_listeners(new)
        old = self.config
        changed = [name for name, mon in new.monitors.items() if name in self.monitors
                   and _changed(old, new, old.monitors.get(name), mon)]
        try:
            async with contextlib.AsyncExitStack() as stack:
                for name in changed:
                    await stack.enter_async_context(self.monitors[name].exclusive())
                self.config = new
                stale = [link for name in changed for link in
                         self.monitors[name].reconfigure(new.monitors[name], new.servers)]
        except TimeoutError:
            listeners.release()
            raise
        for link in stale:
            await link.close()
        for name in old.monitors.keys() - new.monitors.keys():
            await self.monitors.pop(name).stop()
            if self.membership is not None and name in self.membership.monitors:
                await self.membership.monitors.pop(name).stop()  # resigns its leadership
        for name in new.monitors.keys() - old.monitors.keys():
            monitor = MonitorRuntime(new.monitors[name], new.servers,
                                     _source_for(new.monitors[name]))
            self.monitors[name] = monitor
            self._lead(monitor, name)
            if self.membership is not None:
                self.membership.monitors[name].start()
            await monitor.start()
        for name in old.services.keys() - new.services.keys():
            del self.services[name]  # its running sessions keep the object
        for name, svc in new.services.items():
            await self._reconfigure_service(name, svc, old)
        await self.listener_set.apply(listeners, self._listener_context)

    def prepare_listeners(self, new: Config) -> Prepared:
        """Bind the sockets and load the TLS contexts the listeners of ``new`` need (see
        :mod:`interlock.server.listener_set`); raises ListenerError or TlsSetupError with
        nothing bound."""
        return self.listener_set.prepare(new.listeners)

    async def _reconfigure_service(self, name: str, svc: ServiceConfig, old: Config) -> None:
        service = self.services.get(name)
        new = self.config
        if service is None:
            service = ServiceRuntime(svc, new.servers, new.global_,
                                     topology=self._monitor_source(svc))
            self.services[name] = service
            service.write_gate = self.write_gate(name)
            await service.accounts.load()
            return
        if not _changed(old, new, old.services.get(name), svc):
            return
        reload = service.reconfigure(svc, new.servers)
        if self._monitor_source(svc) is None:  # static roles: from the new server list
            service.topology.publish(static_topology(
                (s.name for s in service.servers),
                weights={s.name: s.weight for s in service.servers}))
        service.write_gate = self.write_gate(name)
        if reload:
            await service.accounts.load()


def _changed(old: Config, new: Config, before: MonitorConfig | ServiceConfig | None,
             after: MonitorConfig | ServiceConfig) -> bool:
    """The object's section changed, or the section of one of its servers did."""
    return before != after or any(old.servers.get(n) != new.servers.get(n)
                                  for n in after.servers)


def _covers(monitor: MonitorConfig, service: ServiceConfig) -> bool:
    return bool(service.servers) and set(service.servers) <= set(monitor.servers)


def _source_for(monitor: MonitorConfig) -> TopologySource:
    """The monitor's topology source; until its first tick, the config's static roles."""
    return TopologySource(monitor.name, static_topology(monitor.servers))


async def serve(config: Config) -> int:
    loop = asyncio.get_running_loop()
    shared = None
    if config.global_.cluster == "etcd":  # the objects come from etcd (docs/cluster.md)
        from interlock.cluster.shared_config import open_shared
        try:
            shared, config = await open_shared(config)
        except InterlockError as exc:
            log.error("Shared configuration: %s", exc)
            return 1
    proxy = Proxy(config)
    proxy.shared_config = shared
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, proxy.request_stop)
    loop.add_signal_handler(signal.SIGUSR1, reopen)  # log rotation: reopen the log file
    try:
        await proxy.start()
    except InterlockError as exc:
        log.error("%s", exc)
        await proxy.stop()
        if shared is not None:
            await shared.stop()
        return 1
    if shared is not None:
        shared.start(proxy)
    await proxy.wait()
    if shared is not None:
        await shared.stop()
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
