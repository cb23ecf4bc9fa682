from __future__ import annotations

import pytest

from interlock.server.accounts import Account, AccountTable, HostPattern, normalize_ip


@pytest.mark.parametrize(
    ("pattern", "ip", "expected"),
    [
        ("%", "10.1.2.3", True),
        ("", "10.1.2.3", True),
        ("10.1.2.3", "10.1.2.3", True),
        ("10.1.2.3", "10.1.2.4", False),
        ("10.1.2.%", "10.1.2.200", True),
        ("10.1.2.%", "10.1.3.2", False),
        ("10.1.2._", "10.1.2.7", True),
        ("10.1.2._", "10.1.2.70", False),
        ("10.1.%.1", "10.1.99.1", True),
        ("10.1.2.0/255.255.255.0", "10.1.2.77", True),
        ("10.1.2.0/255.255.255.0", "10.1.3.77", False),
        ("10.1.0.0/16", "10.1.250.1", True),
        ("10.1.0.0/16", "10.2.0.1", False),
        ("localhost", "127.0.0.1", True),
        ("localhost", "::1", True),
        ("LOCALHOST", "127.0.0.1", True),
        ("localhost", "10.0.0.1", False),
        ("127.0.0.1", "127.0.0.1", True),
        ("10\\_1", "10_1", True),
        ("10\\_1", "1011", False),
        ("::1", "::1", True),
        ("10.1.2.0/255.255.255.0", "::1", False),
    ],
)
def test_host_pattern_matching(pattern: str, ip: str, expected: bool) -> None:
    assert HostPattern.compile(pattern).matches(ip) is expected


def test_ipv4_mapped_addresses_are_normalized() -> None:
    assert normalize_ip("::ffff:127.0.0.1") == "127.0.0.1"
    assert normalize_ip("::1") == "::1"
    assert normalize_ip("not-an-ip") == "not-an-ip"


def test_most_specific_host_first() -> None:
    table = AccountTable.build(
        [
            Account("app", "%"),
            Account("app", "10.%"),
            Account("app", "10.1.2.%"),
            Account("app", "10.1.2.3"),
            Account("app", "10.1.2.0/255.255.255.0"),
            Account("app", ""),
            Account("app", "localhost"),
            Account("app", "127.0.0.1"),
        ]
    )
    hosts = [a.host for a in table.ordered("app")]
    assert hosts == [
        "localhost",
        "127.0.0.1",
        "10.1.2.3",
        "10.1.2.0/255.255.255.0",
        "10.1.2.%",
        "10.%",
        "%",
        "",
    ]
    assert table.find("app", "10.1.2.3").host == "10.1.2.3"  # type: ignore[union-attr]
    assert table.find("app", "10.1.2.9").host == "10.1.2.0/255.255.255.0"  # type: ignore[union-attr]
    assert table.find("app", "10.9.9.9").host == "10.%"  # type: ignore[union-attr]
    assert table.find("app", "192.168.0.1").host == "%"  # type: ignore[union-attr]
    assert table.find("app", "127.0.0.1").host == "localhost"  # type: ignore[union-attr]
    assert table.find("app", "::ffff:10.1.2.3").host == "10.1.2.3"  # type: ignore[union-attr]


def test_unknown_user_and_host_not_allowed() -> None:
    table = AccountTable.build([Account("app", "10.%"), Account("other", "%")])
    assert table.find("nobody", "10.0.0.1") is None
    assert table.find("app", "192.168.0.1") is None
    assert len(table) == 2


def test_anonymous_user_only_when_strictly_more_specific() -> None:
    table = AccountTable.build(
        [Account("app", "%"), Account("", "localhost"), Account("", "%")]
    )
    # ''@localhost is more specific than app@% -> the anonymous account wins (server behaviour)
    assert table.find("app", "127.0.0.1") == Account("", "localhost")
    # equal specificity -> the named user wins
    assert table.find("app", "10.0.0.1") == Account("app", "%")
    # no such user -> the anonymous account
    assert table.find("ghost", "10.0.0.1") == Account("", "%")


def test_plugin_classification() -> None:
    assert Account("a", "%", "mysql_native_password", "*" + "0" * 40).is_native
    assert Account("a", "%", "", "").is_native
    assert not Account("a", "%", "ed25519", "xyz").is_native
