"""Load a maxscale.cnf-shaped file into a validated :class:`Config`.

``load_config(path)`` reads the file (``ini.py``), then the persisted runtime changes (every
``*.cnf`` of ``persistdir``, in name order: a section there replaces the main file's section of
the same name whole, or adds an object; ``runtime.merge``), checks every section against its
parameter table (``tables.py``, ``modules.py``), checks the references between objects
(``crossref.py``), and either returns the whole configuration or raises one
:class:`ConfigFileError` (a :class:`ConfigError`) listing every problem, one per line, each
naming the file it is in, so nothing starts half-configured.  Accepted-but-ignored MaxScale
parameters produce warnings: logged once each by ``load_config`` and kept in
``Config.warnings``.  :func:`validate` checks sections edited at runtime the same way.

Relative paths resolve against the directory of the file they are in.  Pure: no sockets, no
event loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from interlock.config import crossref, secrets
from interlock.config.diagnostics import Diagnostics
from interlock.config.ini import IniEntry, IniSection, parse_ini
from interlock.config.layers import (
    Layers,
    Placed,
    SourcedDiagnostics,
    merge,
    persistdir_for,
    read_persisted,
)
from interlock.config.model import (
    Config,
    GlobalConfig,
    ListenerConfig,
    MonitorConfig,
    ServerConfig,
    ServiceConfig,
)
from interlock.config.params import Param, Schema, Status, nested_model
from interlock.config.tables import (
    GLOBAL_SECTION,
    MODULE_ALIASES,
    MODULE_KEY,
    MODULE_PARAMS,
    OBJECT_TYPES,
    REJECTED_TYPES,
    global_schema,
    object_schema,
)
from interlock.config.values import (
    PASSWORD,
    ConfigValueError,
    PathType,
    did_you_mean,
    nearest,
    parse_bool,
)
from interlock.log import get_logger

log = get_logger(__name__)


@dataclass(slots=True)
class Checked:
    """One section after checking: parsed values by model field, ignored values kept raw."""

    name: str
    line: int
    kind: str | None  # "maxscale", an object type, or None when the type is unusable
    values: dict[str, Any] = field(default_factory=dict)  # field path -> parsed value
    raw: list[tuple[str, str]] = field(default_factory=list)  # ignored params, as written
    lines: dict[str, int] = field(default_factory=dict)  # param name -> line
    passwords: list[tuple[str, str, int]] = field(default_factory=list)  # (key, field, line)


@dataclass(slots=True)
class _Ignored:
    """Where one ignored parameter was used, for a single warning naming all its uses."""

    key: str  # as the user wrote it (an alias stays an alias)
    param: Param
    uses: list[tuple[str, int]] = field(default_factory=list)  # (section, line)


@dataclass(frozen=True, slots=True)
class Loaded:
    """A validated configuration and the sections it was built from."""

    layers: Layers
    config: Config


def load_config(path: str | os.PathLike[str]) -> Config:
    """Parse and validate ``path`` and the persisted runtime changes; log each warning once.
    Raises ConfigError."""
    config = parse_config(path)
    for warning in config.warnings:
        log.warning(warning)
    return config


def parse_config(path: str | os.PathLike[str]) -> Config:
    """Like :func:`load_config` without logging: warnings are only in ``Config.warnings``."""
    return load_layers(path).config


def load_layers(path: str | os.PathLike[str]) -> Loaded:
    """The main file ``path`` and, unless ``load_persisted_configs=false``, every ``*.cnf`` of
    ``persistdir`` merged over it, validated as one configuration."""
    shown = os.fspath(path)
    diag = SourcedDiagnostics(shown)
    text = _read(shown, diag)
    diag.raise_if_errors()
    sections = list(_sections(text or "", diag))
    persistdir, enabled = _persist_settings(sections, _base(shown))
    persisted = read_persisted(persistdir, diag, lambda p: _read(p, diag)) if enabled else []
    merged = merge(shown, sections, persistdir, persisted)
    for problem in merged.errors:
        diag.reading = problem.path
        diag.error(problem.text, problem.line, problem.section)
    for problem in merged.warnings:
        diag.reading = problem.path
        diag.warning(problem.text, problem.line, problem.section)
    diag.reading = None
    return Loaded(merged.layers, _validate(merged.layers, diag))


def validate(layers: Layers) -> Config:
    """Check ``layers`` (e.g. after a runtime change) exactly as a file; raises
    :class:`ConfigFileError` with every error."""
    return _validate(layers, SourcedDiagnostics(layers.main))


def parse_text(text: str, path: str) -> Config:
    """Validate config ``text`` as if read from ``path`` (relative paths start at its dir);
    the persisted directory is not read."""
    diag = SourcedDiagnostics(path)
    sections = list(_sections(text, diag))
    persistdir, _ = _persist_settings(sections, _base(path))
    layers = Layers(path, persistdir, tuple(Placed(s, path) for s in sections),
                    frozenset(s.name for s in sections))
    return _validate(layers, diag)


def _validate(layers: Layers, diag: SourcedDiagnostics) -> Config:
    diag.paths = {p.name: p.path for p in layers.sections}
    ignored: dict[str, _Ignored] = {}
    sections = [p.section for p in layers.sections]
    checked = [_check(p.section, layers.base(p), diag, ignored) for p in layers.sections]
    crossref.check(checked, diag)
    _decrypt_passwords(sections, checked, _base(layers.main), diag)
    _warn_ignored(ignored, diag)
    diag.raise_if_errors()
    config = _build(layers.main, checked, diag.warnings)
    return replace(config, global_=replace(config.global_, persistdir=layers.persistdir))


def _base(path: str) -> str:
    return os.path.dirname(os.path.abspath(path))


def _persist_settings(sections: list[IniSection], base: str) -> tuple[str, bool]:
    """``persistdir`` (resolved; default under datadir) and ``load_persisted_configs`` from
    the main file's global section, read before validation (bad values are reported by it;
    a bad ``load_persisted_configs`` means nothing is read)."""
    glob = next((s for s in sections if s.name.lower() == GLOBAL_SECTION), None)

    def raw(key: str) -> str | None:
        entry = glob.get(key) if glob is not None else None
        return entry.value.strip() if entry is not None and entry.value.strip() else None

    def path(key: str) -> str | None:
        value = raw(key)
        return os.path.normpath(os.path.join(base, value)) if value else None

    try:
        enabled = parse_bool(raw("load_persisted_configs") or "true")
    except ConfigValueError:
        enabled = False
    return persistdir_for(path("persistdir"), path("datadir")), enabled


def _read(path: str, diag: Diagnostics) -> str | None:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        diag.error(f"cannot read the configuration file: {exc.strerror or exc}")
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        diag.error("the file is not UTF-8 text", line)
        return None


def _sections(text: str, diag: Diagnostics) -> Iterable[IniSection]:
    sections = parse_ini(text, diag)
    first_global: IniSection | None = None
    for section in sections:
        if section.name.lower() == GLOBAL_SECTION:
            if first_global is not None:
                diag.error(
                    f"a second global section [{section.name}] (the first is at line "
                    f"{first_global.line}); merge them into one [maxscale]",
                    section.line,
                )
                continue
            first_global = section
        yield section


# -- one section ----------------------------------------------------------------------------


def _check(
    section: IniSection, base: str, diag: Diagnostics, ignored: dict[str, _Ignored]
) -> Checked:
    schema = _schema(section, diag)
    if schema is None:
        return Checked(section.name, section.line, None)
    result = Checked(section.name, section.line, schema.kind)
    first_use: dict[str, IniEntry] = {}
    unknown: list[str] = []
    for entry in section.entries:
        param = _lookup(schema, section, entry, diag)
        if param is None:
            unknown.append(entry.key)
            continue
        if param.name in first_use:
            other = first_use[param.name]
            diag.error(
                f"'{entry.key}' and '{other.key}' (line {other.line}) are the same parameter; "
                "set it once",
                entry.line,
                section.name,
            )
            continue
        first_use[param.name] = entry
        _take(param, entry, section.name, base, result, diag, ignored)
    _require(schema, section, first_use, unknown, diag)
    return result


def _schema(section: IniSection, diag: Diagnostics) -> Schema | None:
    if section.name.lower() == GLOBAL_SECTION:
        return global_schema()
    entry = section.get("type")
    if entry is None:
        expected = "|".join(OBJECT_TYPES)
        diag.error(
            f"missing parameter 'type'; expected type={expected}", section.line, section.name
        )
        return None
    kind = entry.value.lower()
    if kind in REJECTED_TYPES:
        diag.error(
            f"type={entry.value} is not supported: {REJECTED_TYPES[kind]}",
            entry.line,
            section.name,
        )
        return None
    if kind not in OBJECT_TYPES:
        hint = did_you_mean(entry.value, OBJECT_TYPES)
        diag.error(
            f"unknown type '{entry.value}'{hint}; expected one of: {', '.join(OBJECT_TYPES)}",
            entry.line,
            section.name,
        )
        return None
    module = _module(section, kind)
    if module in MODULE_ALIASES.get(kind, {}):
        _warn_old_module(section, kind, MODULE_ALIASES[kind][module], diag)
    return object_schema(kind, module)


def _module(section: IniSection, kind: str) -> str | None:
    key = MODULE_KEY.get(kind)
    entry = section.get(key) if key else None
    return entry.value.strip().lower() if entry else None


def _warn_old_module(section: IniSection, kind: str, new: str, diag: Diagnostics) -> None:
    """An old module name (``module=mysqlmon``): used as ``new``, with MaxScale's warning."""
    entry = section.get(MODULE_KEY[kind])
    assert entry is not None
    diag.warning(
        f"{entry.key}={entry.value.strip()} is deprecated: it is the old name of {new}, "
        f"which is used; write {MODULE_KEY[kind]}={new}",
        entry.line,
        section.name,
    )


