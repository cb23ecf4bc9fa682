"""Listeners in the shared configuration: an instance's own file overrides a shared listener's
address and port on that instance only (``interlock.cluster.config_store``)."""

from __future__ import annotations

import pytest

from interlock.cluster.config_store import (
    differences,
    overridden,
    overrides,
    shared_form,
)
from interlock.config.diagnostics import Diagnostics
from interlock.config.ini import IniSection, parse_ini
from interlock.errors import ClusterError


def section(text: str) -> IniSection:
    (found,) = parse_ini(text, Diagnostics("test"))
    return found


def values(s: IniSection) -> dict[str, str]:
    return {e.key: e.value for e in s.entries}


SHARED = section("[L]\ntype=listener\nservice=S\naddress=10.0.0.1\nport=4006\n")
LOCAL = section("[L]\ntype=listener\nservice=S\nport=4016\n")


def test_the_file_overrides_only_the_keys_it_sets() -> None:
    assert overrides(LOCAL) == {"port": "4016"}
    assert values(overridden(SHARED, LOCAL)) == {
        "type": "listener", "service": "S", "address": "10.0.0.1", "port": "4016"}
    assert overridden(SHARED, None) is SHARED


def test_only_listeners_override() -> None:
    server = section("[L]\ntype=server\naddress=10.0.0.9\nport=3307\n")
    assert overrides(server) == {}
    assert overridden(SHARED, server) is SHARED


def test_a_change_through_the_instance_keeps_the_stores_port() -> None:
    changed = section("[L]\ntype=listener\nservice=T\naddress=10.0.0.1\nport=4016\n")
    assert values(shared_form(changed, LOCAL, SHARED)) == {
        "type": "listener", "service": "T", "address": "10.0.0.1", "port": "4006"}


def test_a_listener_new_in_the_store_drops_the_local_port() -> None:
    """Created through an instance whose file already overrides it: the store gets no port
    (the default) rather than this instance's."""
    created = section("[L]\ntype=listener\nservice=S\nport=4016\n")
    assert "port" not in values(shared_form(created, LOCAL, None))


def test_changing_an_overridden_key_through_the_instance_is_refused() -> None:
    moved = section("[L]\ntype=listener\nservice=S\naddress=10.0.0.1\nport=4017\n")
    with pytest.raises(ClusterError, match="port on this instance comes from its own "
                                           "configuration file"):
        shared_form(moved, LOCAL, SHARED)


def test_overridden_keys_are_not_differences() -> None:
    both = section("[L]\ntype=listener\nservice=S\naddress=127.0.0.2\nport=4016\n")
    assert differences([both], [SHARED]) == []
    assert differences([LOCAL], [SHARED]) == ["L"]  # the file leaves address to its default
    other = section("[L]\ntype=listener\nservice=T\nport=4016\n")
    assert differences([other], [SHARED]) == ["L"]
    assert differences([LOCAL], []) == ["L"]
