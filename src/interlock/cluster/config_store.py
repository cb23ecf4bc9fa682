"""The runtime configuration shared through etcd (``[maxscale] cluster=etcd``).

Layout under ``etcd_prefix`` (``/interlock/`` by default):

- ``config/objects/NAME``: one key per object (server, service, monitor) holding
  its section as INI text (``[NAME]`` + ``key=value`` lines), exactly what a persisted file
  would hold; the key's ``mod_revision`` is the object's revision.
- ``config/revision``: rewritten by every change (its value: the instance that made it).  Its
  ``mod_revision`` is the configuration's revision: a change is a transaction that compares it
  (and every object it writes) with what the instance read, so two concurrent edits cannot
  both succeed; the loser gets :class:`StoreConflict`.
- ``config/bootstrapped``: created, with ``config/revision``, by the last transaction of the
  bootstrap of an empty store.  Nobody loads or watches a store without it.
- ``config/bootstrapping``: the claim of the instance bootstrapping an empty store, under a
  short lease.  It is created only while neither key exists (two instances starting at once
  cannot both bootstrap; the second waits and loads what the first wrote), and it deletes what
  a bootstrap that died left under ``config/objects/``; the objects are then written in chunks
  (etcd limits the operations of one transaction), each only while the claim stands.

The global section (``[maxscale]``) is never in the store: global parameters are per
instance by design (its admin port, its datadir, the etcd endpoints themselves).  Listeners
are shared like the other objects, with one per-instance override: where an instance's own
file defines a listener of the same name, that file's ``address`` and ``port`` (the keys it
sets among :data:`LOCAL_LISTENER_KEYS`) win on that instance, so two instances on one host
can serve the same listener on different ports.  The override never reaches the store: a
change committed through that instance keeps the store's values of those keys, and a change
of an overridden key through it is refused (:func:`shared_form`).  The etcd revision is the
configuration's version: nothing depends on wall clocks, and a restarted instance simply
loads the current state.

The pure parts (keys, encoding, the merge with the file's global section) are functions at
the top; :class:`ConfigStore` does the I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from interlock.cluster.codec import (
    Compare,
    Delete,
    EventType,
    Get,
    KeyValue,
    Put,
    RangeResult,
    prefix_end,
)
from interlock.cluster.errors import EtcdUnavailable, WatchCompacted
from interlock.cluster.etcd import EtcdClient
from interlock.config.diagnostics import Diagnostics
from interlock.config.ini import IniEntry, IniSection, parse_ini
from interlock.config.layers import RUNTIME, Layers, Placed
from interlock.config.runtime import section_text
from interlock.config.tables import GLOBAL_SECTION
from interlock.errors import ClusterError
from interlock.log import get_logger

log = get_logger(__name__)

OBJECTS = b"config/objects/"
REVISION = b"config/revision"
BOOTSTRAPPED = b"config/bootstrapped"
#: the claim of the instance filling an empty store (under its lease; see bootstrap)
BOOTSTRAPPING = b"config/bootstrapping"
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
LOCAL_KINDS = frozenset({GLOBAL_SECTION})
#: a listener's keys an instance's own file overrides (where this host binds)
LOCAL_LISTENER_KEYS = ("address", "port")


def shared_sections(layers: Layers) -> tuple[IniSection, ...]:
    """The objects of ``layers`` the store holds (servers, services, monitors, listeners)."""
    return tuple(p.section for p in layers.sections if p.kind not in LOCAL_KINDS)


def local_listeners(file_layers: Layers) -> dict[str, IniSection]:
    """The listeners of an instance's own file: its overrides of the shared ones."""
    return {p.name: p.section for p in file_layers.sections if p.kind == "listener"}


def overrides(local: IniSection | None) -> dict[str, str]:
    """The keys of :data:`LOCAL_LISTENER_KEYS` the file's listener ``local`` sets (none for
    a section that is not a listener)."""
    kind = local.get("type") if local is not None else None
    if local is None or kind is None or kind.value.strip().lower() != "listener":
        return {}
    return {key: entry.value.strip() for key in LOCAL_LISTENER_KEYS
            if (entry := local.get(key)) is not None}


def with_keys(section: IniSection, values: Mapping[str, str | None]) -> IniSection:
    """``section`` with ``values`` set in place (else appended) or removed (None)."""
    entries = [e for e in section.entries if not (e.key in values and values[e.key] is None)]
    present = {e.key for e in entries}
    entries = [IniEntry(e.key, values[e.key] or "", e.line) if e.key in values else e
               for e in entries]
    entries += [IniEntry(k, v, 0) for k, v in values.items() if v is not None and k not in present]
    return IniSection(section.name, section.line, tuple(entries))


def overridden(section: IniSection, local: IniSection | None) -> IniSection:
    """A shared listener as this instance runs it: its file's address and port win."""
    found = overrides(local)
    return with_keys(section, dict(found)) if found else section


