"""The proxy's side of the shared configuration (``cluster=etcd``): start from the store,
commit runtime changes to it, apply everybody's changes from the watch.

- :func:`open_shared` (before the proxy is built): connects, bootstraps an empty store from
  the file or loads the store, and returns the configuration the proxy runs.  When etcd cannot
  be reached it starts from ``<datadir>/cluster-config.cache`` (:mod:`.config_cache`), the
  last snapshot this instance ran, which it writes after every load, commit and apply; such an
  instance is cut off (:meth:`SharedConfig.cut_off_detail`: no changes, no campaign for
  leadership) until its watch has read the store again.
- :meth:`SharedConfig.commit` (``admin.runtime_apply.Configurator``, under its lock): the
  compare-and-swap of a change; a conflict is HTTP 409, etcd out of reach 503; nothing is
  applied locally unless the commit succeeded.
- :meth:`SharedConfig.apply` (the watch, under the same lock): a snapshot newer than the one
  applied is validated by the loader and given to ``Proxy.reconfigure``.  The instance that
  made a change applied it right after its commit; the watch then sees a revision it already
  has and skips it, so every change is applied once per instance.  A snapshot this instance
  cannot apply (not valid here, or not changeable at runtime) is logged and left: its local
  changes then conflict (409) until a later revision applies, so it never commits edits made
  on a configuration older than the store's.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from interlock.admin.runtime_apply import ChangeRefused, configurator
from interlock.cluster.config_cache import (
    CachedConfig,
    cache_path,
    check_cache,
    read_cache,
    write_cache,
)
from interlock.cluster.config_store import (
    ConfigStore,
    Snapshot,
    StoreConflict,
    local_listeners,
    same_objects,
    shared_form,
    with_objects,
)
from interlock.cluster.errors import EtcdOutcomeUnknown, EtcdUnavailable
from interlock.cluster.etcd import EtcdClient
from interlock.cluster.transport import EtcdSettings
from interlock.config.diagnostics import ConfigFileError
from interlock.config.ini import IniSection
from interlock.config.layers import Layers
from interlock.config.loader import load_layers, validate
from interlock.config.model import Config, GlobalConfig
from interlock.config.runtime import Change, refusals
from interlock.errors import ClusterError, InterlockError
from interlock.log import get_logger

if TYPE_CHECKING:
    from interlock.server.app import Proxy

log = get_logger(__name__)

APPLY_RETRY = 1.0  # seconds: a monitor busy with a cluster operation, try again


def etcd_settings(g: GlobalConfig) -> EtcdSettings:
    """The etcd client settings of the ``[maxscale]`` section."""
    endpoints = tuple(e.strip() for e in (g.etcd_endpoints or "").split(",") if e.strip())
    if not endpoints:
        raise ClusterError("cluster=etcd needs etcd_endpoints")
    return EtcdSettings(
        endpoints, user=g.etcd_user, password=g.etcd_password,
        ca_file=_path(g.etcd_ssl_ca), cert_file=_path(g.etcd_ssl_cert),
        key_file=_path(g.etcd_ssl_key))


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def instance_name(g: GlobalConfig) -> str:
    return g.instance_name or f"{socket.gethostname()}:{g.admin_port}"


class SharedConfig:
    def __init__(self, store: ConfigStore, file_layers: Layers, snapshot: Snapshot) -> None:
        self.store = store
        self.file_layers = file_layers
        self.snapshot = snapshot  # what this instance runs
        self.layers = with_objects(file_layers, snapshot.sections.values())
        self.proxy: Proxy | None = None
        #: <datadir>/cluster-config.cache (None: not kept); see config_cache.py
        self.cache: Path | None = None
        #: the cache this instance started from while etcd was unreachable, until it has read
        #: the store again (cut off: no changes, no leadership)
        self.from_cache: CachedConfig | None = None
        self._may_lead: asyncio.Event | None = None
        self._cache_next: Snapshot | None = None
        self._cache_task: asyncio.Future[None] | None = None
        self._cache_error = ""

    @property
    def revision(self) -> int:
        return self.snapshot.config_revision

    # -- changes made here -------------------------------------------------------------------

    async def commit(self, change: Change) -> Snapshot:
        """Write the objects ``change`` touched, compared with the snapshot they were read
        from; raises AdminError 409 (conflict) or 503 (etcd out of reach)."""
        sections: dict[str, IniSection | None] = {}
        local = local_listeners(self.file_layers)
        for name, kind in change.touched:
            placed = change.layers.find(name)
            section = placed.section if placed is not None else None
            if section is not None and kind == "listener":
                try:  # this instance's own address and port never reach the store
                    section = shared_form(section, local.get(name),
                                          self.snapshot.sections.get(name))
                except ClusterError as exc:
                    raise ChangeRefused(409, (str(exc),)) from exc
            sections[name] = section
        try:
            return await self.store.commit(self.snapshot, sections)
        except StoreConflict as exc:
            raise ChangeRefused(409, (str(exc),)) from exc
        except EtcdOutcomeUnknown as exc:
            raise ChangeRefused(503, (f"etcd did not confirm the change ({exc}); if it was "
                                      "written every instance applies it when etcd answers; "
                                      "configuration changes are refused until then (routing "
                                      "goes on with the last configuration): check and "
                                      "retry",)) from exc
        except EtcdUnavailable as exc:
            raise ChangeRefused(503, (f"etcd is unreachable ({exc}): configuration changes are "
                                      "refused; routing goes on with the last configuration",)
                                ) from exc

    def committed(self, snapshot: Snapshot, layers: Layers) -> None:
        """The change committed as ``snapshot`` is applied (``layers``)."""
        self.snapshot = snapshot
        self.layers = layers
        self.remember(snapshot)

    # -- changes from the watch --------------------------------------------------------------

    def start(self, proxy: Proxy) -> None:
        """Watch the store; an instance started from its cache reads the whole store first
        (again every RETRY_DELAY until etcd answers) and applies it."""
        self.proxy = proxy
        self.store.current = self.snapshot
        self.store.start(self.apply, reload=self.from_cache is not None)

    async def stop(self) -> None:
        await self.store.stop()
        if self._cache_task is not None:  # the last snapshot applied is in the cache
            with contextlib.suppress(Exception):
                await self._cache_task

    # -- started from the cache --------------------------------------------------------------

    def hold_leadership(self, may_lead: asyncio.Event) -> None:
        """``may_lead`` (the membership's: its monitors campaign only while it is set) is
        cleared while this instance runs a configuration from its cache."""
        self._may_lead = may_lead
        if self.from_cache is not None:
            may_lead.clear()

    def cut_off_detail(self) -> str | None:
        """Why this instance is cut off while it runs its cached configuration (None: it has
        read the store)."""
        cached = self.from_cache
        if cached is None:
            return None
        return (f"cut off from etcd: started from the cached configuration revision "
                f"{cached.snapshot.config_revision} (written at {_when(cached.written_at)}, "
                f"{self.cache}) because etcd was unreachable; configuration changes are refused "
                "and this instance does not lead until etcd answers")

    def _caught_up(self, snapshot: Snapshot) -> None:
        """The watch read the store for the first time since a start from the cache."""
        cached = self.from_cache
        if cached is None:
            return
        if not snapshot.bootstrapped:
            log.error("etcd answers, but the configuration store %sconfig/ is empty (not "
                      "bootstrapped): this instance keeps running its cached revision %d and "
                      "stays cut off", self.store.prefix.decode(),
                      cached.snapshot.config_revision)
            return
        self.from_cache = None
        if (snapshot.config_revision >= self.snapshot.config_revision
                and same_objects(snapshot, self.snapshot)):
            self.snapshot = snapshot  # what runs is the store's: its revisions, for commits
            self.remember(snapshot)
        if self._may_lead is not None:
            self._may_lead.set()
        log.notice("etcd answers again: the shared configuration is read from etcd (revision "
                   "%d; this instance ran cached revision %d)", snapshot.config_revision,
                   cached.snapshot.config_revision)

    # -- the cache ---------------------------------------------------------------------------

    def remember(self, snapshot: Snapshot) -> None:
        """Write ``snapshot`` to the cache in the background (the latest one wins)."""
        if self.cache is None:
            return
        self._cache_next = snapshot
        if self._cache_task is None or self._cache_task.done():
            self._cache_task = asyncio.ensure_future(self._write_cache())

    async def _write_cache(self) -> None:
        while (snapshot := self._cache_next) is not None:
            self._cache_next = None
            await asyncio.to_thread(self.write_cache_now, snapshot)

    def write_cache_now(self, snapshot: Snapshot) -> None:
        """Write ``snapshot`` to the cache (blocking); a failure is logged (once while it
        lasts), never raised: the cache only matters when etcd is down at the next start."""
        if self.cache is None:
            return
        settings = self.store.client.settings
        cached = CachedConfig(self.store.prefix.decode(), settings.endpoints,
                              self.store.instance, time.time(), snapshot)
        try:
            write_cache(self.cache, cached)
        except OSError as exc:
            message = f"{self.cache}: {exc.strerror or exc}"
            if message != self._cache_error:
                log.error("Cannot write the configuration cache %s; an instance that starts "
                          "while etcd is unreachable cannot use it", message)
            self._cache_error = message
        else:
            if self._cache_error:
                log.notice("Configuration cache %s written again", self.cache)
            self._cache_error = ""

    async def apply(self, snapshot: Snapshot) -> None:
        assert self.proxy is not None
        proxy = self.proxy
        self._caught_up(snapshot)
        while True:
            async with configurator(proxy).lock:
                if not newer(snapshot, self.snapshot):
                    if snapshot.config_revision > self.snapshot.config_revision:
                        # the same objects at a later revision (changed and changed back
                        # between two reads): take its revisions, which the next commit
                        # compares, or every change made here would conflict from now on
                        self.snapshot = snapshot
                        self.remember(snapshot)
                    return  # applied already (our own commit, or a newer snapshot)
                prepared = self._apply_now(snapshot)
                if prepared is None:
                    return
                layers, new = prepared
                try:
                    await proxy.reconfigure(new)
                except TimeoutError:
                    pass
                except InterlockError as exc:  # a listener's port taken on this host, say
                    log.error("Shared configuration revision %d cannot be applied here: %s",
                              snapshot.config_revision, exc)
                    return
                else:
                    self.snapshot, self.layers = snapshot, layers
                    configurator(proxy).layers = layers
                    log.notice("Shared configuration revision %d applied",
                               snapshot.config_revision)
                    self.remember(snapshot)
                    return
            log.notice("A monitor is running a cluster operation; applying revision %d in %gs",
                       snapshot.config_revision, APPLY_RETRY)
            await asyncio.sleep(APPLY_RETRY)

    def _apply_now(self, snapshot: Snapshot) -> tuple[Layers, Config] | None:
        assert self.proxy is not None
        layers = with_objects(self.file_layers, snapshot.sections.values())
        try:
            new = validate(layers)
        except ConfigFileError as exc:
            log.error("Shared configuration revision %d is not valid here, not applied: %s",
                      snapshot.config_revision, "; ".join(exc.errors))
            return None
        problems = refusals(self.proxy.config, new)
        if problems:
            log.error("Shared configuration revision %d cannot be applied at runtime: %s",
                      snapshot.config_revision, "; ".join(problems))
            return None
        return layers, new


def newer(snapshot: Snapshot, current: Snapshot) -> bool:
    """``snapshot`` has something ``current`` does not: a later configuration revision (or an
    object edited in etcd directly), and objects that differ.  Store revisions are not
    compared: other keys (the monitor's leadership) move them too."""
    return (snapshot.config_revision >= current.config_revision
            and not same_objects(snapshot, current))


async def open_shared(config: Config) -> tuple[SharedConfig, Config]:
    """Connect to etcd, bootstrap or load the shared configuration; the configuration to run
    (the file's global section, the store's objects), also written to the cache.  When etcd
    cannot be reached (within ``START_TIMEOUT``), the configuration of the cache
    (``<datadir>/cluster-config.cache``: the last one this instance ran), if there is a usable
    one: the instance is then cut off until the store is read again.  Raises ClusterError."""
    g = config.global_
    settings = etcd_settings(g)
    client = EtcdClient(settings)
    path = cache_path(g.datadir)
    try:
        file_layers = (await asyncio.to_thread(load_layers, config.path)).layers
        store = ConfigStore(client, g.etcd_prefix.encode(), instance_name(g))
        cached = None
        try:
            snapshot = await store.bootstrap(file_layers)
        except EtcdUnavailable as exc:
            cached = await asyncio.to_thread(_from_cache, path, g.etcd_prefix,
                                             settings.endpoints, exc)
            snapshot = cached.snapshot
        shared = SharedConfig(store, file_layers, snapshot)
        shared.cache, shared.from_cache = path, cached
        try:
            running = validate(shared.layers)
        except ConfigFileError as exc:
            where = (f"the cached configuration {path}" if cached is not None
                     else "the shared configuration in etcd")
            raise ClusterError(f"{where} is not valid here: " + "; ".join(exc.errors)) from exc
        if cached is None:
            await asyncio.to_thread(shared.write_cache_now, snapshot)
        else:
            log.warning("etcd is unreachable: starting from the cached configuration revision %d "
                        "written at %s (%s, %d object(s)); this instance is cut off: it refuses "
                        "configuration changes and does not lead until etcd answers, then it "
                        "catches up", snapshot.config_revision, _when(cached.written_at), path,
                        len(snapshot.sections))
    except BaseException:
        await client.close()
        raise
    return shared, running


def _from_cache(path: Path, prefix: str, endpoints: tuple[str, ...],
                why: EtcdUnavailable) -> CachedConfig:
    """The usable cache at ``path`` (blocking), else ClusterError saying why not."""
    try:
        cached = read_cache(path)
        if cached is not None:
            check_cache(cached, prefix, endpoints, str(path))
    except ClusterError as exc:
        raise ClusterError(f"etcd is unreachable ({why}) and the configuration cache cannot be "
                           f"used: {exc}") from exc
    if cached is None:
        raise ClusterError(f"etcd is unreachable ({why}) and there is no cached configuration "
                           f"({path} does not exist): cannot start without a configuration it "
                           "can trust")
    return cached


def _when(wall: float) -> str:
    return datetime.fromtimestamp(wall).astimezone().isoformat(timespec="seconds")
