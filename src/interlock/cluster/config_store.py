"""The runtime configuration shared through etcd (``[maxscale] cluster=etcd``).

Layout under ``etcd_prefix`` (``/interlock/`` by default):

- ``config/objects/NAME``: one key per object (server, service, monitor) holding
  its section as INI text (``[NAME]`` + ``key=value`` lines), exactly what a persisted file
  would hold; the key's ``mod_revision`` is the object's revision.
- ``config/revision``: rewritten by every change (its value: the instance that made it).  Its
  ``mod_revision`` is the configuration's revision: a change is a transaction that compares it
  (and every object it writes) with what the instance read, so two concurrent edits cannot
  both succeed; the loser gets :class:`StoreConflict`.
- ``config/bootstrapped``: created, with the static file's objects, by the one transaction
  that bootstraps an empty store (``create_revision == 0``): two instances starting at once
  cannot both bootstrap; the second loads what the first wrote.

The global section (``[maxscale]``) and the listeners are never in the store: they stay per
instance, in its file.  Global parameters are per instance by design; a listener is where
this process binds (address, port, socket, TLS files on this host), which two instances on
one host cannot share, and Interlock changes no listener at runtime anyway.  The etcd
revision is the configuration's version: nothing depends on wall clocks, and a restarted
instance simply loads the current state.

The pure parts (keys, encoding, the merge with the file's global section) are functions at
the top; :class:`ConfigStore` does the I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from interlock.cluster.codec import Compare, Delete, EventType, KeyValue, Put
from interlock.cluster.errors import EtcdUnavailable, WatchCompacted
from interlock.cluster.etcd import EtcdClient
from interlock.config.diagnostics import Diagnostics
from interlock.config.ini import IniSection, parse_ini
from interlock.config.layers import RUNTIME, Layers, Placed
from interlock.config.runtime import section_text
from interlock.config.tables import GLOBAL_SECTION
from interlock.errors import ClusterError
from interlock.log import get_logger

log = get_logger(__name__)

OBJECTS = b"config/objects/"
REVISION = b"config/revision"
BOOTSTRAPPED = b"config/bootstrapped"
CONFIG = b"config/"
RETRY_DELAY = 1.0  # seconds between attempts to watch again / apply again


class StoreConflict(ClusterError):
    """The configuration changed in etcd since this instance read it."""

    def __init__(self, revision: int) -> None:
        super().__init__(f"the configuration changed meanwhile (revision {revision}); retry")
        self.revision = revision


# -- pure: keys, encoding, layers -----------------------------------------------------------


def object_key(prefix: bytes, name: str) -> bytes:
    return prefix + OBJECTS + name.encode()


def encode_section(section: IniSection) -> bytes:
    return section_text(section).encode()


def decode_object(prefix: bytes, kv: KeyValue) -> IniSection:
    """The section of an object key; raises ClusterError when it is not one valid section
    named like its key."""
    name = kv.key[len(prefix + OBJECTS):].decode()
    diag = Diagnostics(f"etcd key {kv.key.decode(errors='replace')}")
    sections = parse_ini(kv.value.decode(errors="replace"), diag)
    if len(sections) != 1 or sections[0].name != name or diag.errors:
        raise ClusterError(f"etcd key {kv.key.decode(errors='replace')} does not hold one "
                           f"section [{name}]")
    return sections[0]


#: the kinds of section that stay in each instance's file
LOCAL_KINDS = frozenset({GLOBAL_SECTION, "listener"})


def shared_sections(layers: Layers) -> tuple[IniSection, ...]:
    """The objects of ``layers`` the store holds (servers, services, monitors)."""
    return tuple(p.section for p in layers.sections if p.kind not in LOCAL_KINDS)


def with_objects(file_layers: Layers, objects: Iterable[IniSection]) -> Layers:
    """The file's global section and listeners, then ``objects`` (from the store,
    attributed to :data:`RUNTIME`: they have no file)."""
    kept = tuple(p for p in file_layers.sections if p.kind in LOCAL_KINDS)
    placed = tuple(Placed(s, RUNTIME) for s in objects)
    return replace(file_layers, sections=kept + placed,
                   main_names=frozenset(p.name for p in kept))


def differences(file_objects: Iterable[IniSection], stored: Iterable[IniSection]) -> list[str]:
    """Names of the objects the file defines differently from the store (or only one has)."""
    def content(s: IniSection) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((e.key, e.value.strip()) for e in s.entries))
    a = {s.name: content(s) for s in file_objects}
    b = {s.name: content(s) for s in stored}
    return sorted(n for n in a.keys() | b.keys() if a.get(n) != b.get(n))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The objects in the store at ``revision`` (name -> section, name -> mod_revision) and
    the configuration's revision (``config/revision``'s mod_revision; 0: never changed)."""

    revision: int
    config_revision: int
    bootstrapped: bool
    sections: Mapping[str, IniSection]
    mod_revisions: Mapping[str, int]