def with_objects(file_layers: Layers, objects: Iterable[IniSection]) -> Layers:
    """The file's global section, then ``objects`` (from the store, attributed to
    :data:`RUNTIME`: they have no file), the listeners with this instance's overrides."""
    kept = tuple(p for p in file_layers.sections if p.kind in LOCAL_KINDS)
    local = local_listeners(file_layers)
    placed = tuple(Placed(overridden(s, local.get(s.name)), RUNTIME) for s in objects)
    return replace(file_layers, sections=kept + placed,
                   main_names=frozenset(p.name for p in kept))


def shared_form(section: IniSection, local: IniSection | None,
                stored: IniSection | None) -> IniSection:
    """What a listener changed through this instance is in the store: the overridden keys
    keep the store's values (``stored``: the listener in the store, None when it is new).
    Raises ClusterError when the change is to an overridden key itself."""
    found = overrides(local)
    if not found:
        return section
    changed = sorted(k for k, v in found.items()
                     if (e := section.get(k)) is None or e.value.strip() != v)
    if changed:
        many = len(changed) > 1
        raise ClusterError(
            f"listener '{section.name}': {' and '.join(changed)} on this instance "
            f"{'come' if many else 'comes'} from its own configuration file, which overrides "
            f"the shared value; change {'them' if many else 'it'} in that file (and restart), "
            "or change the shared value through an instance that does not override "
            f"{'them' if many else 'it'}")
    restored = {k: (e.value if stored is not None and (e := stored.get(k)) is not None
                    else None) for k in found}
    return with_keys(section, restored)


def differences(file_objects: Iterable[IniSection], stored: Iterable[IniSection]) -> list[str]:
    """Names of the objects the file defines differently from the store (or only one has);
    a listener's overridden keys are not differences."""
    def content(s: IniSection, skip: Iterable[str]) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((e.key, e.value.strip()) for e in s.entries if e.key not in skip))
    a = {s.name: s for s in file_objects}
    b = {s.name: s for s in stored}
    return sorted(n for n in a.keys() | b.keys() if n not in a or n not in b
                  or content(a[n], overrides(a[n])) != content(b[n], overrides(a[n])))


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

#: objects written per bootstrap transaction (etcd refuses a txn with more than
#: ``--max-txn-ops`` operations, 128 by default)
TXN_OPS = 100
CLAIM_TTL = 5  # seconds: the lease of a bootstrap claim (a claimer that dies frees it then)
CLAIM_WAIT = 60.0  # seconds: the longest wait for another instance's bootstrap
START_TIMEOUT = 5.0  # seconds: the first read at start (then: unreachable)
#: the prefix of BOOTSTRAPPED and BOOTSTRAPPING (watched while another instance bootstraps)
BOOTSTRAP_KEYS = b"config/bootstrap"

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """``items`` in consecutive runs of at most ``size`` (none for no items)."""
    if size < 1:
        raise ValueError("a chunk holds at least one item")
    return [items[i:i + size] for i in range(0, len(items), size)]


