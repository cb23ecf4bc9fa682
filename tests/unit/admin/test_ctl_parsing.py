"""``interlock ctl``'s command line: options before or after the verb, hosts, timeouts,
``KEY=VALUE`` parameters, and where the address and password come from (``-c FILE``,
``--datadir``, the generated password file)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from interlock.admin.ctl import settings
from interlock.admin.ctl.cli import connection_options, milliseconds
from interlock.admin.ctl.client import CtlError, Endpoint, Exit, parse_endpoint, query_string
from interlock.admin.ctl.commands import COMMANDS
from interlock.admin.ctl.objects import key_values
from interlock.cli import build_parser


def parse(*argv: str) -> argparse.Namespace:
    return build_parser(["ctl"]).parse_args(["ctl", *argv])


def test_connection_options_work_before_and_after_the_verb() -> None:
    before = parse("-h", "db1:9000", "-u", "ops", "--tsv", "list", "servers")
    after = parse("list", "servers", "-h", "db1:9000", "-u", "ops", "--tsv")
    middle = parse("list", "-h", "db1:9000", "servers", "-u", "ops", "--tsv")
    for args in (before, after, middle):
        assert (args.hosts, args.user, args.tsv, args.json) == ("db1:9000", "ops", True, False)
        assert args.noun == "servers"


def test_defaults_when_no_option_is_given() -> None:
    args = parse("show", "server", "server1")
    assert (args.hosts, args.user, args.password, args.config, args.timeout) == (
        None, None, None, None, None)
    assert args.tls_verify_server_cert is True and args.name == "server1"


def test_bad_usage_exits_2() -> None:
    for argv in (["list", "bogus"], ["set", "server", "s1", "readonly"], ["show", "server"],
                 ["list"], []):
        with pytest.raises(SystemExit) as exc:
            parse(*argv)
        assert exc.value.code == 2, argv


def test_shortcuts_and_call_command() -> None:
    args = parse("switchover", "--to", "server2")
    assert (args.to, args.monitor) == ("server2", None)
    args = parse("call", "command", "mariadbmon", "switchover", "Mon", "server2", "server1")
    assert (args.module, args.command_name, args.params) == (
        "mariadbmon", "switchover", ["Mon", "server2", "server1"])
    assert parse("rejoin", "server1", "--monitor", "M").server == "server1"
    assert parse("api", "patch", "/v1/servers/s1", "{}").method == "PATCH"


@pytest.mark.parametrize(("text", "expected"), [
    ("1000", 1000.0), ("250ms", 250.0), ("30s", 30_000.0), ("2m", 120_000.0), ("1.5s", 1500.0),
])
def test_timeouts_are_milliseconds_or_durations(text: str, expected: float) -> None:
    assert milliseconds(text) == expected


def test_a_bad_timeout_is_refused() -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        milliseconds("soon")


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:8989", Endpoint("127.0.0.1", 8989)),
    ("db1", Endpoint("db1", 8989)),
    ("[::1]:9000", Endpoint("::1", 9000)),
    ("https://db1:443/", Endpoint("db1", 443, secure=True)),
    ("http://db1:80", Endpoint("db1", 80)),
])
def test_hosts(text: str, expected: Endpoint) -> None:
    assert parse_endpoint(text) == expected


def test_a_v6_address_is_written_back_with_brackets() -> None:
    assert Endpoint("::1", 9000, True).base == "https://[::1]:9000"


@pytest.mark.parametrize("text", ["db1:notaport", ":8989", "db1:70000", "ftp://db1:21"])
def test_bad_hosts_are_usage_errors(text: str) -> None:
    with pytest.raises(CtlError) as exc:
        parse_endpoint(text)
    assert exc.value.exit is Exit.USAGE


def test_module_command_arguments_are_bare_query_keys() -> None:
    assert query_string(["Replication-Monitor", "server2"]) == "?Replication-Monitor&server2"
    assert query_string([("state", "maintenance"), ("force", "yes")]) == (
        "?state=maintenance&force=yes")
    assert query_string(["a b&c"]) == "?a%20b%26c"
    assert query_string([]) == ""


def test_parameters() -> None:
    assert key_values(["port=3307", "weight = 2"]) == {"port": "3307", "weight": "2"}
    assert key_values(["port", "3307", "weight", "2"], pairs=True) == {"port": "3307",
                                                                       "weight": "2"}
    assert key_values(["weight", "2", "priority=3"], pairs=True) == {"weight": "2",
                                                                      "priority": "3"}
    assert key_values(["a=1=2"]) == {"a": "1=2"}
    for bad, pairs in ((["port"], False), (["port", "1", "weight"], True), (["=1"], False)):
        with pytest.raises(CtlError) as exc:
            key_values(bad, pairs)
        assert exc.value.exit is Exit.USAGE


def write_config(path: Path, body: str) -> str:
    path.write_text(f"[maxscale]\n{body}\n[server1]\ntype=server\naddress=127.0.0.1\n")
    return str(path)


def test_the_config_gives_address_tls_and_datadir(tmp_path: Path) -> None:
    config = write_config(tmp_path / "proxy.cnf", "admin_host=0.0.0.0\nadmin_port=9100\n"
                          "admin_ssl_cert=tls/cert.pem\nadmin_ssl_ca=/etc/ca.pem\n"
                          "datadir=state\n")
    args = parse("-c", config, "list", "servers")
    found = settings.read_config(config)
    assert found.datadir == str(tmp_path / "state")  # relative to the file, as the loader
    assert settings.endpoints(args, found) == [Endpoint("127.0.0.1", 9100, secure=True)]
    assert settings.tls(args, found).ca_file == "/etc/ca.pem"
    explicit = parse("-c", config, "-h", "db1:1,db2:2", "list", "servers")
    assert [e.address for e in settings.endpoints(explicit, found)] == ["db1:1", "db2:2"]
    assert all(e.secure for e in settings.endpoints(explicit, found))


def test_without_a_config_the_default_is_local_8989() -> None:
    args = parse("list", "servers")
    assert settings.endpoints(args, settings.ProxyConfig()) == [Endpoint("127.0.0.1", 8989)]
    assert parse("-s", "list", "servers").secure is True


def test_the_password_comes_from_the_generated_file(tmp_path: Path) -> None:
    (tmp_path / "admin-password").write_text("admin:s3cret-generated\n")
    config = settings.ProxyConfig(datadir=str(tmp_path))
    assert settings.credentials(parse("list", "servers"), config) == (
        "admin", "s3cret-generated")
    assert settings.credentials(parse("-u", "admin", "list", "servers"), config) == (
        "admin", "s3cret-generated")
    assert settings.credentials(parse("-u", "ops", "-p", "pw", "list", "servers"),
                                config) == ("ops", "pw")
    assert settings.credentials(parse("-p", "pw", "list", "servers"), config) == (
        "admin", "pw")
    with pytest.raises(CtlError) as exc:
        settings.credentials(parse("-u", "ops", "list", "servers"), config)
    assert exc.value.exit is Exit.USAGE
    elsewhere = parse("--datadir", str(tmp_path / "none"), "list", "servers")
    assert settings.credentials(elsewhere, config) is None


def test_an_unreadable_config_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(CtlError) as exc:
        settings.read_config(str(tmp_path / "missing.cnf"))
    assert exc.value.exit is Exit.USAGE


def _dest(flags: tuple[str, ...], options: dict[str, object]) -> str:
    if "dest" in options:
        return str(options["dest"])
    long = [f for f in flags if f.startswith("--")] or list(flags)
    return long[0].lstrip("-").replace("-", "_")


def test_no_command_argument_shadows_a_connection_option() -> None:
    """``create user NAME PASSWORD`` once stored PASSWORD where ``-p`` keeps the API
    password: every command's own arguments must have other names."""
    parser = argparse.ArgumentParser(add_help=False)
    connection_options(parser, top=True)
    reserved = {action.dest for action in parser._actions} | {"handler", "func", "verb", "noun"}
    for command in COMMANDS:
        for spec in command.args:
            dest = _dest(spec.flags, dict(spec.options))
            assert dest not in reserved, (command.verb, command.noun, dest)
        assert not set(command.defaults) & reserved
