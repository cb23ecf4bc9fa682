"""The parameter reference of ``docs/configuration.md``, generated from the parameter tables.

``python -m interlock.config.reference`` prints the tables; ``--write docs/configuration.md``
replaces the generated block of that file.  A unit test fails when the docs and the tables
disagree, so the tables stay the single source of truth.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from interlock.config.modules import MONITOR_MODULES, ROUTERS
from interlock.config.params import Param, Status, field_default
from interlock.config.tables import (
    GLOBAL,
    LISTENER,
    MONITOR,
    SERVER,
    SERVICE,
    global_schema,
    object_schema,
)

BEGIN = "<!-- BEGIN GENERATED PARAMETER TABLES: python -m interlock.config.reference -->"
END = "<!-- END GENERATED PARAMETER TABLES -->"

_HEADER = (
    "| Parameter | Status | Form | MaxScale default | Interlock default | Notes |\n"
    "|---|---|---|---|---|---|"
)

_STATUS = {
    Status.SUPPORTED: "supported",
    Status.IGNORED: "ignored (warning)",
    Status.REJECTED: "rejected (error)",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if text else "—"


def _interlock_default(param: Param, model: type) -> str:
    if param.status is not Status.SUPPORTED:
        return ""
    if param.required:
        return "required"
    if param.field is None:
        return param.maxscale_default
    value = field_default(model, param.field)
    return "none" if value is None else param.vtype.render(value)


def _row(param: Param, model: type) -> str:
    name = f"`{param.name}`" + "".join(f" (alias `{a}`)" for a in param.aliases)
    cells = (
        name,
        _STATUS[param.status],
        _cell(param.vtype.expected if param.vtype.form.startswith("enum") else param.vtype.form),
        _cell(param.maxscale_default),
        _cell(_interlock_default(param, model)),
        _cell(param.note),
    )
    return "| " + " | ".join(cells) + " |"


def _table(title: str, params: Iterable[Param], model: type) -> str:
    rows = "\n".join(_row(p, model) for p in params)
    return f"### {title}\n\n{_HEADER}\n{rows}\n"


def render_tables() -> str:
    """Every parameter table, as Markdown."""
    parts = [
        _table("`[maxscale]`: global settings", GLOBAL, global_schema().model),
        _table("`type=server`", SERVER, object_schema("server").model),
        _table("`type=listener`", LISTENER, object_schema("listener").model),
        _table("`type=service`: every router", SERVICE, object_schema("service").model),
        *(
            _table(f"`router={name}`", params, object_schema("service", name).model)
            for name, params in ROUTERS.items()
        ),
        _table("`type=monitor`: every module", MONITOR, object_schema("monitor").model),
        *(
            _table(f"`module={name}`", params, object_schema("monitor", name).model)
            for name, params in MONITOR_MODULES.items()
        ),
    ]
    return "\n".join(parts)


def generated_block(document: str) -> str:
    """The text between the BEGIN and END markers of ``document`` (ValueError if absent)."""
    start = document.index(BEGIN) + len(BEGIN)
    return document[start : document.index(END, start)].strip("\n")


def replace_block(document: str) -> str:
    start = document.index(BEGIN) + len(BEGIN)
    end = document.index(END, start)
    return f"{document[:start]}\n{render_tables()}\n{document[end:]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="FILE", help="replace the generated block of FILE")
    args = parser.parse_args(argv)
    if args.write is None:
        sys.stdout.write(render_tables())
        return 0
    with open(args.write, encoding="utf-8") as handle:
        document = handle.read()
    with open(args.write, "w", encoding="utf-8") as handle:
        handle.write(replace_block(document))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
