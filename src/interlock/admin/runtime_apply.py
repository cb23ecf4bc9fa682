"""Runtime configuration changes (I/O): edit, validate, apply to the running proxy, save.

``configurator(proxy).change(what, *ops)`` runs one change at a time (per proxy):

1. the configuration as sections (:class:`~interlock.config.layers.Layers`): read again from the
   main file and ``persistdir`` at the first change and kept from then on; if the files no
   longer give the configuration the proxy runs (someone edited them since the start), every
   change is refused (409), so a runtime change never applies an edit half-way;
2. the ops edit the sections (:class:`~interlock.config.runtime.Edit`);
3. the loader validates the whole result (``loader.validate``): a bad value gets exactly the
   error the same line in a file gets (400, one ``errors`` entry per problem) and nothing
   changes;
4. ``runtime.refusals``: what the running proxy cannot take (403); then the listeners the
   change opens or moves get their sockets bound (``Proxy.prepare_listeners``): a port taken
   on this host refuses the change (409) before anything changed;
5. ``Proxy.reconfigure`` applies the difference; then each changed object's section is written
   to ``persistdir/NAME.cnf`` (atomically: a temporary file renamed over it; mode 0600 when it
   holds a password), a destroyed one's file is removed, or, for an object of the main file,
   replaced by a tombstone (``destroyed=true``), so the next start sees the same configuration.

With ``cluster=etcd`` (``proxy.shared_config``, :mod:`interlock.cluster.shared_config`) the
sections come from etcd, and step 5 first commits the changed objects there with a
compare-and-swap (409 when the configuration changed meanwhile, 503 when etcd is out of reach:
nothing is applied), then applies them; no file is written.  The watch applies other
instances' changes under the same :attr:`Configurator.lock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from interlock.atomic_file import sync_directory, write_atomic
from interlock.config.diagnostics import ConfigFileError
from interlock.config.layers import Layers
from interlock.config.loader import load_layers, validate
from interlock.config.model import Config
from interlock.config.runtime import (
    Edit,
    FileChange,
    Refusal,
    RuntimeChangeError,
    persisted_files,
    refusals,
)
from interlock.errors import AdminError, ConfigError, InterlockError
from interlock.log import get_logger

if TYPE_CHECKING:
    from interlock.server.app import Proxy

log = get_logger(__name__)

Op = Callable[[Edit], None]

STATUS = {
    Refusal.NOT_FOUND: 404,
    Refusal.EXISTS: 409,
    Refusal.IN_USE: 403,
    Refusal.NOT_AT_RUNTIME: 403,
    Refusal.BAD_REQUEST: 400,
}
FILE_MODE = 0o644
PRIVATE_MODE = 0o600


class ChangeRefused(AdminError):
    """A runtime change that was not made; ``messages``: one per problem."""

    def __init__(self, status: int, messages: Iterable[str]) -> None:
        self.messages = tuple(messages)
        super().__init__(status, "\n".join(self.messages))


class Configurator:
    """The runtime changes of one proxy."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.layers: Layers | None = None  # the sections the proxy runs (after the 1st change)
        self.lock = asyncio.Lock()  # one change at a time (the shared config's watch too)

    async def change(self, what: str, *ops: Op) -> None:
        """Make the change ``ops`` describe (``what``: for the log) or raise ChangeRefused."""
        async with self.lock:
            layers = await self._current()
            edit = Edit(layers)
            try:
                for op in ops:
                    op(edit)
            except RuntimeChangeError as exc:
                raise ChangeRefused(STATUS[exc.reason], (exc.message,)) from exc
            change = edit.result()
            if not change.touched:
                return  # nothing to do: what was asked is already so
            old = self.proxy.config
            try:
                new = validate(change.layers)
            except ConfigFileError as exc:
                raise ChangeRefused(400, exc.errors) from exc
            problems = refusals(old, new)
            if problems:
                raise ChangeRefused(403, problems)
            try:
                listeners = self.proxy.prepare_listeners(new)
            except InterlockError as exc:  # a port taken here, a certificate that won't load
                raise ChangeRefused(409, (str(exc),)) from exc
            shared = getattr(self.proxy, "shared_config", None)
            try:
                committed = await shared.commit(change) if shared is not None else None
            except BaseException:
                listeners.release()
                raise
            try:
                await self.proxy.reconfigure(new, listeners)
            except TimeoutError as exc:
                if committed is not None:  # in etcd already: the watch applies it later
                    log.warning("Runtime change '%s' committed (revision %d); a monitor is "
                                "busy, so it is applied when the operation ends", what,
                                committed.config_revision)
                    return
                raise ChangeRefused(409, ("a monitor is running a cluster operation "
                                          "(switchover, failover, rejoin); try again when it is "
                                          "done",)) from exc
            for warning in sorted(set(new.warnings) - set(old.warnings)):
                log.warning("%s", warning)
            if committed is not None and shared is not None:
                shared.committed(committed, change.layers)
                self.layers = change.layers
                log.notice("Runtime change: %s (shared configuration revision %d)", what,
                           committed.config_revision)
                return
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            files, self.layers = persisted_files(change, stamp)
            log.notice("Runtime change: %s", what)
            if not self.proxy.config.global_.persist_runtime_changes:
                return  # persist_runtime_changes=false: applied, not saved
            try:
                await asyncio.to_thread(save, files)
            except OSError as exc:
                log.error("Runtime change '%s' applied but not saved in %s: %s", what,
                          layers.persistdir, exc)
                raise AdminError(500, f"the change is applied but could not be saved in "
                                      f"{layers.persistdir} ({exc.strerror or exc}): it will "
                                      "be lost at the next restart") from exc

    async def _current(self) -> Layers:
        shared = getattr(self.proxy, "shared_config", None)
        if shared is not None:
            return shared.layers  # type: ignore[no-any-return]
        if self.layers is not None:
            return self.layers
        path = self.proxy.config.path
        try:
            loaded = await asyncio.to_thread(load_layers, path)
        except ConfigError as exc:
            raise ChangeRefused(409, (f"the configuration files no longer load, so runtime "
                                      f"changes are refused until they are fixed: {exc}",)
                                ) from exc
        if not same(loaded.config, self.proxy.config):
            raise ChangeRefused(409, (
                f"{path} or {loaded.layers.persistdir} changed since Interlock started; runtime "
                "changes are refused until a restart, so that they do not also apply those "
                "edits",))
        self.layers = loaded.layers
        return loaded.layers


def same(a: Config, b: Config) -> bool:
    """The same objects and settings (where the files are and the warnings aside)."""
    return (a.global_, a.servers, a.services, a.listeners, a.monitors) == (
        b.global_, b.servers, b.services, b.listeners, b.monitors)


_configurators: weakref.WeakKeyDictionary[Proxy, Configurator] = weakref.WeakKeyDictionary()


def configurator(proxy: Proxy) -> Configurator:
    found = _configurators.get(proxy)
    if found is None:
        found = _configurators[proxy] = Configurator(proxy)
    return found


# -- saving ---------------------------------------------------------------------------------


def save(files: Iterable[FileChange]) -> None:
    """Write or remove each persisted file (a blocking function: run it in a thread)."""
    for change in files:
        if change.text is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(change.path)
        else:
            write_atomic(change.path, change.text, PRIVATE_MODE if change.private else FILE_MODE)
    directories = {os.path.dirname(change.path) for change in files}
    for directory in directories:
        sync_directory(directory)