def _lookup(
    schema: Schema, section: IniSection, entry: IniEntry, diag: Diagnostics
) -> Param | None:
    param = schema.lookup(entry.key)
    if param is None:
        diag.error(_unknown(schema, entry.key), entry.line, section.name)
        return None
    if param.status is Status.REJECTED:
        diag.error(
            f"parameter '{entry.key}' is not supported by Interlock: {param.note}",
            entry.line,
            section.name,
        )
        return None
    return param


def _unknown(schema: Schema, key: str) -> str:
    """The message for an unknown key: the nearest valid key, or where the key belongs."""
    elsewhere = _owners(schema, key)
    guess = None if elsewhere else nearest(key, schema.names())
    if guess is not None:
        return f"unknown parameter '{key}'; did you mean '{guess}'?"
    text = f"unknown parameter '{key}' for {_label(schema)}"
    if elsewhere:
        text += f" ('{key}' is a parameter of {' and '.join(elsewhere)})"
    return text


def _owners(schema: Schema, key: str) -> list[str]:
    """Other object types, or other modules of this type, that have a parameter ``key``."""
    found = [
        "the [maxscale] section" if kind == GLOBAL_SECTION else f"a {kind}"
        for kind in (*OBJECT_TYPES, GLOBAL_SECTION)
        if kind != schema.kind
        and (global_schema() if kind == GLOBAL_SECTION else object_schema(kind)).lookup(key)
    ]
    modules = MODULE_PARAMS.get(schema.kind, {})
    found += [
        f"{MODULE_KEY[schema.kind]}={name}"
        for name, params in modules.items()
        if name != schema.module and any(key in (p.name, *p.aliases) for p in params)
    ]
    return found


