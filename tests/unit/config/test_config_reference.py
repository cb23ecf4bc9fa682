"""The docs' parameter tables are generated from the code's tables; they must agree."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from interlock.cli import main
from interlock.config import reference
from interlock.config.model import (
    GlobalConfig,
    ListenerConfig,
    MonitorConfig,
    MonitorParams,
    RouterParams,
    ServerConfig,
    ServiceConfig,
    TlsConfig,
)
from interlock.config.modules import MONITOR_MODULES, ROUTERS
from interlock.config.params import Schema, Status, field_default
from interlock.config.tables import global_schema, object_schema

DOC = Path(__file__).parents[3] / "docs" / "configuration.md"

SCHEMAS = [
    global_schema(),
    object_schema("server"),
    object_schema("listener"),
    *(object_schema("service", r) for r in ROUTERS),
    *(object_schema("monitor", m) for m in MONITOR_MODULES),
]


def test_docs_table_matches_the_code() -> None:
    document = DOC.read_text(encoding="utf-8")
    assert reference.generated_block(document) == reference.render_tables().strip("\n"), (
        "docs/configuration.md is out of date: run "
        "`uv run python -m interlock.config.reference --write docs/configuration.md`"
    )


def test_replace_block_is_idempotent() -> None:
    document = DOC.read_text(encoding="utf-8")
    assert reference.replace_block(reference.replace_block(document)) == reference.replace_block(
        document
    )


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: f"{s.kind}-{s.module}")
def test_supported_fields_exist_and_defaults_render(schema: Schema) -> None:
    checked = 0
    for param in schema.params:
        if param.status is not Status.SUPPORTED or param.field is None:
            continue
        checked += 1
        if param.required:
            assert param.field in {f.name for f in dataclasses.fields(schema.model)}
            continue
        default = field_default(schema.model, param.field)
        if default is not None:
            assert param.vtype.parse(param.vtype.render(default)) == default
    assert checked >= 4


def test_every_model_field_has_a_parameter() -> None:
    """A model field nobody can set is a table that forgot a parameter."""
    set_by_config = {"name", "params", "path"}
    for model, schema in [
        (GlobalConfig, global_schema()),
        (ServerConfig, object_schema("server")),
        (ListenerConfig, object_schema("listener")),
        (ServiceConfig, object_schema("service", "readwritesplit")),
        (MonitorConfig, object_schema("monitor", "mariadbmon")),
    ]:
        fields = {p.field for p in schema.params if p.field}
        for fld in dataclasses.fields(model):
            if fld.name in set_by_config:
                continue
            if fld.name == "routing":  # router parameters: filled by either router's table
                routers = object_schema("service", "readconnroute")
                both = fields | {p.field for p in routers.params if p.field}
                nested = {f"routing.{f.name}" for f in dataclasses.fields(RouterParams)}
                assert nested <= both, (model.__name__, nested - both)
            elif fld.name == "mariadbmon":  # the monitor module's parameters
                nested = {f"mariadbmon.{f.name}" for f in dataclasses.fields(MonitorParams)}
                assert nested <= fields, (model.__name__, nested - fields)
            elif fld.name == "tls":
                nested = {f"tls.{f.name}" for f in dataclasses.fields(TlsConfig)}
                unused = {"tls.verify_peer_certificate"} if model is ListenerConfig else set()
                expected = nested - unused
                assert expected <= fields, (model.__name__, expected - fields)
            else:
                assert fld.name in fields, (model.__name__, fld.name)


def test_statuses_are_documented() -> None:
    document = DOC.read_text(encoding="utf-8")
    for word in ("supported", "ignored (warning)", "rejected (error)"):
        assert word in document


def test_the_error_example_in_the_docs_is_real_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    document = DOC.read_text(encoding="utf-8")
    example = document[document.index("For this file:") :]
    cnf_text = example.split("```ini\n", 1)[1].split("```", 1)[0]
    shown = example.split("$ interlock check -c interlock.cnf\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "interlock.cnf").write_text(cnf_text, encoding="utf-8")
    assert main(["check", "-c", "interlock.cnf"]) == 1
    out, err = capsys.readouterr()
    assert out + err == shown
