"""Runtime changes as sections: persistdir merged over the main file, edits re-validated by the
loader (the same errors as a file), what is saved, and what the running proxy cannot take."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from interlock.cli import main
from interlock.config.diagnostics import ConfigFileError
from interlock.config.layers import RUNTIME
from interlock.config.loader import Loaded, load_layers, parse_config, parse_text, validate
from interlock.config.runtime import (
    Change,
    Edit,
    Refusal,
    RuntimeChangeError,
    persisted_files,
    refusals,
)

MAIN = """\
[maxscale]
threads=auto
datadir=state

[server1]
type=server
address=127.0.0.1
port=3306

[server2]
type=server
address=127.0.0.2
port=3307
weight=2

[Mon]
type=monitor
module=mariadbmon
servers=server1,server2
user=mon
password=monpw

[Svc]
type=service
router=readwritesplit
targets=server1,server2
user=svc
password=svcpw

[Listener]
type=listener
service=Svc
port=4006
"""


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp working dir holding ``interlock.cnf`` (MAIN); persistdir is state/interlock.cnf.d."""
    monkeypatch.chdir(tmp_path)
    Path("interlock.cnf").write_text(MAIN)
    return tmp_path


def persisted(name: str, text: str) -> Path:
    directory = Path("state/interlock.cnf.d")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def load() -> Loaded:
    return load_layers("interlock.cnf")


def errors_of(action: Callable[[], object]) -> list[str]:
    with pytest.raises(ConfigFileError) as caught:
        action()
    return list(caught.value.errors)


def save(change: Change) -> None:
    """What runtime_apply does with the files (without the atomic rename)."""
    files, _ = persisted_files(change, "2024-05-02T10:00:00+00:00")
    for item in files:
        if item.text is None:
            os.unlink(item.path)
        else:
            Path(item.path).parent.mkdir(parents=True, exist_ok=True)
            Path(item.path).write_text(item.text)


# -- persistdir at start --------------------------------------------------------------------


def test_defaults_persistdir_under_datadir(here: Path) -> None:
    config = load().config
    assert config.global_.persistdir == str(here / "state" / "interlock.cnf.d")
    assert config.global_.load_persisted_configs is True
    plain = parse_text(MAIN.replace("datadir=state\n", ""), "x.cnf")
    assert plain.global_.persistdir == "/var/lib/interlock/interlock.cnf.d"
    explicit = parse_text(MAIN.replace("datadir=state", "persistdir=runtime"), "/etc/x.cnf")
    assert explicit.global_.persistdir == "/etc/runtime"


def test_a_persisted_section_replaces_the_main_one_whole(here: Path) -> None:
    persisted("server2.cnf", "[server2]\ntype=server\naddress=10.0.0.9\n")
    config = load().config
    server2 = config.servers["server2"]
    assert (server2.address, server2.port, server2.weight) == ("10.0.0.9", 3306, 1.0)
    assert config.servers["server1"].address == "127.0.0.1"
    assert f"{here}/state/interlock.cnf.d/server2.cnf:1: [server2] replaces [server2] of " \
           "interlock.cnf:10 (a runtime change; delete this file to use the main file's " \
           "section again)" in config.warnings


def test_a_persisted_object_is_added_after_the_main_file(here: Path) -> None:
    persisted("server3.cnf", "[server3]\ntype=server\naddress=10.0.0.3\n")
    persisted("Svc.cnf", MAIN[MAIN.index("[Svc]"):MAIN.index("[Listener]")].replace(
        "server1,server2", "server1,server2,server3"))
    persisted("Mon.cnf", MAIN[MAIN.index("[Mon]"):MAIN.index("[Svc]")].replace(
        "server1,server2", "server1,server2,server3"))
    config = load().config
    assert list(config.servers) == ["server1", "server2", "server3"]
    assert config.services["Svc"].servers == ("server1", "server2", "server3")


