"""Runtime configuration changes, as sections (pure: sections in, sections out).

A runtime change (REST API, ``interlock ctl``) edits the configuration's sections
(:class:`~interlock.config.layers.Layers`) with an :class:`Edit` — never the model — and the
loader validates the whole result again (``loader.validate``), so a change gets exactly the
errors the same text in a file would.  :func:`refusals` lists what the running proxy cannot
take even from a valid result.  ``interlock.admin.runtime_apply`` then applies the difference
to the running proxy and writes the changed sections (:func:`persisted_files`), one
``persistdir/NAME.cnf`` per object; a main-file object destroyed at runtime gets a tombstone
there (``type=KIND``, ``destroyed=true``), so it stays destroyed after a restart.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from interlock.config.ini import IniEntry, IniSection
from interlock.config.layers import DESTROYED, RUNTIME, Layers, Placed
from interlock.config.model import Config
from interlock.config.params import Schema
from interlock.config.tables import GLOBAL_SECTION, MODULE_KEY, OBJECT_TYPES, object_schema
from interlock.config.values import NAME_RE, NAME_RULE, PASSWORD, PathType
from interlock.errors import ConfigError

_KEY_RE = re.compile(r"^[A-Za-z0-9_.~-]+$")
_LINKS = ("servers", "targets")  # the keys that list a service's / monitor's servers


class Refusal(enum.Enum):
    """Why an :class:`Edit` refuses a change (the REST layer maps these to HTTP statuses)."""

    NOT_FOUND = "not found"
    EXISTS = "exists"
    IN_USE = "in use"
    NOT_AT_RUNTIME = "not at runtime"
    BAD_REQUEST = "bad request"


class RuntimeChangeError(ConfigError):
    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# -- editing --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """The configuration after an :class:`Edit` (changed sections have path RUNTIME) and the
    objects whose persisted file must be written or removed."""

    layers: Layers
    touched: tuple[tuple[str, str], ...]  # (name, type) of each changed object


class Edit:
    """A runtime change in progress: create / alter / destroy / link, then :meth:`result`.

    Values are text, as in a file; ``None`` for a parameter removes it (back to its default).
    Refusals that are not about a value (an unknown object, a name taken, a server still in
    use, something that cannot change at runtime) raise :class:`RuntimeChangeError`; values
    are left to the loader's validation.
    """

    __slots__ = ("_layers", "_sections", "_touched")

    def __init__(self, layers: Layers) -> None:
        self._layers = layers
        self._sections = list(layers.sections)
        self._touched: list[tuple[str, str]] = []

    # -- the operations ----------------------------------------------------------------------

    def create(self, kind: str, name: str, params: Mapping[str, str | None]) -> None:
        _check_name(name)
        existing = self._find(name)
        if existing is not None:
            raise RuntimeChangeError(Refusal.EXISTS,
                                     f"an object named '{name}' already exists (a {existing.kind})")
        self._writable(name)
        given = _checked_params(params)
        stated = given.pop("type", kind)
        if stated is None or stated.strip().lower() != kind:
            raise RuntimeChangeError(Refusal.BAD_REQUEST,
                                     f"type={stated}: creating a {kind} needs type={kind}")
        values = {"type": kind, **{k: v for k, v in given.items() if v is not None}}
        entries = _entries(values)
        placed = Placed(IniSection(name, 1, entries), RUNTIME)
        self._sections.append(self._absolute(placed, os.path.dirname(self._layers.main)))
        self._touch(name, kind)

    def alter(self, kind: str, name: str, params: Mapping[str, str | None]) -> None:
        placed = self._existing(kind, name)
        given = _checked_params(params)
        for key in ("type", MODULE_KEY.get(kind)):
            current = placed.value(key) if key is not None else None
            wanted = given.get(key) if key is not None else None
            if key in given and (wanted or "").strip().lower() != (current or "").strip().lower():
                raise RuntimeChangeError(
                    Refusal.NOT_AT_RUNTIME,
                    f"[{name}] {key} cannot be changed at runtime (it is {current}); destroy "
                    f"the {kind} and create it again")
        self._replace(placed, _altered(placed, given, _schema(placed)))

    def destroy(self, kind: str, name: str, force: bool = False) -> None:
        placed = self._existing(kind, name)
        users = self._users(placed)
        if users and not (force and kind == "server"):
            listed = ", ".join(f"{k} '{n}'" for k, n in users)
            hint = ("unlink it first, or destroy it with force=yes, which unlinks it"
                    if kind == "server" else
                    "destroy its listeners first")
            raise RuntimeChangeError(Refusal.IN_USE,
                                     f"{kind} '{name}' is used by {listed}; {hint}")
        for _, user in users:
            owner = self._existing(None, user)
            self.set_servers(owner.kind or "", user,
                             [s for s in servers_of(owner) if s != name])
        self._writable(name)
        self._sections.remove(self._existing(kind, name))
        self._touch(name, kind)

    def set_servers(self, kind: str, name: str, servers: Sequence[str]) -> None:
        """The servers of service or monitor ``name`` become ``servers`` (link / unlink)."""
        placed = self._existing(kind, name)
        key = next((k for k in _LINKS if placed.section.get(k) is not None), "servers")
        value = ",".join(servers) if servers else None
        self._replace(placed, _altered(placed, {key: value}, _schema(placed)))

    def set_owners(self, server: str, kind: str, owners: Sequence[str]) -> None:
        """Server ``server`` is in exactly the ``owners`` among the objects of ``kind``
        (MaxScale's relationships of a server to its services or monitors)."""
        self._existing("server", server)
        for name in owners:
            self._existing(kind, name)
        for placed in [p for p in self._sections if p.kind == kind]:
            current = servers_of(placed)
            if placed.name in owners and server not in current:
                self.set_servers(kind, placed.name, [*current, server])
            elif placed.name not in owners and server in current:
                self.set_servers(kind, placed.name, [s for s in current if s != server])

    def result(self) -> Change:
        """The change; an object whose section ends as it was (same keys and values) is not
        among the touched ones, so asking for what is already so writes nothing."""
        same = {name for name, _ in self._touched
                if _content(self._layers.find(name)) == _content(self._find(name))}
        sections = tuple(self._layers.find(p.name) or p if p.name in same else p
                         for p in self._sections)
        touched = tuple(item for item in self._touched if item[0] not in same)
        return Change(replace(self._layers, sections=sections), touched)

    # -- helpers -----------------------------------------------------------------------------

    def _find(self, name: str) -> Placed | None:
        return next((p for p in self._sections if p.name == name), None)

    def _existing(self, kind: str | None, name: str) -> Placed:
        placed = self._find(name)
        if placed is None or placed.kind == GLOBAL_SECTION or (
                kind is not None and placed.kind != kind):
            raise RuntimeChangeError(Refusal.NOT_FOUND, f"no {kind or 'object'} '{name}'")
        return placed

    def _writable(self, name: str) -> None:
        """The change of ``name`` can be saved in ``persistdir/NAME.cnf`` without losing
        another object kept in that file, and replaces the file ``name`` comes from."""
        target = self._layers.file_of(name)
        for placed in self._layers.sections:
            if placed.path == target and placed.name != name:
                raise RuntimeChangeError(
                    Refusal.NOT_AT_RUNTIME,
                    f"{target} also holds [{placed.name}]; Interlock saves each object in its "
                    "own file: move the other sections out of it first")
        current = self._layers.find(name)
        if current is not None and current.path not in (RUNTIME, self._layers.main, target):
            raise RuntimeChangeError(
                Refusal.NOT_AT_RUNTIME,
                f"[{name}] is defined in {current.path}, a file Interlock did not write; "
                f"saving the change in {target} would define it twice: edit that file and "
                "restart instead")

    def _replace(self, old: Placed, section: IniSection) -> None:
        self._writable(old.name)
        placed = self._absolute(Placed(section, RUNTIME), self._layers.base(old))
        self._sections[self._sections.index(old)] = placed
        self._touch(old.name, old.kind or "")

    def _absolute(self, placed: Placed, base: str) -> Placed:
        """Relative paths made absolute (from ``base``): the section will be read from
        another directory."""
        schema = _schema(placed)
        entries = []
        for entry in placed.section.entries:
            param = schema.lookup(entry.key) if schema is not None else None
            value = entry.value
            if param is not None and isinstance(param.vtype, PathType) and value:
                value = os.path.normpath(os.path.join(base, value))
            entries.append(IniEntry(entry.key, value, entry.line))
        return Placed(IniSection(placed.name, placed.section.line, tuple(entries)), placed.path)

    def _users(self, placed: Placed) -> list[tuple[str, str]]:
        """The objects that name ``placed``: services and monitors of a server, listeners of
        a service."""
        if placed.kind == "server":
            return [(p.kind or "", p.name) for p in self._sections
                    if p.kind in ("service", "monitor") and placed.name in servers_of(p)]
        if placed.kind == "service":
            return [("listener", p.name) for p in self._sections
                    if p.kind == "listener" and (p.value("service") or "").strip() == placed.name]
        return []

    def _touch(self, name: str, kind: str) -> None:
        if all(name != n for n, _ in self._touched):
            self._touched.append((name, kind))


def _content(placed: Placed | None) -> tuple[tuple[str, str], ...] | None:
    return None if placed is None else tuple((e.key, e.value) for e in placed.section.entries)


def servers_of(placed: Placed) -> tuple[str, ...]:
    """The names in the ``servers`` (or ``targets``) list of a section, as written."""
    for key in _LINKS:
        raw = placed.value(key)
        if raw is not None:
            return tuple(n.strip() for n in raw.split(",") if n.strip())
    return ()


def _check_name(name: str) -> None:
    if not NAME_RE.match(name) or name.lower() == GLOBAL_SECTION:
        raise RuntimeChangeError(
            Refusal.BAD_REQUEST,
            f"invalid section name '[{name}]'; a name may contain only {NAME_RULE}, and "
            f"[{GLOBAL_SECTION}] is the global section")


def _checked_params(params: Mapping[str, str | None]) -> dict[str, str | None]:
    """The parameters as a file would hold them (values trimmed); a key or value that cannot
    be written as one ``key=value`` line is refused."""
    checked: dict[str, str | None] = {}
    for key, value in params.items():
        if not _KEY_RE.match(key):
            raise RuntimeChangeError(Refusal.BAD_REQUEST, f"invalid parameter name {key!r}")
        if value is not None and any(c in value for c in "\r\n\0"):
            raise RuntimeChangeError(Refusal.BAD_REQUEST,
                                     f"the value of '{key}' must be one line of text")
        checked[key] = value.strip() if value is not None else None
    return checked


def _schema(placed: Placed) -> Schema | None:
    kind = placed.kind
    if kind not in OBJECT_TYPES:
        return None
    key = MODULE_KEY.get(kind)
    module = placed.value(key) if key else None
    return object_schema(kind, module.strip().lower() if module else None)


def _altered(placed: Placed, params: Mapping[str, str | None],
             schema: Schema | None) -> IniSection:
    """``placed``'s section with ``params`` set (in place when present, else appended) or
    removed (None); a parameter given under an alias replaces the other spelling."""
    entries = list(placed.section.entries)
    for key, value in params.items():
        param = schema.lookup(key) if schema is not None else None
        same = [i for i, e in enumerate(entries) if e.key == key or (
            param is not None and schema is not None and schema.lookup(e.key) is param)]
        if value is None:
            entries = [e for i, e in enumerate(entries) if i not in same]
        elif same:
            first, rest = same[0], set(same[1:])
            entries[first] = IniEntry(key, value, entries[first].line)
            entries = [e for i, e in enumerate(entries) if i not in rest]
        else:
            entries.append(IniEntry(key, value, 0))
    return IniSection(placed.name, placed.section.line, _numbered(entries))


def _entries(values: Mapping[str, str]) -> tuple[IniEntry, ...]:
    return _numbered(IniEntry(k, v, 0) for k, v in values.items())


def _numbered(entries: Iterable[IniEntry]) -> tuple[IniEntry, ...]:
    """Entries numbered as :func:`section_text` writes them (the header is line 1)."""
    return tuple(IniEntry(e.key, e.value, n) for n, e in enumerate(entries, start=2))


# -- checks that need the validated model ---------------------------------------------------


def covering_monitor(config: Config, service: str) -> str | None:
    """The monitor whose roles ``service`` routes by: one that monitors all its servers."""
    svc = config.services[service]
    return next((m.name for m in config.monitors.values()
                 if svc.servers and set(svc.servers) <= set(m.servers)), None)


def refusals(old: Config, new: Config) -> tuple[str, ...]:
    """What the running proxy cannot take from a valid ``new`` configuration: global
    changes, a router or monitor module change, a service whose roles would come from another
    monitor (or from none).  (Listeners can change: whether their ports can be bound is the
    proxy's to find out, ``server.listener_set``.)"""
    found: list[str] = []
    if old.global_ != new.global_:
        found.append("global parameters cannot be changed at runtime")
    for name in sorted(old.services.keys() & new.services.keys()):
        if old.services[name].router != new.services[name].router:
            found.append(f"service '{name}': the router cannot be changed at runtime")
        before, after = covering_monitor(old, name), covering_monitor(new, name)
        if before != after:
            found.append(_coverage(name, before, after, new))
    for name in sorted(old.monitors.keys() & new.monitors.keys()):
        if old.monitors[name].module != new.monitors[name].module:
            found.append(f"monitor '{name}': the module cannot be changed at runtime")
    return tuple(found)


def _coverage(service: str, before: str | None, after: str | None, new: Config) -> str:
    if before is not None and after is None:
        monitored = set(new.monitors[before].servers) if before in new.monitors else set()
        missing = [s for s in new.services[service].servers if s not in monitored]
        what = (f"server(s) {', '.join(missing)} would not be monitored by '{before}'"
                if before in new.monitors else f"monitor '{before}' would be gone")
        return (f"service '{service}' routes by the roles monitor '{before}' gives its "
                f"servers; after this change {what}: link the servers to '{before}' first "
                "(or unlink them from the service)")
    source = "static roles" if before is None else f"monitor '{before}'"
    target = "static roles" if after is None else f"monitor '{after}'"
    return (f"service '{service}' would switch from {source} to {target}, which cannot "
            "happen at runtime; make the change in the configuration file and restart")


# -- saving ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileChange:
    """One persisted file to write (``text``) or remove (``text`` None)."""

    path: str
    text: str | None
    private: bool = False  # holds a password: mode 0600


def section_text(section: IniSection) -> str:
    body = "".join(f"{e.key}={e.value}\n" for e in section.entries)
    return f"[{section.name}]\n{body}"


def persisted_files(change: Change, stamp: str) -> tuple[tuple[FileChange, ...], Layers]:
    """The files that save ``change`` (``stamp``: when, for the header comment), and the
    layers with the saved sections attributed to their files."""
    layers = change.layers
    files: list[FileChange] = []
    saved: dict[str, Placed] = {}
    for name, kind in change.touched:
        path = layers.file_of(name)
        placed = layers.find(name)
        if placed is not None:
            what = (f"replaces [{name}] of {layers.main}" if name in layers.main_names
                    else "an object created at runtime")
            files.append(FileChange(path, _header(stamp, what) + section_text(placed.section),
                                    _private(placed)))
            saved[name] = Placed(_shifted(placed.section, _HEADER_LINES), path)
        elif name in layers.main_names:
            tomb = IniSection(name, 1, (IniEntry("type", kind, 2), IniEntry(DESTROYED, "true", 3)))
            what = f"[{name}] of {layers.main} was destroyed at runtime"
            files.append(FileChange(path, _header(stamp, what) + section_text(tomb)))
        else:
            files.append(FileChange(path, None))
    sections = tuple(saved.get(p.name, p) for p in layers.sections)
    return tuple(files), replace(layers, sections=sections)


_HEADER_LINES = 2


def _header(stamp: str, what: str) -> str:
    return (f"# Interlock runtime change, {stamp}: {what}.\n"
            "# Interlock rewrites this whole file at the next change of this object.\n")


def _shifted(section: IniSection, lines: int) -> IniSection:
    entries = tuple(IniEntry(e.key, e.value, e.line + lines) for e in section.entries)
    return IniSection(section.name, 1 + lines, entries)


def _private(placed: Placed) -> bool:
    schema = _schema(placed)
    if schema is None:
        return True
    return any((p := schema.lookup(e.key)) is not None and p.vtype == PASSWORD
               for e in placed.section.entries)