@dataclass(frozen=True, slots=True)
class _Attempt:
    """The outcome of one bootstrap attempt at store ``revision``: ``done`` (we bootstrapped
    it), ``bootstrapped`` (someone had), ``holder`` (another instance's claim stands); none of
    them: our claim was lost while we wrote."""

    revision: int
    done: bool = False
    bootstrapped: bool = False
    holder: str | None = None


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

    async def bootstrap(self, file_layers: Layers, *, timeout: float = START_TIMEOUT
                        ) -> Snapshot:
        """The store's configuration; an empty store first gets the file's objects
        (:meth:`_bootstrap`: claimed, written in chunks, then marked bootstrapped).  Raises
        EtcdUnavailable when etcd does not answer the first read within ``timeout`` seconds
        (or any later request: the caller may start from its cache then)."""
        try:
            snapshot = await asyncio.wait_for(self.load(), timeout)
        except TimeoutError as exc:
            raise EtcdUnavailable(f"no answer from etcd within {timeout:g}s") from exc
        file_objects = shared_sections(file_layers)
        if not snapshot.bootstrapped:
            revision = await self._bootstrap(file_objects)
            if revision is not None:
                log.notice("Configuration store %sconfig/ bootstrapped from %s with %d "
                           "object(s) (revision %d)", self.prefix.decode(), file_layers.main,
                           len(file_objects), revision)
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

    # -- bootstrap: claim, chunks, marker ------------------------------------------------------

    async def _bootstrap(self, objects: Sequence[IniSection]) -> int | None:
        """Fill the empty store with ``objects``: the revision of our final transaction, or
        None when another instance bootstrapped it.  While another instance holds the claim,
        wait (at most CLAIM_WAIT seconds in all) until it marks the store bootstrapped, or its
        claim disappears without that (it died: its lease expired), then try to claim it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLAIM_WAIT
        while True:
            attempt = await self._claim_and_fill(objects)
            if attempt.done or attempt.bootstrapped:
                return attempt.revision if attempt.done else None
            holder = attempt.holder
            if holder is None:  # our claim was lost while we wrote (our lease expired)
                log.warning("Bootstrapping the configuration store: this instance lost its "
                            "claim (%s) before it finished; trying again",
                            (self.prefix + BOOTSTRAPPING).decode())
            left = deadline - loop.time()
            if left <= 0:
                raise ClusterError(
                    f"the configuration store {self.prefix.decode()}config/ is still not "
                    f"bootstrapped after {CLAIM_WAIT:g}s"
                    + (f" (instance '{holder}' claims it)" if holder else ""))
            if holder is None:
                continue
            log.notice("Instance '%s' is bootstrapping the configuration store; waiting for it",
                       holder)
            try:
                finished = await asyncio.wait_for(self._claim_outcome(attempt.revision), left)
            except TimeoutError:
                raise ClusterError(
                    f"instance '{holder}' has been bootstrapping the configuration store "
                    f"{self.prefix.decode()}config/ for more than {CLAIM_WAIT:g}s") from None
            if finished:
                return None
            log.warning("Instance '%s' stopped bootstrapping the configuration store before it "
                        "finished (its claim expired); trying to bootstrap it", holder)

    async def _claim_and_fill(self, objects: Sequence[IniSection]) -> _Attempt:
        """One attempt: claim the empty store (deleting what a bootstrap that died left under
        ``config/objects/``), write ``objects`` in chunks of TXN_OPS, each only while our claim
        stands, then mark the store bootstrapped and drop the claim in one transaction."""
        claim = self.prefix + BOOTSTRAPPING
        marker = self.prefix + BOOTSTRAPPED
        keeper = await self.client.lease_keeper(CLAIM_TTL)
        try:
            result = await self.client.txn(
                [Compare.create(marker, 0), Compare.create(claim, 0)],
                [Put(claim, self.instance.encode(), lease=keeper.lease.id),
                 Delete(self.prefix + OBJECTS, prefix_end(self.prefix + OBJECTS))],
                [Get(marker), Get(claim)])
            if not result.succeeded:
                found = [r.kvs[0] if isinstance(r, RangeResult) and r.kvs else None
                         for r in result.responses]
                if found and found[0] is not None:
                    return _Attempt(result.revision, bootstrapped=True)
                holder = found[1] if len(found) > 1 else None
                return _Attempt(result.revision, holder=(
                    holder.value.decode(errors="replace") if holder is not None else "?"))
            mine = [Compare.create(claim, result.revision)]  # our claim, still there
            for chunk in chunks(objects, TXN_OPS):
                written = await self.client.txn(mine, [
                    Put(object_key(self.prefix, s.name), encode_section(s)) for s in chunk])
                if not written.succeeded:
                    return _Attempt(written.revision)
            final = await self.client.txn(mine, [Put(marker, self.instance.encode()),
                                                 Put(self.prefix + REVISION,
                                                     self.instance.encode()),
                                                 Delete(claim)])
            return _Attempt(final.revision, done=final.succeeded)
        finally:
            await keeper.stop()
            with contextlib.suppress(ClusterError):
                await self.client.revoke(keeper.lease.id)

    async def _claim_outcome(self, revision: int) -> bool:
        """After ``revision``: True when the store gets marked bootstrapped, False when the
        claim is deleted without that (its holder's lease expired)."""
        marker, claim = self.prefix + BOOTSTRAPPED, self.prefix + BOOTSTRAPPING
        try:
            async with self.client.watch_prefix(self.prefix + BOOTSTRAP_KEYS,
                                                start_revision=revision + 1) as watch:
                async for batch in watch:
                    events = [(e.type, e.kv.key) for e in batch.events]
                    if any(t != EventType.DELETE and k == marker for t, k in events):
                        return True
                    if (EventType.DELETE, claim) in events:
                        return False
        except WatchCompacted:
            return False  # look again (the next claim attempt says what is there)
        return False  # pragma: no cover - a watch does not end by itself

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

    def start(self, apply: Apply, *, reload: bool = False) -> None:
        """Watch the store and ``apply`` its changes; ``reload``: read the whole prefix first
        (and again until etcd answers), for an instance that started from its cache."""
        self._task = asyncio.ensure_future(self._watch(apply, reload))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.client.close()

    async def _watch(self, apply: Apply, reload: bool = False) -> None:
        """Apply every change of ``config/`` after the one applied last; on compaction (or
        a failure to apply) reload the whole prefix.  etcd out of reach: try again every
        RETRY_DELAY from where it stopped (nothing is lost; routing goes on meanwhile)."""
        assert self.current is not None
        start = self.current.revision + 1
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
