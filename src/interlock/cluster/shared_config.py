"""The proxy's side of the shared configuration (``cluster=etcd``): start from the store,
commit runtime changes to it, apply everybody's changes from the watch.

- :func:`open_shared` (before the proxy is built): connects, bootstraps an empty store from
  the file or loads the store, and returns the configuration the proxy runs.
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
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from interlock.admin.runtime_apply import ChangeRefused, configurator
from interlock.cluster.config_store import (
    ConfigStore,
    Snapshot,
    StoreConflict,
    same_objects,
    with_objects,
)
from interlock.cluster.errors import EtcdOutcomeUnknown, EtcdUnavailable
from interlock.cluster.etcd import EtcdClient
from interlock.cluster.transport import EtcdSettings
from interlock.config.diagnostics import ConfigFileError
from interlock.config.layers import Layers
from interlock.config.loader import load_layers, validate
from interlock.config.model import Config, GlobalConfig
from interlock.config.runtime import Change, refusals
from interlock.errors import ClusterError
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

    @property
    def revision(self) -> int:
        return self.snapshot.config_revision

    # -- changes made here -------------------------------------------------------------------

    async def commit(self, change: Change) -> Snapshot:
        """Write the objects ``change`` touched, compared with the snapshot they were read
        from; raises AdminError 409 (conflict) or 503 (etcd out of reach)."""
        sections = {}
        for name, _ in change.touched:
            placed = change.layers.find(name)
            sections[name] = placed.section if placed is not None else None
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

    # -- changes from the watch --------------------------------------------------------------

    def start(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.store.current = self.snapshot
        self.store.start(self.apply)

    async def stop(self) -> None:
        await self.store.stop()

    async def apply(self, snapshot: Snapshot) -> None:
        assert self.proxy is not None
        proxy = self.proxy
        while True:
            async with configurator(proxy).lock:
                if not newer(snapshot, self.snapshot):
                    return  # applied already (our own commit, or a newer snapshot)
                prepared = self._apply_now(snapshot)
                if prepared is None:
                    return
                layers, new = prepared
                try:
                    await proxy.reconfigure(new)
                except TimeoutError:
                    pass
                else:
                    self.snapshot, self.layers = snapshot, layers
                    configurator(proxy).layers = layers
                    log.notice("Shared configuration revision %d applied",
                               snapshot.config_revision)
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
    (the file's global section, the store's objects).  Raises ClusterError."""
    g = config.global_
    client = EtcdClient(etcd_settings(g))
    try:
        file_layers = (await asyncio.to_thread(load_layers, config.path)).layers
        store = ConfigStore(client, g.etcd_prefix.encode(), instance_name(g))
        snapshot = await store.bootstrap(file_layers)
        shared = SharedConfig(store, file_layers, snapshot)
        try:
            running = validate(shared.layers)
        except ConfigFileError as exc:
            raise ClusterError("the shared configuration in etcd is not valid here: "
                               + "; ".join(exc.errors)) from exc
    except BaseException:
        await client.close()
        raise
    return shared, running