def test_errors_name_the_persisted_file_and_line(here: Path) -> None:
    persisted("server2.cnf", "# saved\n[server2]\ntype=server\naddress=x\nport=abc\n")
    assert errors_of(load) == [
        f"{here}/state/interlock.cnf.d/server2.cnf:5: [server2] invalid value for 'port': "
        "'abc' is not an integer; expected an integer from 1 to 65535"]


def test_interlock_check_validates_the_merged_configuration(
        here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    persisted("server9.cnf", "[server9]\ntype=server\nadress=10.0.0.9\n")
    assert main(["check", "-c", "interlock.cnf"]) == 1
    _, err = capsys.readouterr()
    assert "interlock.cnf.d/server9.cnf:3: [server9] unknown parameter 'adress'; did you mean " \
           "'address'?" in err


def test_load_persisted_configs_false_reads_nothing(here: Path) -> None:
    persisted("server2.cnf", "[server2]\ntype=server\naddress=10.0.0.9\nport=bad\n")
    Path("interlock.cnf").write_text(MAIN.replace("threads=auto",
                                                  "threads=auto\nload_persisted_configs=false"))
    config = load().config
    assert config.global_.load_persisted_configs is False
    assert config.servers["server2"].address == "127.0.0.2"


def test_global_section_and_doubles_in_persistdir_are_errors(here: Path) -> None:
    persisted("a.cnf", "[maxscale]\nthreads=2\n")
    persisted("b.cnf", "[server2]\ntype=server\naddress=x\n")
    persisted("c.cnf", "[server2]\ntype=server\naddress=y\n")
    found = errors_of(load)
    assert any("a.cnf:1: a [maxscale] section cannot be in the persisted directory" in e
               for e in found)
    assert any("c.cnf:1: [server2] is also defined in " in e and "b.cnf:1" in e for e in found)


def test_other_files_and_a_missing_directory_are_fine(here: Path) -> None:
    assert load().config.servers["server2"].port == 3307  # no directory yet
    persisted("notes.txt", "not a config")
    persisted(".server2.cnf.123.tmp", "[server2]\nbroken")
    assert load().config.servers["server2"].port == 3307


def test_a_tombstone_removes_the_main_section(here: Path) -> None:
    persisted("Svc.cnf", MAIN[MAIN.index("[Svc]"):MAIN.index("[Listener]")].replace(
        "server1,server2", "server1"))
    persisted("Mon.cnf", MAIN[MAIN.index("[Mon]"):MAIN.index("[Svc]")].replace(
        "server1,server2", "server1"))
    persisted("server2.cnf", "[server2]\ntype=server\ndestroyed=true\n")
    config = load().config
    assert list(config.servers) == ["server1"]
    assert any("[server2] of interlock.cnf:10 was destroyed at runtime" in w
               for w in config.warnings)


def test_a_tombstone_of_a_server_still_in_use_is_a_reference_error(here: Path) -> None:
    persisted("server2.cnf", "[server2]\ntype=server\ndestroyed=true\n")
    found = errors_of(load)
    assert "interlock.cnf:19: [Mon] servers: server 'server2' does not exist" in found[0]


def test_a_bad_tombstone_is_an_error(here: Path) -> None:
    persisted("server2.cnf", "[server2]\ntype=server\ndestroyed=true\nport=1\n")
    persisted("Svc.cnf", "[Svc]\ntype=monitor\ndestroyed=true\n")
    found = errors_of(load)
    assert any("server2.cnf:3: [server2] port: a destroyed object's section has only" in e
               for e in found)
    assert any("Svc.cnf:1: [Svc] type=monitor does not match the destroyed section of "
               "interlock.cnf:23 (type=service)" in e for e in found)


# -- edits ----------------------------------------------------------------------------------


def test_a_bad_value_gets_the_loaders_error(here: Path) -> None:
    loaded = load()
    edit = Edit(loaded.layers)
    edit.alter("server", "server2", {"port": "abc", "weight": "-1"})
    found = errors_of(lambda: validate(edit.result().layers))
    in_file = errors_of(lambda: parse_text(MAIN.replace("port=3307", "port=abc")
                                           .replace("weight=2", "weight=-1"), "interlock.cnf"))
    assert found == [f"{RUNTIME}: " + e.split(": ", 1)[1] for e in in_file]
    assert found[0] == ("runtime change: [server2] invalid value for 'port': 'abc' is not an "
                        "integer; expected an integer from 1 to 65535")


def test_unknown_parameters_and_missing_units_as_in_a_file(here: Path) -> None:
    edit = Edit(load().layers)
    edit.alter("monitor", "Mon", {"monitor_intervall": "5s"})
    edit.alter("service", "Svc", {"connection_keepalive": "300"})
    found = errors_of(lambda: validate(edit.result().layers))
    assert found == [
        "runtime change: [Mon] unknown parameter 'monitor_intervall'; did you mean "
        "'monitor_interval'?",
        "runtime change: [Svc] invalid value for 'connection_keepalive': '300' has no unit; "
        "expected a whole number with a unit: ms, s, m or h (e.g. 2s, 500ms)",
    ]


def test_create_link_save_and_load_again(here: Path) -> None:
    loaded = load()
    edit = Edit(loaded.layers)
    edit.create("server", "server3", {"address": "127.0.0.3", "port": "3308", "priority": "2"})
    edit.set_owners("server3", "monitor", ["Mon"])
    edit.set_owners("server3", "service", ["Svc"])
    change = edit.result()
    config = validate(change.layers)
    assert config.services["Svc"].servers == ("server1", "server2", "server3")
    assert config.monitors["Mon"].servers == ("server1", "server2", "server3")
    assert [name for name, _ in change.touched] == ["server3", "Mon", "Svc"]
    save(change)
    again = load().config
    assert (again.servers, again.services, again.monitors) == (
        config.servers, config.services, config.monitors)
    text = Path("state/interlock.cnf.d/server3.cnf").read_text()
    assert text.splitlines()[2:] == ["[server3]", "type=server", "address=127.0.0.3",
                                     "port=3308", "priority=2"]
    svc = Path("state/interlock.cnf.d/Svc.cnf").read_text()
    assert "targets=server1,server2,server3\n" in svc and "password=svcpw\n" in svc


def test_saved_files_private_when_they_hold_a_password(here: Path) -> None:
    edit = Edit(load().layers)
    edit.alter("service", "Svc", {"max_slave_connections": "1"})
    edit.alter("server", "server1", {"port": "3310"})
    files, layers = persisted_files(edit.result(), "now")
    assert {Path(f.path).name: f.private for f in files} == {"Svc.cnf": True,
                                                            "server1.cnf": False}
    svc = layers.find("Svc")
    assert svc is not None and svc.path.endswith("Svc.cnf")
    assert files[0].text is not None
    numbered = files[0].text.splitlines()
    assert all(numbered[e.line - 1] == f"{e.key}={e.value}" for e in svc.section.entries)


def test_errors_after_saving_name_the_saved_file(here: Path) -> None:
    edit = Edit(load().layers)
    edit.alter("server", "server2", {"port": "3399"})
    change = edit.result()
    save(change)
    _, layers = persisted_files(change, "now")
    bad = Edit(layers)
    bad.alter("server", "server1", {"port": "0"})
    assert errors_of(lambda: validate(bad.result().layers)) == [
        "runtime change: [server1] invalid value for 'port': 0 is out of range; expected an "
        "integer from 1 to 65535"]


def test_alias_replaces_the_other_spelling_and_none_removes(here: Path) -> None:
    edit = Edit(load().layers)
    edit.alter("service", "Svc", {"servers": "server1", "wait_timeout": "10s"})
    edit.alter("server", "server2", {"weight": None})
    layers = edit.result().layers
    svc, server2 = layers.find("Svc"), layers.find("server2")
    assert svc is not None and server2 is not None
    assert [e.key for e in svc.section.entries] == ["type", "router", "servers", "user",
                                                    "password", "wait_timeout"]
    config = validate(layers)
    assert config.servers["server2"].weight == 1.0
    assert config.services["Svc"].client_idle_timeout == 10.0


def test_relative_paths_become_absolute_when_saved(here: Path) -> None:
    Path("certs").mkdir()
    for name in ("cert.pem", "key.pem"):
        Path("certs", name).write_text("x")
    edit = Edit(load().layers)
    edit.alter("server", "server1", {"ssl": "true", "ssl_cert": "certs/cert.pem",
                                     "ssl_key": "certs/key.pem"})
    section = edit.result().layers.find("server1")
    assert section is not None
    assert section.value("ssl_cert") == str(here / "certs" / "cert.pem")
    assert validate(edit.result().layers).servers["server1"].tls.key == str(
        here / "certs" / "key.pem")


def test_nothing_changed_touches_nothing(here: Path) -> None:
    edit = Edit(load().layers)
    edit.alter("server", "server2", {"port": "3307"})
    edit.set_servers("monitor", "Mon", ["server1", "server2"])
    change = edit.result()
    assert change.touched == ()
    section = change.layers.find("server2")
    assert section is not None and section.path == "interlock.cnf"


@pytest.mark.parametrize(("action", "reason", "text"), [
    (lambda e: e.alter("server", "nope", {"port": "1"}), Refusal.NOT_FOUND, "no server 'nope'"),
    (lambda e: e.alter("server", "Svc", {"port": "1"}), Refusal.NOT_FOUND, "no server 'Svc'"),
    (lambda e: e.create("server", "Svc", {"address": "x"}), Refusal.EXISTS,
     "an object named 'Svc' already exists (a service)"),
    (lambda e: e.create("server", "bad name", {"address": "x"}), Refusal.BAD_REQUEST,
     "invalid section name '[bad name]'"),
    (lambda e: e.create("server", "maxscale", {"address": "x"}), Refusal.BAD_REQUEST,
     "the global section"),
    (lambda e: e.alter("server", "server1", {"address": "x\n[evil]"}), Refusal.BAD_REQUEST,
     "must be one line"),
    (lambda e: e.alter("server", "server1", {"a=b": "1"}), Refusal.BAD_REQUEST,
     "invalid parameter name"),
    (lambda e: e.alter("service", "Svc", {"router": "readconnroute"}), Refusal.NOT_AT_RUNTIME,
     "[Svc] router cannot be changed at runtime (it is readwritesplit)"),
    (lambda e: e.alter("monitor", "Mon", {"type": "server"}), Refusal.NOT_AT_RUNTIME,
     "type cannot be changed"),
    (lambda e: e.destroy("server", "server2"), Refusal.IN_USE,
     "server 'server2' is used by monitor 'Mon', service 'Svc'; unlink it first, or destroy it "
     "with force=yes"),
    (lambda e: e.destroy("service", "Svc", True), Refusal.IN_USE,
     "service 'Svc' is used by listener 'Listener'; destroy its listeners first"),
])
def test_refused_edits(here: Path, action: Callable[[Edit], None], reason: Refusal,
                       text: str) -> None:
    with pytest.raises(RuntimeChangeError) as caught:
        action(Edit(load().layers))
    assert caught.value.reason is reason
    assert text in caught.value.message


def test_same_router_in_another_case_is_not_a_change(here: Path) -> None:
    edit = Edit(load().layers)
    edit.alter("service", "Svc", {"router": "ReadWriteSplit", "causal_reads": "local"})
    assert validate(edit.result().layers).services["Svc"].routing.causal_reads == "local"


def test_destroy_with_force_unlinks_and_a_main_object_leaves_a_tombstone(here: Path) -> None:
    edit = Edit(load().layers)
    edit.destroy("server", "server2", force=True)
    change = edit.result()
    config = validate(change.layers)
    assert list(config.servers) == ["server1"]
    assert config.services["Svc"].servers == ("server1",)
    save(change)
    assert Path("state/interlock.cnf.d/server2.cnf").read_text().splitlines()[2:] == [
        "[server2]", "type=server", "destroyed=true"]
    assert list(load().config.servers) == ["server1"]


def test_destroying_a_runtime_object_removes_its_file(here: Path) -> None:
    edit = Edit(load().layers)
    edit.create("server", "server3", {"address": "10.0.0.3"})
    save(edit.result())
    assert Path("state/interlock.cnf.d/server3.cnf").exists()
    edit = Edit(load().layers)
    edit.destroy("server", "server3")
    save(edit.result())
    assert not Path("state/interlock.cnf.d/server3.cnf").exists()
    assert list(load().config.servers) == ["server1", "server2"]


def test_recreating_a_destroyed_main_object_replaces_the_tombstone(here: Path) -> None:
    edit = Edit(load().layers)
    edit.destroy("server", "server2", force=True)
    save(edit.result())
    edit = Edit(load().layers)
    edit.create("server", "server2", {"address": "10.0.0.22"})
    edit.set_owners("server2", "monitor", ["Mon"])
    save(edit.result())
    config = load().config
    assert config.servers["server2"].address == "10.0.0.22"
    assert config.monitors["Mon"].servers == ("server1", "server2")


def test_a_foreign_persisted_file_is_not_rewritten(here: Path) -> None:
    persisted("extra.cnf", "[server3]\ntype=server\naddress=a\n\n[server4]\ntype=server\n"
                           "address=b\n")
    edit = Edit(load().layers)
    with pytest.raises(RuntimeChangeError) as caught:
        edit.alter("server", "server3", {"port": "1"})
    assert caught.value.reason is Refusal.NOT_AT_RUNTIME
    assert "a file Interlock did not write" in caught.value.message


def test_create_needs_its_required_parameters(here: Path) -> None:
    edit = Edit(load().layers)
    edit.create("monitor", "Mon2", {"module": "mariadbmon", "servers": "server1"})
    assert errors_of(lambda: validate(edit.result().layers)) == [
        "runtime change: [Mon2] missing parameter 'user'; expected user=<text (not empty)>",
        "runtime change: [Mon2] missing parameter 'password'; expected password=<a password>",
        "runtime change: [Mon2] servers: server 'server1' is already monitored by [Mon]; a "
        "server can be in one monitor only",
    ]


# -- what the running proxy cannot take -----------------------------------------------------


def test_refusals_when_a_service_would_lose_its_monitor(here: Path) -> None:
    loaded = load()
    edit = Edit(loaded.layers)
    edit.create("server", "server3", {"address": "10.0.0.3"})
    edit.set_owners("server3", "service", ["Svc"])
    new = validate(edit.result().layers)
    assert refusals(loaded.config, new) == (
        "service 'Svc' routes by the roles monitor 'Mon' gives its servers; after this change "
        "server(s) server3 would not be monitored by 'Mon': link the servers to 'Mon' first "
        "(or unlink them from the service)",)
    edit.set_owners("server3", "monitor", ["Mon"])
    assert refusals(loaded.config, validate(edit.result().layers)) == ()


def test_refusals_when_a_static_service_would_get_a_monitor(here: Path) -> None:
    Path("interlock.cnf").write_text(MAIN.replace("servers=server1,server2", "servers=server1"))
    loaded = load()
    edit = Edit(loaded.layers)
    edit.set_servers("service", "Svc", ["server1"])
    found = refusals(loaded.config, validate(edit.result().layers))
    assert found == ("service 'Svc' would switch from static roles to monitor 'Mon', which "
                     "cannot happen at runtime; make the change in the configuration file and "
                     "restart",)


def test_parse_config_equals_load_layers(here: Path) -> None:
    persisted("server2.cnf", "[server2]\ntype=server\naddress=10.0.0.9\n")
    assert parse_config("interlock.cnf") == load().config
