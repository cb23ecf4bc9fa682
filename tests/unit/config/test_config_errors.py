"""Bad configuration files: every kind of error, with its exact message.

BASE (config_helpers.py) is valid; each case edits it.  Line numbers of BASE:
1 [maxscale]  3 [server1]  6 port=3306  7 [Read-Write-Service]  9 router  10 servers
13 [Read-Write-Listener]  15 service  16 port=4006.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from config_helpers import BASE

from interlock.config.diagnostics import ConfigFileError
from interlock.config.loader import parse_config
from interlock.errors import ConfigError

Errors = Callable[[str], list[str]]


def edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


CASES: list[tuple[str, str, list[str]]] = [
    # -- INI syntax ---------------------------------------------------------------------------
    (
        "unreadable line",
        edit("threads=auto", "threads auto"),
        [
            "interlock.cnf:2: [maxscale] cannot read 'threads auto'; expected [section], "
            "key=value, or a comment starting with # or ;"
        ],
    ),
    (
        "key before any section",
        "threads=auto\n" + BASE,
        [
            "interlock.cnf:1: 'threads=auto' comes before any [section]; "
            "put it under a section header such as [maxscale]"
        ],
    ),
    (
        "continuation line",
        edit("servers=server1\n", "servers=server1\n    server2\n"),
        [
            "interlock.cnf:11: [Read-Write-Service] indented line 'server2': continuation lines "
            "are not supported; write each parameter as key=value on one line, starting in the "
            "first column"
        ],
    ),
    (
        "malformed section header",
        edit("[server1]", "[server1"),
        [
            "interlock.cnf:3: malformed section header '[server1'; expected [name]",
            "interlock.cnf:10: [Read-Write-Service] servers: server 'server1' does not exist; "
            "expected the name of a section with type=server",
        ],
    ),
    (
        "invalid section name",
        edit("[Read-Write-Listener]", "[Read Write Listener]"),
        [
            "interlock.cnf:13: invalid section name '[Read Write Listener]'; a name may contain "
            "only letters, digits and the characters _ . ~ -",
            "interlock.cnf: no listener defined; add a section with type=listener, "
            "service=<service name> and port=<port>",
        ],
    ),
    (
        "duplicate section",
        BASE + "[server1]\ntype=server\naddress=10.0.0.1\n",
        [
            "interlock.cnf:17: duplicate section [server1] (first defined at line 3); "
            "every section name must be unique"
        ],
    ),
    (
        "duplicate parameter",
        edit("port=3306\n", "port=3306\nport=3307\n"),
        [
            "interlock.cnf:7: [server1] duplicate parameter 'port' (first set at line 6); "
            "set each parameter once"
        ],
    ),
    (
        "no parameter name",
        edit("port=3306", "=3306"),
        ["interlock.cnf:6: [server1] '=3306' has no parameter name; expected key=value"],
    ),
    (
        "second global section",
        BASE + "[MaxScale]\nthreads=2\n",
        [
            "interlock.cnf:17: a second global section [MaxScale] (the first is at line 1); "
            "merge them into one [maxscale]"
        ],
    ),
    # -- types ----------------------------------------------------------------------------------
    (
        "missing type",
        edit("type=server\n", ""),
        [
            "interlock.cnf:3: [server1] missing parameter 'type'; "
            "expected type=server|service|listener|monitor"
        ],
    ),
    (
        "unknown type",
        edit("type=server", "type=sever"),
        [
            "interlock.cnf:4: [server1] unknown type 'sever' (did you mean 'server'?); "
            "expected one of: server, service, listener, monitor"
        ],
    ),
    (
        "filters are rejected",
        BASE + "[cache]\ntype=filter\nmodule=cache\n",
        [
            "interlock.cnf:18: [cache] type=filter is not supported: Interlock has no filters; "
            "remove the section and the services' filters="
        ],
    ),
    # -- parameters -------------------------------------------------------------------------
    (
        "unknown parameter with a near name",
        edit("address=127.0.0.1", "adress=127.0.0.1"),
        # the misspelt key is not reported a second time as a missing 'address'
        ["interlock.cnf:5: [server1] unknown parameter 'adress'; did you mean 'address'?"],
    ),
    (
        "missing required parameter",
        edit("address=127.0.0.1\n", ""),
        [
            "interlock.cnf:3: [server1] missing parameter 'address'; "
            "expected address=<a host name or IP address (not empty)>"
        ],
    ),
    (
        "unknown parameter without a near name",
        edit("port=3306", "frobnicate=3306"),
        ["interlock.cnf:6: [server1] unknown parameter 'frobnicate' for a server"],
    ),
    (
        "service parameter in a listener",
        edit("port=4006", "port=4006\nconnection_keepalive=10s"),
        [
            "interlock.cnf:17: [Read-Write-Listener] unknown parameter 'connection_keepalive' "
            "for a listener ('connection_keepalive' is a parameter of a service)"
        ],
    ),
    (
        "parameter of another object type",
        edit("port=3306", "port=3306\nrouter=readwritesplit"),
        [
            "interlock.cnf:7: [server1] unknown parameter 'router' for a server "
            "('router' is a parameter of a service)"
        ],
    ),
    (
        "rejected parameter",
        edit("password=maxscale\n", "password=maxscale\nfilters=Cache\n"),
        [
            "interlock.cnf:13: [Read-Write-Service] parameter 'filters' is not supported by "
            "Interlock: Interlock has no filters"
        ],
    ),
    (
        "an alias and its parameter both set",
        edit("servers=server1\n", "servers=server1\ntargets=server1\n"),
        [
            "interlock.cnf:11: [Read-Write-Service] 'targets' and 'servers' (line 10) are the "
            "same parameter; set it once"
        ],
    ),
    (
        "missing required parameters",
        edit("user=maxscale\npassword=maxscale\n", ""),
        [
            "interlock.cnf:7: [Read-Write-Service] missing parameter 'user'; "
            "expected user=<text (not empty)>",
            "interlock.cnf:7: [Read-Write-Service] missing parameter 'password'; "
            "expected password=<a password>",
        ],
    ),
    # -- values -------------------------------------------------------------------------------
    (
        "integer",
        edit("port=3306", "port=33o6"),
        [
            "interlock.cnf:6: [server1] invalid value for 'port': '33o6' is not an integer; "
            "expected an integer from 1 to 65535"
        ],
    ),
    (
        "port range",
        edit("port=4006", "port=0"),
        [
            "interlock.cnf:16: [Read-Write-Listener] invalid value for 'port': 0 is out of "
            "range; expected an integer from 1 to 65535"
        ],
    ),
    (
        "boolean",
        edit("port=4006", "port=4006\nssl=maybe"),
        [
            "interlock.cnf:17: [Read-Write-Listener] invalid value for 'ssl': 'maybe' is not a "
            "boolean; expected a boolean: true, false, on, off, yes, no, 1 or 0"
        ],
    ),
    (
        "duration without a unit",
        edit("threads=auto", "threads=auto\nusers_refresh_interval=30"),
        [
            "interlock.cnf:3: [maxscale] invalid value for 'users_refresh_interval': '30' has "
            "no unit; expected a whole number with a unit: ms, s, m or h (e.g. 2s, 500ms)"
        ],
    ),
    (
        "duration with a fraction",
        edit("threads=auto", "threads=auto\nusers_refresh_interval=1.5s"),
        [
            "interlock.cnf:3: [maxscale] invalid value for 'users_refresh_interval': '1.5s' is "
            "not a duration; expected a whole number with a unit: ms, s, m or h (e.g. 2s, 500ms)"
        ],
    ),
    (
        "negative duration",
        edit("threads=auto", "threads=auto\nusers_refresh_interval=-1s"),
        [
            "interlock.cnf:3: [maxscale] invalid value for 'users_refresh_interval': '-1s' is "
            "negative; expected a whole number with a unit: ms, s, m or h (e.g. 2s, 500ms)"
        ],
    ),
    (
        "size",
        edit("threads=auto", "threads=auto\nquery_classifier_cache_size=1GB"),
        [
            "interlock.cnf:3: [maxscale] invalid value for 'query_classifier_cache_size': "
            "'1GB' is not a size; expected a size in bytes, optionally with K, M, G, T (x1000) "
            "or Ki, Mi, Gi, Ti (x1024)"
        ],
    ),
    (
        "enum with a near value",
        edit("password=maxscale\n", "password=maxscale\nmaster_failure_mode=fail_on_writes\n"),
        [
            "interlock.cnf:13: [Read-Write-Service] invalid value for 'master_failure_mode': "
            "'fail_on_writes' is not a valid choice (did you mean 'fail_on_write'?); expected "
            "one of: fail_instantly, fail_on_write, error_on_write"
        ],
    ),
    (
        "protocol",
        edit("port=3306", "port=3306\nprotocol=PostgreSQL"),
        [
            "interlock.cnf:7: [server1] invalid value for 'protocol': 'PostgreSQL' is not a "
            "valid choice; expected one of: MariaDBBackend (or mariadb, mysqlbackend)"
        ],
    ),
    (
        "threads",
        edit("threads=auto", "threads=0"),
        [
            "interlock.cnf:2: [maxscale] invalid value for 'threads': '0' is not a thread "
            "count; expected 'auto' or a number of threads >= 1"
        ],
    ),
    (
        "empty value",
        edit("address=127.0.0.1", "address="),
        [
            "interlock.cnf:5: [server1] invalid value for 'address': the value is empty; "
            "expected a host name or IP address (not empty)"
        ],
    ),
    (
        "object list with an empty name",
        edit("servers=server1", "servers=server1,,"),
        [
            "interlock.cnf:10: [Read-Write-Service] invalid value for 'servers': "
            "'server1,,' has an empty name; expected a comma-separated list of section names, "
            "e.g. server1,server2"
        ],
    ),
    (
        "object listed twice",
        edit("servers=server1", "servers=server1, server1"),
        [
            "interlock.cnf:10: [Read-Write-Service] invalid value for 'servers': 'server1' is "
            "listed twice; expected a comma-separated list of section names, e.g. server1,server2"
        ],
    ),
    (
        "inline comment",
        edit("port=4006", "port=4006  # clients"),
        [
            "interlock.cnf:16: [Read-Write-Listener] invalid value for 'port': '4006  # "
            "clients' is not an integer; expected an integer from 1 to 65535 (comments must be "
            "on their own line)"
        ],
    ),
    (
        "unknown router",
        edit("router=readwritesplit", "router=readwritespit"),
        [
            "interlock.cnf:9: [Read-Write-Service] invalid value for 'router': unknown router "
            "'readwritespit' (did you mean 'readwritesplit'?); expected one of: readwritesplit, "
            "readconnroute"
        ],
    ),
    (
        "a MaxScale router Interlock does not have",
        edit("router=readwritesplit", "router=schemarouter"),
        [
            "interlock.cnf:9: [Read-Write-Service] invalid value for 'router': router "
            "'schemarouter' is a MaxScale module that Interlock does not have; expected one of: "
            "readwritesplit, readconnroute"
        ],
    ),
    (
        "unknown monitor module",
        BASE + "[Mon]\ntype=monitor\nmodule=mariadbmom\nservers=server1\nuser=m\npassword=m\n",
        [
            "interlock.cnf:19: [Mon] invalid value for 'module': unknown monitor module "
            "'mariadbmom' (did you mean 'mariadbmon'?); expected one of: mariadbmon"
        ],
    ),
    (
        "router parameter of the other router",
        edit("password=maxscale\n", "password=maxscale\nrouter_options=slave\n"),
        [
            "interlock.cnf:13: [Read-Write-Service] unknown parameter 'router_options' for a "
            "service with router=readwritesplit ('router_options' is a parameter of "
            "router=readconnroute)"
        ],
    ),
    # -- references ---------------------------------------------------------------------------
    (
        "listener of a missing service",
        edit("service=Read-Write-Service", "service=Read-Write-Servce"),
        [
            "interlock.cnf:15: [Read-Write-Listener] service: service 'Read-Write-Servce' does "
            "not exist (did you mean 'Read-Write-Service'?); expected the name of a section "
            "with type=service"
        ],
    ),
    (
        "listener of a server",
        edit("service=Read-Write-Service", "service=server1"),
        ["interlock.cnf:15: [Read-Write-Listener] service: 'server1' is a server, not a service"],
    ),
    (
        "service of a missing server",
        edit("servers=server1", "servers=server1,server2"),
        [
            "interlock.cnf:10: [Read-Write-Service] servers: server 'server2' does not exist "
            "(did you mean 'server1'?); expected the name of a section with type=server"
        ],
    ),
    (
        "service of the global section and a listener",
        edit("servers=server1", "servers=maxscale,Read-Write-Listener"),
        [
            "interlock.cnf:10: [Read-Write-Service] servers: 'maxscale' is the global section, "
            "not a server",
            "interlock.cnf:10: [Read-Write-Service] servers: 'Read-Write-Listener' is a "
            "listener, not a server",
        ],
    ),
    (
        "a server in two monitors",
        BASE
        + "[M1]\ntype=monitor\nmodule=mariadbmon\nservers=server1\nuser=m\npassword=m\n"
        + "[M2]\ntype=monitor\nmodule=mariadbmon\nservers=server1\nuser=m\npassword=m\n",
        [
            "interlock.cnf:26: [M2] servers: server 'server1' is already monitored by [M1]; "
            "a server can be in one monitor only"
        ],
    ),
    (
        "no listener",
        BASE[: BASE.index("[Read-Write-Listener]")],
        [
            "interlock.cnf: no listener defined; add a section with type=listener, "
            "service=<service name> and port=<port>"
        ],
    ),
    (
        "two listeners on one port",
        BASE + "[L2]\ntype=listener\nservice=Read-Write-Service\naddress=127.0.0.1\nport=4006\n",
        [
            "interlock.cnf:21: [L2] port 4006 is already used by listener [Read-Write-Listener] "
            "(line 13); give each listener its own port"
        ],
    ),
    # -- TLS ------------------------------------------------------------------------------------
    (
        "listener TLS without certificate and key",
        BASE + "ssl=true\n",
        [
            "interlock.cnf:17: [Read-Write-Listener] ssl=true needs ssl_cert and ssl_key; "
            "missing: ssl_cert, ssl_key"
        ],
    ),
    (
        "server client certificate without its key",
        edit("port=3306", "port=3306\nssl=true\nssl_cert=/nonexistent/cert.pem"),
        [
            "interlock.cnf:8: [server1] ssl_cert needs ssl_key too (a client certificate needs "
            "its key)",
            "interlock.cnf:8: [server1] ssl_cert: file '/nonexistent/cert.pem' does not exist; "
            "expected a PEM file",
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error(errors: Errors, text: str, expected: list[str]) -> None:
    assert errors(text) == expected


def test_missing_tls_files_name_the_resolved_path(errors: Errors, tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("PEM")
    text = BASE + "ssl=true\nssl_cert=cert.pem\nssl_key=tls/key.pem\nssl_ca=ca.pem\n"
    assert errors(text) == [
        f"interlock.cnf:19: [Read-Write-Listener] ssl_key: file '{tmp_path}/tls/key.pem' does "
        "not exist; expected a PEM file",
        f"interlock.cnf:20: [Read-Write-Listener] ssl_ca: file '{tmp_path}/ca.pem' does not "
        "exist; expected a PEM file",
    ]


def test_all_errors_are_reported_together_in_line_order(errors: Errors) -> None:
    text = edit("port=3306", "prot=3306")
    text = edit("router=readwritesplit", "router=rwsplit", text)
    text = edit("threads=auto", "threads=many", text)
    text = edit("service=Read-Write-Service", "service=nowhere", text)
    found = errors(text)
    assert [line.split(":")[1] for line in found] == ["2", "6", "9", "15"]
    assert found[1] == "interlock.cnf:6: [server1] unknown parameter 'prot'; did you mean 'port'?"


def test_a_wrong_type_does_not_cascade(errors: Errors) -> None:
    # the server's type is wrong: its own parameters and the references to it are not
    # reported again
    assert errors(edit("type=server", "type=servr")) == [
        "interlock.cnf:4: [server1] unknown type 'servr' (did you mean 'server'?); "
        "expected one of: server, service, listener, monitor"
    ]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.cnf"
    with pytest.raises(ConfigFileError) as caught:
        parse_config(path)
    assert caught.value.errors == (
        f"{path}: cannot read the configuration file: No such file or directory",
    )


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration file: Is a directory"):
        parse_config(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.cnf"
    path.write_bytes(BASE.replace("password=maxscale", "password=caf\xe9").encode("latin-1"))
    with pytest.raises(ConfigFileError) as caught:
        parse_config(path)
    assert caught.value.errors == (f"{path}:12: the file is not UTF-8 text",)