def _label(schema: Schema) -> str:
    if schema.kind == GLOBAL_SECTION:
        return "the [maxscale] section"
    if schema.module is not None:
        return f"a {schema.kind} with {MODULE_KEY[schema.kind]}={schema.module}"
    return f"a {schema.kind}"


def _take(
    param: Param,
    entry: IniEntry,
    section: str,
    base: str,
    result: Checked,
    diag: Diagnostics,
    ignored: dict[str, _Ignored],
) -> None:
    try:
        value = param.vtype.parse(entry.value)
    except ConfigValueError as exc:
        diag.error(_bad_value(entry, exc), entry.line, section)
        return
    if isinstance(param.vtype, PathType):
        value = os.path.normpath(os.path.join(base, value))
    result.lines[param.name] = entry.line
    if param.status is Status.IGNORED:
        kept = value if isinstance(param.vtype, PathType) else entry.value
        result.raw.append((param.name, kept))
        ignored.setdefault(entry.key, _Ignored(entry.key, param)).uses.append((section, entry.line))
    elif param.field is not None:
        result.values[param.field] = value
        if param.vtype == PASSWORD:
            result.passwords.append((entry.key, param.field, entry.line))


def _bad_value(entry: IniEntry, exc: ConfigValueError) -> str:
    text = f"invalid value for '{entry.key}': {exc.problem}; expected {exc.expected}"
    if any(mark in entry.value for mark in (" #", " ;", "\t#", "\t;")):
        text += " (comments must be on their own line)"
    return text


