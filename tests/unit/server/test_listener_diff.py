"""What a runtime change does to the listeners: opened, closed, moved to another socket, or
changed on the same socket (``interlock.server.listener_set.listener_diff``)."""

from __future__ import annotations

from dataclasses import replace

from interlock.config.model import ListenerConfig, TlsConfig
from interlock.server.listener_set import ListenerDiff, listener_diff

A = ListenerConfig("A", "S", 4006, "127.0.0.1")
B = ListenerConfig("B", "S", 4008)


def test_nothing_changed() -> None:
    diff = listener_diff({"A": A, "B": B}, {"A": A, "B": replace(B)})
    assert diff == ListenerDiff() and diff.empty


def test_added_and_removed() -> None:
    assert listener_diff({"A": A}, {"B": B}) == ListenerDiff(added=("B",), removed=("A",))


def test_another_port_or_address_is_a_move() -> None:
    assert listener_diff({"A": A}, {"A": replace(A, port=4007)}).moved == ("A",)
    assert listener_diff({"A": A}, {"A": replace(A, address="::")}).moved == ("A",)


def test_other_parameters_keep_the_socket() -> None:
    new = {"A": replace(A, service="T"), "B": replace(B, tls=TlsConfig(enabled=True))}
    diff = listener_diff({"A": A, "B": B}, new)
    assert diff == ListenerDiff(changed=("A", "B")) and not diff.empty
