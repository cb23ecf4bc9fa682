"""``interlock keepalived-config``: the keepalived.conf text it prints.

The text is parsed back into its blocks (keepalived's syntax: ``keyword args`` lines and
``name { ... }`` blocks) so the tests look at where a keyword is, not only that it appears.
tests/integration/test_vip_failover.py runs the generated file with keepalived itself.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from interlock.admin import keepalived
from interlock.cli import main
from interlock.errors import ConfigError

Block = dict[str, Any]  # keyword -> list of (args, children or None)

PEERS = "10.20.0.11,10.20.0.12,10.20.0.13"


def parse(text: str) -> Block:
    """keepalived.conf -> {keyword: [(args, block or None), ...]} (comments dropped)."""
    root: Block = {}
    stack = [root]
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line == "}":
            stack.pop()
            assert stack, "a closing brace without a block"
            continue
        opens = line.endswith("{")
        words = line.rstrip("{").split(None, 1)
        keyword, args = words[0], (words[1].strip() if len(words) > 1 else "")
        child: Block | None = {} if opens else None
        stack[-1].setdefault(keyword, []).append((args, child))
        if child is not None:
            stack.append(child)
    assert len(stack) == 1, "unbalanced braces"
    return root


def one(block: Block, keyword: str) -> tuple[str, Block | None]:
    entries = block.get(keyword, [])
    assert len(entries) == 1, f"{keyword}: {entries}"
    return entries[0]  # type: ignore[no-any-return]


def value(block: Block, keyword: str) -> str:
    return one(block, keyword)[0]


def child(block: Block, keyword: str) -> Block:
    found = one(block, keyword)[1]
    assert found is not None, f"{keyword} is not a block"
    return found


def lines_of(block: Block) -> list[str]:
    """A block of bare values (unicast_peer, virtual_ipaddress, track_script)."""
    return [f"{k} {args}".strip() for k, entries in block.items() for args, _ in entries]


def generate(capsys: pytest.CaptureFixture[str], *argv: str) -> Block:
    assert main(["keepalived-config", *argv]) == 0
    out = capsys.readouterr().out
    return parse(out)


def instance(conf: Block) -> Block:
    args, block = one(conf, "vrrp_instance")
    assert args == keepalived.INSTANCE_NAME and block is not None
    return block


def test_a_unicast_node(capsys: pytest.CaptureFixture[str]) -> None:
    conf = generate(capsys, "--vip", "10.20.0.100/24", "--interface", "eth1", "--peers", PEERS,
                    "--self", "10.20.0.12", "--unicast", "-c", "/etc/interlock/il.cnf")
    vrrp = instance(conf)
    assert "state" in vrrp and value(vrrp, "state") == "BACKUP"
    assert value(vrrp, "nopreempt") == ""
    assert value(vrrp, "interface") == "eth1"
    assert value(vrrp, "priority") == "140"  # the second peer
    assert value(vrrp, "virtual_router_id") == "100"  # the VIP's last byte
    assert value(vrrp, "unicast_src_ip") == "10.20.0.12"
    assert value(vrrp, "check_unicast_src") == ""
    assert lines_of(child(vrrp, "unicast_peer")) == ["10.20.0.11", "10.20.0.13"]
    assert lines_of(child(vrrp, "virtual_ipaddress")) == ["10.20.0.100/24 dev eth1"]
    assert lines_of(child(vrrp, "track_script")) == [keepalived.SCRIPT_NAME]

    script = child(conf, "vrrp_script")
    assert one(conf, "vrrp_script")[0] == keepalived.SCRIPT_NAME
    command = value(script, "script")
    assert command.startswith('"') and command.endswith('"')
    words = command.strip('"').split()
    assert words[0].startswith("/") or words[0] == "interlock"
    assert words[1:] == ["ctl", "health", "-c", "/etc/interlock/il.cnf", "-t", "1500"]
    assert {k: value(script, k) for k in ("interval", "timeout", "fall", "rise", "weight")} == {
        "interval": "1", "timeout": "2", "fall": "2", "rise": "2", "weight": "0"}
    defs = child(conf, "global_defs")
    assert "enable_script_security" in defs and value(defs, "script_user") == "root"


def test_multicast_has_no_unicast_blocks(capsys: pytest.CaptureFixture[str]) -> None:
    vrrp = instance(generate(capsys, "--vip", "10.20.0.100/24", "--interface", "eth1",
                             "--peers", PEERS, "--self", "10.20.0.11"))
    assert not {"unicast_peer", "unicast_src_ip", "check_unicast_src"} & set(vrrp)
    assert value(vrrp, "priority") == "150"


def test_the_same_command_on_every_node_gives_a_consistent_cluster(
        capsys: pytest.CaptureFixture[str]) -> None:
    nodes = PEERS.split(",")
    confs = {node: instance(generate(capsys, "--vip", "10.20.0.100/24", "--interface", "eth1",
                                     "--peers", PEERS, "--self", node, "--unicast"))
             for node in nodes}
    priorities = [int(value(confs[n], "priority")) for n in nodes]
    assert priorities == sorted(priorities, reverse=True) and len(set(priorities)) == 3
    assert {value(c, "virtual_router_id") for c in confs.values()} == {"100"}
    for node, vrrp in confs.items():
        peers = lines_of(child(vrrp, "unicast_peer"))
        assert sorted([*peers, node]) == sorted(nodes)


def test_explicit_values_win(capsys: pytest.CaptureFixture[str]) -> None:
    conf = generate(capsys, "--vip", "10.20.0.100/24", "--vip", "10.20.1.5/32",
                    "--interface", "bond0", "--peers", PEERS, "--self", "10.20.0.13",
                    "--priority", "200", "--router-id", "7", "--interval", "3",
                    "--timeout", "5", "--fall", "4", "--rise", "6", "--script-user", "interlock",
                    "--check-command", "/usr/local/bin/check 'a b' -x")
    vrrp = instance(conf)
    assert value(vrrp, "priority") == "200" and value(vrrp, "virtual_router_id") == "7"
    assert lines_of(child(vrrp, "virtual_ipaddress")) == ["10.20.0.100/24 dev bond0",
                                                          "10.20.1.5/32 dev bond0"]
    script = child(conf, "vrrp_script")
    assert value(script, "script") == "\"/usr/local/bin/check 'a b' -x\""
    assert [value(script, k) for k in ("interval", "timeout", "fall", "rise")] == [
        "3", "5", "4", "6"]
    assert value(child(conf, "global_defs"), "script_user") == "interlock"


def test_the_ctl_timeout_ends_before_keepalived_kills_the_check() -> None:
    command = keepalived.health_command("/usr/bin/interlock", None, 3)
    assert command == ("/usr/bin/interlock", "ctl", "health", "-t", "2500")


def test_own_address_is_found_among_the_local_ones(capsys: pytest.CaptureFixture[str]) -> None:
    # 127.0.0.1 is always this host's; 198.51.100.7 (TEST-NET-2) is not
    vrrp = instance(generate(capsys, "--vip", "127.0.0.100/8", "--interface", "lo",
                             "--peers", "198.51.100.7,127.0.0.1", "--unicast"))
    assert value(vrrp, "unicast_src_ip") == "127.0.0.1"
    assert value(vrrp, "priority") == "140"
    assert lines_of(child(vrrp, "unicast_peer")) == ["198.51.100.7"]


@pytest.mark.parametrize(("local", "given", "message"), [
    ([], None, "none of --peers"),
    (["10.20.0.11", "10.20.0.12"], None, "several of --peers"),
    ([], "10.20.0.99", "not one of --peers"),
])
def test_own_address_refusals(local: list[str], given: str | None, message: str) -> None:
    peers = [ipaddress.ip_address(p) for p in PEERS.split(",")]
    with pytest.raises(ConfigError, match=message):
        keepalived.own_address(peers, [ipaddress.ip_address(a) for a in local],
                               ipaddress.ip_address(given) if given else None)


def test_no_local_peer_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keepalived-config", "--vip", "10.20.0.100/24", "--interface", "eth1",
                 "--peers", "198.51.100.7,198.51.100.8"]) == 2
    assert "none of --peers" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["--vip", "10.20.0.100", "--interface", "eth1", "--peers", PEERS],  # no prefix
    ["--vip", "10.20.0.100/24", "--interface", "eth1", "--peers", "10.20.0.11"],  # one peer
    ["--vip", "10.20.0.100/24", "--interface", "eth1", "--peers", "10.20.0.11,10.20.0.11"],
    ["--vip", "10.20.0.100/24", "--interface", "eth 1", "--peers", PEERS],
    ["--vip", "10.20.0.100/24", "--interface", "eth1", "--peers", PEERS, "--priority", "255"],
    ["--vip", "10.20.0.100/24", "--interface", "eth1", "--peers", PEERS, "--router-id", "0"],
    ["--interface", "eth1", "--peers", PEERS],  # no VIP
])
def test_bad_command_lines(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["keepalived-config", *argv])
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_mixed_families_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keepalived-config", "--vip", "fd00::100/64", "--interface", "eth1",
                 "--peers", PEERS, "--self", "10.20.0.11"]) == 2
    assert "mix IPv4 and IPv6" in capsys.readouterr().err


def test_script_text_quoting() -> None:
    assert keepalived.script_text(["/bin/x", "a b", "c"]) == "\"/bin/x 'a b' c\""
    with pytest.raises(ConfigError, match="quotes"):
        keepalived.script_text(["/bin/x", 'say "hi"'])


def test_router_id_default_is_never_zero() -> None:
    assert keepalived.default_router_id(ipaddress.ip_interface("10.0.1.0/23")) == 1
    assert keepalived.default_router_id(ipaddress.ip_interface("10.0.0.42/24")) == 42