def same_objects(a: Snapshot, b: Snapshot) -> bool:
    """The same objects with the same parameters (line numbers and order aside)."""
    def content(s: IniSection) -> tuple[tuple[str, str], ...]:
        return tuple((e.key, e.value) for e in s.entries)
    return {n: content(s) for n, s in a.sections.items()} == {
        n: content(s) for n, s in b.sections.items()}


def snapshot_of(prefix: bytes, revision: int, kvs: Iterable[KeyValue]) -> Snapshot:
    sections: dict[str, IniSection] = {}
    mods: dict[str, int] = {}
    config_revision = 0
    bootstrapped = False
    for kv in kvs:
        if kv.key == prefix + REVISION:
            config_revision = kv.mod_revision
        elif kv.key == prefix + BOOTSTRAPPED:
            bootstrapped = True
        elif kv.key.startswith(prefix + OBJECTS):
            try:
                section = decode_object(prefix, kv)
            except ClusterError as exc:
                log.error("%s; ignored", exc)
                continue
            sections[section.name] = section
            mods[section.name] = kv.mod_revision
    return Snapshot(revision, config_revision, bootstrapped, sections, mods)


def committed(base: Snapshot, sections: Mapping[str, IniSection | None],
              revision: int) -> Snapshot:
    """``base`` after a commit of ``sections`` (None: destroyed) at ``revision``."""
    objects = dict(base.sections)
    mods = dict(base.mod_revisions)
    for name, section in sections.items():
        if section is None:
            objects.pop(name, None)
            mods.pop(name, None)
        else:
            objects[name] = section
            mods[name] = revision
    return Snapshot(revision, revision, True, objects, mods)


# -- I/O ------------------------------------------------------------------------------------


Apply = Callable[[Snapshot], Awaitable[None]]


