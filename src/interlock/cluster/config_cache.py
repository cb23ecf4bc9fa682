"""The last shared configuration an instance ran, kept in ``<datadir>/cluster-config.cache``.

With ``cluster=etcd`` an instance writes the snapshot it runs to this file every time it loads,
bootstraps, commits or applies one (:mod:`interlock.cluster.shared_config`).  When etcd cannot
be reached at start, the instance starts from the file instead of not starting at all: it routes
with that configuration, is cut off (refuses configuration changes, does not lead) and catches up
from etcd when etcd answers.

The format is JSON, versioned (``format``, ``version``)::

    {"format": "interlock-cluster-config-cache", "version": 1,
     "etcd_prefix": "/interlock/", "etcd_endpoints": ["http://10.0.0.1:2379", ...],
     "instance": "proxy-a", "written_at": 1790000000.5,
     "store_revision": 812, "config_revision": 790,
     "objects": [{"name": "server1", "mod_revision": 17,
                  "section": "[server1]\\ntype=server\\n..."}, ...]}

``store_revision`` is the etcd revision the snapshot was read at, ``config_revision`` the
configuration's (``config/revision``'s mod_revision), each object's ``section`` its INI text as
etcd holds it.  A cache records where it came from: one written for another ``etcd_prefix``, or
for endpoints none of which the instance is configured with now (another etcd cluster), is
refused rather than run.

Encoding and decoding are pure; :func:`read_cache` and :func:`write_cache` are the only I/O
(plain files: the caller runs them in a thread).  The write is atomic: a temporary file in the
same directory, mode 0600, synced, renamed over the cache, then the directory synced.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interlock.atomic_file import sync_directory, write_atomic
from interlock.cluster.config_store import Snapshot
from interlock.config.diagnostics import Diagnostics
from interlock.config.ini import IniSection, parse_ini
from interlock.config.layers import DEFAULT_DATADIR
from interlock.config.runtime import section_text
from interlock.errors import ClusterError

CACHE_FILE = "cluster-config.cache"
FORMAT = "interlock-cluster-config-cache"
VERSION = 1
FILE_MODE = 0o600


class CacheError(ClusterError):
    """The cache file cannot be used (unreadable, corrupt, another version or another store)."""


@dataclass(frozen=True, slots=True)
class CachedConfig:
    """A snapshot of the shared configuration and where it came from."""

    prefix: str
    endpoints: tuple[str, ...]
    instance: str
    written_at: float  # wall clock (time.time()) when it was written
    snapshot: Snapshot


def cache_path(datadir: str | None) -> Path:
    """The cache file of an instance whose ``[maxscale] datadir`` is ``datadir``."""
    return Path(datadir or DEFAULT_DATADIR) / CACHE_FILE


# -- pure: encode, decode, check ----------------------------------------------------------------


def encode_cache(cached: CachedConfig) -> str:
    snapshot = cached.snapshot
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "etcd_prefix": cached.prefix,
        "etcd_endpoints": list(cached.endpoints),
        "instance": cached.instance,
        "written_at": cached.written_at,
        "store_revision": snapshot.revision,
        "config_revision": snapshot.config_revision,
        "objects": [{"name": name, "mod_revision": snapshot.mod_revisions.get(name, 0),
                     "section": section_text(section)}
                    for name, section in snapshot.sections.items()],
    }
    return json.dumps(doc, indent=1) + "\n"


def decode_cache(text: str, source: str) -> CachedConfig:
    """The cache in ``text`` (read from ``source``, named in every error); raises
    :class:`CacheError`."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CacheError(f"{source}: not a configuration cache (invalid JSON: {exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CacheError(f"{source}: not an Interlock configuration cache")
    if doc.get("version") != VERSION:
        raise CacheError(f"{source}: cache format version {doc.get('version')!r}; this "
                         f"Interlock reads version {VERSION}")
    try:
        prefix = _field(doc, "etcd_prefix", str)
        endpoints = tuple(_items(doc, "etcd_endpoints", str))
        instance = _field(doc, "instance", str)
        written_at = float(_field(doc, "written_at", (int, float)))
        revision = _field(doc, "store_revision", int)
        config_revision = _field(doc, "config_revision", int)
        sections: dict[str, IniSection] = {}
        mods: dict[str, int] = {}
        for item in _items(doc, "objects", dict):
            name = _field(item, "name", str)
            section = _section(name, _field(item, "section", str), source)
            if name in sections:
                raise CacheError(f"{source}: object [{name}] twice")
            sections[name] = section
            mods[name] = _field(item, "mod_revision", int)
    except _Missing as exc:
        raise CacheError(f"{source}: corrupt configuration cache: {exc}") from exc
    return CachedConfig(prefix, endpoints, instance, written_at,
                        Snapshot(revision, config_revision, True, sections, mods))


def check_cache(cached: CachedConfig, prefix: str, endpoints: Sequence[str],
                source: str) -> None:
    """Refuse (:class:`CacheError`) a cache written for another store: another prefix, or
    endpoints none of which are configured now (``endpoints``: normalized URLs, as
    ``EtcdSettings`` holds them)."""
    if cached.prefix != prefix:
        raise CacheError(f"{source} was written for etcd prefix {cached.prefix!r}, not "
                         f"{prefix!r}: not used (delete it if it is stale)")
    if not set(cached.endpoints) & set(endpoints):
        raise CacheError(f"{source} was written for etcd {', '.join(cached.endpoints)}, none of "
                         f"which is configured now ({', '.join(endpoints)}): not used (delete "
                         "it if the cluster only moved)")


class _Missing(Exception):
    """A field is absent or has the wrong type."""


def _field(doc: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _Missing(f"field {name!r} is missing or not {_kind_name(kind)}")
    return value


def _items(doc: dict[str, Any], name: str, kind: type) -> list[Any]:
    value = doc.get(name)
    if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
        raise _Missing(f"field {name!r} is missing or not a list of {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _section(name: str, text: str, source: str) -> IniSection:
    diag = Diagnostics(f"{source} [{name}]")
    sections = parse_ini(text, diag)
    if diag.errors or len(sections) != 1 or sections[0].name != name:
        raise CacheError(f"{source}: corrupt configuration cache: object {name!r} is not one "
                         f"section [{name}]")
    return sections[0]


# -- I/O (blocking: run in a thread) ------------------------------------------------------------


def read_cache(path: Path) -> CachedConfig | None:
    """The cache at ``path``; None when there is none; :class:`CacheError` when it cannot be
    read or decoded."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise CacheError(f"{path}: cannot read the configuration cache: {exc}") from exc
    return decode_cache(text, str(path))


def write_cache(path: Path, cached: CachedConfig) -> None:
    """Write ``cached`` to ``path`` atomically (mode 0600); raises OSError."""
    write_atomic(str(path), encode_cache(cached), FILE_MODE)
    sync_directory(str(path.parent))
