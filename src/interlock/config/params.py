"""The declarative parameter model: one :class:`Param` per MaxScale parameter.

A parameter has a name, a value type (``interlock.config.values``), MaxScale's documented
default, and a status:

- ``supported``: Interlock acts on it; ``field`` names the model attribute it fills
  (``"tls.cert"`` fills ``tls=TlsConfig(cert=...)``); Interlock's default is the model's;
- ``ignored``: a MaxScale parameter whose feature Interlock does not have yet; its value is
  still checked, then a warning names it and it is otherwise ignored (monitor and service
  sections keep such values, as written, in their ``params`` for the issue that implements
  them);
- ``rejected``: a MaxScale parameter that Interlock refuses, because ignoring it would change
  what the user asked for (e.g. a filter); using it is an error that gives the reason.

The tables themselves live in ``tables.py`` (core objects) and ``modules.py`` (routers and
monitor modules); the docs table is generated from them (``reference.py``).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from interlock.config.values import ValueType


class Status(enum.Enum):
    SUPPORTED = "supported"
    IGNORED = "ignored"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    vtype: ValueType
    status: Status
    maxscale_default: str  # as MaxScale documents it ("" when it has none)
    field: str | None = None  # model attribute path for supported parameters (None: check only)
    required: bool = False
    aliases: tuple[str, ...] = ()
    note: str = ""


def supported(
    name: str,
    vtype: ValueType,
    maxscale_default: str = "",
    *,
    field: str | None = "",
    required: bool = False,
    aliases: tuple[str, ...] = (),
    note: str = "",
) -> Param:
    """A supported parameter; ``field`` defaults to the parameter's name, None = check only."""
    target = name if field == "" else field
    return Param(name, vtype, Status.SUPPORTED, maxscale_default, target, required, aliases, note)


def ignored(
    name: str,
    vtype: ValueType,
    maxscale_default: str = "",
    *,
    aliases: tuple[str, ...] = (),
    note: str = "",
) -> Param:
    return Param(name, vtype, Status.IGNORED, maxscale_default, None, False, aliases, note)


def rejected(name: str, vtype: ValueType, maxscale_default: str = "", *, note: str) -> Param:
    return Param(name, vtype, Status.REJECTED, maxscale_default, None, False, (), note)


@dataclass(frozen=True, slots=True)
class Schema:
    """The parameters of one kind of section (``server``, ``service`` with a router, ...)."""

    kind: str
    model: type[Any]
    params: tuple[Param, ...]
    index: Mapping[str, Param] = field(default_factory=dict)
    module: str | None = None  # the router / monitor module these parameters are for

    @classmethod
    def build(
        cls, kind: str, model: type[Any], *groups: Iterable[Param], module: str | None = None
    ) -> Schema:
        params = tuple(p for group in groups for p in group)
        index: dict[str, Param] = {}
        for param in params:
            for name in (param.name, *param.aliases):
                if name in index:
                    raise ValueError(f"{kind}: parameter {name!r} defined twice")
                index[name] = param
        return cls(kind, model, params, index, module)

    def lookup(self, key: str) -> Param | None:
        return self.index.get(key)

    def names(self) -> tuple[str, ...]:
        return tuple(self.index)


def field_default(model: type[Any], path: str) -> Any:
    """The model's default for ``path`` (``"port"``, ``"tls.cert"``); raises KeyError if none."""
    head, _, rest = path.partition(".")
    for fld in dataclasses.fields(model):
        if fld.name != head:
            continue
        if fld.default is not dataclasses.MISSING:
            value = fld.default
        elif fld.default_factory is not dataclasses.MISSING:
            value = fld.default_factory()
        else:
            raise KeyError(path)
        return getattr(value, rest) if rest else value
    raise KeyError(path)


def nested_model(model: type[Any], head: str) -> type[Any]:
    """The dataclass type of a nested field (``tls`` -> TlsConfig), from its default factory."""
    for fld in dataclasses.fields(model):
        if fld.name == head and fld.default_factory is not dataclasses.MISSING:
            return type(fld.default_factory())
    raise KeyError(head)