def _require(
    schema: Schema,
    section: IniSection,
    given: dict[str, IniEntry],
    unknown: list[str],
    diag: Diagnostics,
) -> None:
    """Report missing required parameters, except one already suggested for a misspelt key."""
    suggested = {nearest(key, schema.names()) for key in unknown}
    for param in schema.params:
        if param.required and param.name not in given and param.name not in suggested:
            form = param.vtype.expected
            diag.error(
                f"missing parameter '{param.name}'; expected {param.name}=<{form}>",
                section.line,
                section.name,
            )


def _warn_ignored(ignored: dict[str, _Ignored], diag: Diagnostics) -> None:
    for item in ignored.values():
        (section, line), *more = item.uses
        also = f" (also in {', '.join(f'[{s}]' for s, _ in more)})" if more else ""
        note = f"; {item.param.note}" if item.param.note else ""
        diag.warning(
            f"parameter '{item.key}' is accepted but ignored: "
            f"Interlock does not implement it yet{note}{also}",
            line,
            section,
        )


# -- encrypted passwords --------------------------------------------------------------------


def _decrypt_passwords(
    sections: list[IniSection], checked: list[Checked], base: str, diag: Diagnostics
) -> None:
    """Replace password values that look encrypted by their plain text (MaxScale's rule)."""
    candidates = [
        (item, key, fld, line)
        for item in checked
        for key, fld, line in item.passwords
        if _maybe_encrypted(item.values.get(fld))
    ]
    if not candidates:
        return  # the common case: no key file is even looked for
    dirs = secrets.key_dirs(*secrets.key_dir_settings(sections, base))
    path = secrets.find_key_file(dirs)
    if path is None:
        for item, key, _, line in candidates:
            diag.warning(
                f"the value of '{key}' looks like an encrypted password but there is no key "
                f"file ({' or '.join(os.path.join(d, secrets.SECRETS_FILE) for d in dirs)}); "
                "it is used as plain text",
                line,
                item.name,
            )
        return
    try:
        key_file = secrets.load_key_file(path)
    except secrets.SecretsError as exc:
        diag.error(f"cannot decrypt the encrypted passwords: {exc}")
        return
    for item, key, fld, line in candidates:
        value = item.values[fld]
        if not key_file.looks_encrypted(value):
            continue
        try:
            item.values[fld] = key_file.decrypt(value)
        except secrets.SecretsError as exc:
            diag.error(
                f"the value of '{key}' looks encrypted but does not decrypt: {exc}",
                line,
                item.name,
            )


def _maybe_encrypted(value: object) -> bool:
    """The loosest shape of an encrypted value (either key format), checked before any I/O."""
    return (
        isinstance(value, str)
        and len(value) >= 2 * secrets.BLOCK
        and all(c in "0123456789abcdefABCDEF" for c in value)
    )


# -- building the model ---------------------------------------------------------------------


def _build(path: str, checked: list[Checked], warnings: tuple[str, ...]) -> Config:
    by_kind: dict[str, dict[str, Any]] = {k: {} for k in OBJECT_TYPES}
    global_ = GlobalConfig()
    for item in checked:
        if item.kind == GLOBAL_SECTION:
            global_ = _construct(GlobalConfig, item.values)
        elif item.kind is not None:
            by_kind[item.kind][item.name] = _object(item)
    return Config(
        path=path,
        global_=global_,
        servers=by_kind["server"],
        services=by_kind["service"],
        listeners=by_kind["listener"],
        monitors=by_kind["monitor"],
        warnings=warnings,
    )


_MODELS: dict[str, type[Any]] = {
    "server": ServerConfig,
    "listener": ListenerConfig,
    "service": ServiceConfig,
    "monitor": MonitorConfig,
}
_KEEPS_RAW = frozenset({"service", "monitor"})


def _object(item: Checked) -> Any:
    assert item.kind is not None
    values = dict(item.values, name=item.name)
    if item.kind in _KEEPS_RAW:
        values["params"] = tuple(item.raw)
    return _construct(_MODELS[item.kind], values)


def _construct(model: type[Any], values: dict[str, Any]) -> Any:
    """``model(**values)`` where ``"tls.cert"``-style keys fill nested dataclasses."""
    flat: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for path, value in values.items():
        head, _, rest = path.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            flat[path] = value
    for head, fields in nested.items():
        flat[head] = nested_model(model, head)(**fields)
    return model(**flat)