class ConfigStore:
    """The configuration in etcd: bootstrap/load, compare-and-swap commits, the watch."""

    def __init__(self, client: EtcdClient, prefix: bytes, instance: str) -> None:
        self.client = client
        self.prefix = prefix
        self.instance = instance
        self.current: Snapshot | None = None  # what this instance applied last
        self._task: asyncio.Task[None] | None = None

    async def load(self) -> Snapshot:
        result = await self.client.get_prefix(self.prefix + CONFIG)
        return snapshot_of(self.prefix, result.revision, result.kvs)

    async def bootstrap(self, file_layers: Layers) -> Snapshot:
        """The store's configuration; an empty store first gets the file's objects, in one
        transaction that only succeeds while it is still empty."""
        snapshot = await self.load()
        file_objects = shared_sections(file_layers)
        if not snapshot.bootstrapped:
            ops = [Put(object_key(self.prefix, s.name), encode_section(s)) for s in file_objects]
            ops.append(Put(self.prefix + BOOTSTRAPPED, self.instance.encode()))
            ops.append(Put(self.prefix + REVISION, self.instance.encode()))
            result = await self.client.txn(
                [Compare.create(self.prefix + BOOTSTRAPPED, 0)], ops)
            if result.succeeded:
                log.notice("Configuration store %sconfig/ bootstrapped from %s with %d "
                           "object(s) (revision %d)", self.prefix.decode(), file_layers.main,
                           len(file_objects), result.revision)
            else:
                log.notice("Another instance bootstrapped the configuration store first; "
                           "loading it")
            snapshot = await self.load()
        else:
            changed = differences(file_objects, snapshot.sections.values())
            log.notice("Configuration loaded from etcd (%sconfig/, revision %d, %d object(s)); "
                       "the objects of %s were not used", self.prefix.decode(),
                       snapshot.config_revision, len(snapshot.sections), file_layers.main)
            if changed:
                log.warning("%s defines these objects differently from the shared "
                            "configuration, which wins: %s", file_layers.main, ", ".join(changed))
        self.current = snapshot
        return snapshot

    async def commit(self, base: Snapshot, sections: Mapping[str, IniSection | None]
                     ) -> Snapshot:
        """Write ``sections`` (None: destroy) if neither the configuration's revision nor any
        of these objects changed since ``base``; the store's state after it, or
        :class:`StoreConflict` (nothing written)."""
        key = self.prefix + REVISION
        compares = [Compare.mod(key, base.config_revision)]
        ops: list[Put | Delete] = [Put(key, self.instance.encode())]
        for name, section in sections.items():
            okey = object_key(self.prefix, name)
            compares.append(Compare.mod(okey, base.mod_revisions.get(name, 0)))
            ops.append(Delete(okey) if section is None else Put(okey, encode_section(section)))
        result = await self.client.txn(compares, ops)
        if not result.succeeded:
            latest = await self.client.get(key)
            raise StoreConflict(latest.mod_revision if latest else result.revision)
        return committed(base, sections, result.revision)

    # -- the watch --------------------------------------------------------------------------

    def start(self, apply: Apply) -> None:
        self._task = asyncio.ensure_future(self._watch(apply))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.client.close()

    async def _watch(self, apply: Apply) -> None:
        """Apply every change of ``config/`` after the one applied last; on compaction (or
        a failure to apply) reload the whole prefix.  etcd out of reach: try again every
        RETRY_DELAY from where it stopped (nothing is lost; routing goes on meanwhile)."""
        assert self.current is not None
        start = self.current.revision + 1
        reload = False
        while True:
            try:
                if reload:
                    snapshot = await self.load()
                    await apply(snapshot)
                    start, reload = snapshot.revision + 1, False
                async with self.client.watch_prefix(self.prefix + CONFIG,
                                                    start_revision=start) as watch:
                    async for batch in watch:
                        if any(e.type in (EventType.PUT, EventType.DELETE)
                               for e in batch.events):
                            await apply(await self._at_least(batch.revision))
                        start = batch.revision + 1
            except asyncio.CancelledError:
                raise
            except WatchCompacted as exc:
                log.warning("%s", exc)
                reload = True
            except EtcdUnavailable as exc:
                log.warning("Watching the shared configuration: etcd unreachable (%s); "
                            "routing goes on with the last configuration", exc)
                await asyncio.sleep(RETRY_DELAY)
            except Exception as exc:  # a bug must not end the watch: log, reload, go on
                log.error("Watching the shared configuration: %s: %s", type(exc).__name__, exc)
                reload = True
                await asyncio.sleep(RETRY_DELAY)

    async def _at_least(self, revision: int) -> Snapshot:
        """The whole configuration at ``revision`` or later (one read: the state is small,
        and applying whole snapshots cannot drift from the store)."""
        snapshot = await self.load()
        if snapshot.revision < revision:  # pragma: no cover - a linearizable read is newer
            raise ClusterError(f"read revision {snapshot.revision} < watched {revision}")
        return snapshot
