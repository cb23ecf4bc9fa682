"""The configuration as INI sections with the file each comes from, and the merge of the
persisted runtime changes over the main file (pure).

What Interlock runs is a list of sections: the main file's, where a section of the same name in
a persisted file (``persistdir/*.cnf``, read in name order after the main file) replaces it
whole, as MaxScale's ``maxscale.cnf.d`` does, or adds a new object.  A tombstone
(``[NAME]`` with only ``type=KIND`` and ``destroyed=true``) drops the main file's section: it
records a main-file object destroyed at runtime.  Runtime edits of these sections are in
``interlock.config.runtime``; the loader validates them (``loader.validate``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from interlock.config.diagnostics import Diagnostics
from interlock.config.ini import IniSection, parse_ini
from interlock.config.tables import GLOBAL_SECTION
from interlock.config.values import parse_bool
from interlock.errors import ConfigError

#: the "file" of a section changed at runtime and not saved yet (errors name it so)
RUNTIME = "runtime change"
#: the key that makes a persisted section a tombstone
DESTROYED = "destroyed"
#: persistdir when neither it nor datadir is set, and the directory under datadir
DEFAULT_DATADIR = "/var/lib/interlock"
PERSIST_SUBDIR = "interlock.cnf.d"


@dataclass(frozen=True, slots=True)
class Placed:
    """One section and the file it comes from (:data:`RUNTIME` for a change not saved yet)."""

    section: IniSection
    path: str

    @property
    def name(self) -> str:
        return self.section.name

    @property
    def kind(self) -> str | None:
        """``maxscale`` for the global section, else the ``type=`` value (lower case)."""
        if self.name.lower() == GLOBAL_SECTION:
            return GLOBAL_SECTION
        entry = self.section.get("type")
        return entry.value.strip().lower() if entry else None

    def value(self, key: str) -> str | None:
        entry = self.section.get(key)
        return entry.value if entry else None


@dataclass(frozen=True, slots=True)
class Layers:
    """The configuration as sections, in order, with where each comes from."""

    main: str  # the main file
    persistdir: str  # where runtime changes are saved
    sections: tuple[Placed, ...]
    main_names: frozenset[str] = frozenset()  # objects the main file defines

    def find(self, name: str) -> Placed | None:
        return next((p for p in self.sections if p.name == name), None)

    def base(self, placed: Placed) -> str:
        """The directory relative paths of ``placed`` start at."""
        path = self.main if placed.path == RUNTIME else placed.path
        return os.path.dirname(os.path.abspath(path))

    def file_of(self, name: str) -> str:
        """Where the runtime changes of object ``name`` are saved."""
        return os.path.join(self.persistdir, f"{name}.cnf")


@dataclass(frozen=True, slots=True)
class Problem:
    """An error or warning found while merging, in the file ``path``."""

    path: str
    line: int | None
    section: str | None
    text: str


@dataclass(slots=True)
class Merged:
    layers: Layers
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def persistdir_for(persistdir: str | None, datadir: str | None) -> str:
    """``persistdir`` if set, else ``DATADIR/interlock.cnf.d`` (``/var/lib/interlock`` when
    datadir is not set either)."""
    if persistdir:
        return persistdir
    return os.path.join(datadir or DEFAULT_DATADIR, PERSIST_SUBDIR)


# -- merging the persisted files over the main file -----------------------------------------


def merge(main: str, sections: Iterable[IniSection], persistdir: str,
          persisted: Sequence[tuple[str, Sequence[IniSection]]]) -> Merged:
    """The main file's ``sections`` with each persisted file's sections (``(path, sections)``
    in reading order) replacing the section of the same name whole, or added after them."""
    order: list[Placed | None] = [Placed(s, main) for s in sections]
    index = {p.name: i for i, p in enumerate(order) if p is not None}
    result = Merged(Layers(main, persistdir, (), frozenset(index)))
    seen: dict[str, tuple[str, int]] = {}
    for path, found in persisted:
        for section in found:
            if not _acceptable(section, path, seen, result):
                continue
            seen[section.name] = (path, section.line)
            at = index.get(section.name)
            original = order[at] if at is not None else None
            if section.get(DESTROYED) is not None:
                if _tombstone(section, path, original, main, result) and at is not None:
                    order[at] = None
                continue
            if at is not None and original is not None:
                order[at] = Placed(section, path)
                result.warnings.append(Problem(
                    path, section.line, section.name,
                    f"replaces [{section.name}] of {main}:{original.section.line} (a runtime "
                    "change; delete this file to use the main file's section again)"))
            else:
                index[section.name] = len(order)
                order.append(Placed(section, path))
    result.layers = replace(result.layers, sections=tuple(p for p in order if p is not None))
    return result


def _acceptable(section: IniSection, path: str, seen: dict[str, tuple[str, int]],
                result: Merged) -> bool:
    if section.name.lower() == GLOBAL_SECTION:
        result.errors.append(Problem(
            path, section.line, None,
            f"a [{section.name}] section cannot be in the persisted directory: Interlock changes "
            "no global parameter at runtime; move these settings to the main file"))
        return False
    if section.name in seen:
        other, line = seen[section.name]
        result.errors.append(Problem(
            path, section.line, None,
            f"[{section.name}] is also defined in {other}:{line}; an object may be in one "
            "persisted file only"))
        return False
    return True


def _tombstone(section: IniSection, path: str, original: Placed | None, main: str,
               result: Merged) -> bool:
    """Check a ``destroyed=true`` section; True when it removes ``original``."""
    entry = section.get(DESTROYED)
    assert entry is not None
    others = sorted(e.key for e in section.entries if e.key not in ("type", DESTROYED))
    try:
        destroyed = parse_bool(entry.value)
    except ConfigError:
        destroyed = False
    if not destroyed or others:
        what = f"'{DESTROYED}={entry.value}'" if not destroyed else ", ".join(others)
        result.errors.append(Problem(
            path, entry.line, section.name,
            f"{what}: a destroyed object's section has only type=<its type> and "
            f"{DESTROYED}=true"))
        return False
    kind = section.get("type")
    if original is None:
        result.warnings.append(Problem(
            path, entry.line, section.name,
            f"records that [{section.name}] was destroyed, but {main} has no such section; "
            "this file can be deleted"))
        return False
    if kind is None or kind.value.strip().lower() != original.kind:
        result.errors.append(Problem(
            path, section.line, section.name,
            f"type={kind.value if kind else ''} does not match the destroyed section of "
            f"{main}:{original.section.line} (type={original.kind})"))
        return False
    result.warnings.append(Problem(
        path, entry.line, section.name,
        f"[{section.name}] of {main}:{original.section.line} was destroyed at runtime; delete "
        "this file to restore it"))
    return True


def read_persisted(persistdir: str, diag: SourcedDiagnostics, read: Callable[[str], str | None]
                   ) -> list[tuple[str, tuple[IniSection, ...]]]:
    """Every ``*.cnf`` file of ``persistdir`` in name order, parsed (a missing directory:
    nothing was changed at runtime yet).  ``read(path)`` returns a file's text, or None after
    reporting why it cannot."""
    try:
        names = sorted(os.listdir(persistdir))
    except FileNotFoundError:
        return []
    except OSError as exc:
        diag.error(f"cannot read persistdir '{persistdir}' (runtime changes): "
                   f"{exc.strerror or exc}")
        return []
    found = []
    for name in names:
        path = os.path.join(persistdir, name)
        if not name.endswith(".cnf") or name.startswith(".") or not os.path.isfile(path):
            continue
        diag.reading = path
        text = read(path)
        if text is not None:
            found.append((path, parse_ini(text, diag)))
        diag.reading = None
    return found


@dataclass(slots=True)
class SourcedDiagnostics(Diagnostics):
    """Messages name the file each section comes from (main file, a persisted file, or a
    runtime change, which has no line numbers)."""

    paths: dict[str, str] = field(default_factory=dict)  # section name -> its file
    reading: str | None = None  # the file being read, for the reader's own messages

    def format(self, text: str, line: int | None = None, section: str | None = None) -> str:
        path = self.reading or (self.paths.get(section, self.path) if section is not None
                                else self.path)
        if path == RUNTIME:
            line = None
        where = path if line is None else f"{path}:{line}"
        return f"{where}: [{section}] {text}" if section is not None else f"{where}: {text}"
