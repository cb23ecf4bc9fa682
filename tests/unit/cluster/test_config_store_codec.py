"""The pure parts of the shared configuration store: keys, sections as etcd values, snapshots,
the merge with the instance's own global section and listener overrides, and "is this
newer"."""

from __future__ import annotations

import pytest

from interlock.cluster.codec import KeyValue
from interlock.cluster.config_store import (
    BOOTSTRAPPED,
    REVISION,
    Snapshot,
    committed,
    decode_object,
    differences,
    encode_section,
    object_key,
    same_objects,
    shared_sections,
    snapshot_of,
    with_objects,
)
from interlock.cluster.shared_config import newer
from interlock.config.diagnostics import Diagnostics
from interlock.config.ini import IniEntry, IniSection, parse_ini
from interlock.config.layers import RUNTIME, Layers, Placed
from interlock.config.loader import validate
from interlock.errors import ClusterError

PREFIX = b"/interlock/"
FILE = """\
[maxscale]
threads=1
admin_enabled=false
[server1]
type=server
address=127.0.0.1
port=3306
[svc]
type=service
router=readconnroute
servers=server1
user=u
password=p
[lst]
type=listener
service=svc
port=4006
"""


def sections(text: str) -> tuple[IniSection, ...]:
    diag = Diagnostics("test")
    found = parse_ini(text, diag)
    assert not diag.errors
    return found


def file_layers(text: str = FILE) -> Layers:
    found = sections(text)
    return Layers("/etc/interlock.cnf", "/var/lib/interlock/interlock.cnf.d",
                  tuple(Placed(s, "/etc/interlock.cnf") for s in found),
                  frozenset(s.name for s in found))


def kv(key: bytes, value: bytes, mod: int) -> KeyValue:
    return KeyValue(key, value, mod, mod, 1, 0)


def test_a_section_round_trips_through_its_etcd_value() -> None:
    server = sections(FILE)[1]
    value = encode_section(server)
    assert value == b"[server1]\ntype=server\naddress=127.0.0.1\nport=3306\n"
    decoded = decode_object(PREFIX, kv(object_key(PREFIX, "server1"), value, 7))
    assert decoded.name == server.name
    assert [(e.key, e.value) for e in decoded.entries] == [
        (e.key, e.value) for e in server.entries]
    assert object_key(PREFIX, "server1") == b"/interlock/config/objects/server1"


@pytest.mark.parametrize("value", [b"[other]\ntype=server\n", b"[a]\n[b]\n", b"no section",
                                   b"[server1]\ntype=server\nbroken line\n"])
def test_a_value_that_is_not_the_keys_section_is_refused(value: bytes) -> None:
    with pytest.raises(ClusterError, match="does not hold one section"):
        decode_object(PREFIX, kv(object_key(PREFIX, "server1"), value, 7))


def test_the_store_holds_every_object_but_the_global_section() -> None:
    assert [s.name for s in shared_sections(file_layers())] == ["server1", "svc", "lst"]


def test_the_running_layers_are_the_files_globals_with_the_stores_objects() -> None:
    """The store's objects; its listener on the file's port (the per-instance override) and
    the store's address (the file does not set one)."""
    stored = sections(FILE.replace("port=3306", "port=3307").replace(
        "port=4006", "port=4007\naddress=10.0.0.1"))[1:]
    layers = with_objects(file_layers(), stored)
    assert [(p.name, p.path) for p in layers.sections] == [
        ("maxscale", "/etc/interlock.cnf"), ("server1", RUNTIME), ("svc", RUNTIME),
        ("lst", RUNTIME)]
    config = validate(layers)  # the loader takes them like a file
    assert config.servers["server1"].port == 3307
    assert config.listeners["lst"].port == 4006
    assert config.listeners["lst"].address == "10.0.0.1"


def test_a_snapshot_reads_objects_revision_and_bootstrap_marker() -> None:
    kvs = [kv(PREFIX + BOOTSTRAPPED, b"a", 2), kv(PREFIX + REVISION, b"b", 9),
           kv(object_key(PREFIX, "server1"), encode_section(sections(FILE)[1]), 2),
           kv(object_key(PREFIX, "bad"), b"[wrong]\n", 3)]
    snapshot = snapshot_of(PREFIX, 12, kvs)
    assert (snapshot.revision, snapshot.config_revision, snapshot.bootstrapped) == (12, 9, True)
    assert list(snapshot.sections) == ["server1"]  # the bad value is left out (and logged)
    assert snapshot.mod_revisions == {"server1": 2}
    assert not snapshot_of(PREFIX, 1, []).bootstrapped


def test_a_commit_gives_the_new_state_with_its_revision() -> None:
    server, svc = sections(FILE)[1:3]
    base = Snapshot(5, 4, True, {"server1": server, "svc": svc}, {"server1": 2, "svc": 4})
    new_server = IniSection("server2", 1, (IniEntry("type", "server", 2),))
    after = committed(base, {"server2": new_server, "server1": None}, 8)
    assert (after.revision, after.config_revision) == (8, 8)
    assert after.sections == {"svc": svc, "server2": new_server}
    assert after.mod_revisions == {"svc": 4, "server2": 8}


def test_newer_means_later_and_different() -> None:
    server, svc = sections(FILE)[1:3]
    current = Snapshot(10, 8, True, {"server1": server, "svc": svc}, {"server1": 2, "svc": 8})
    # our own commit read back later (other keys moved the store revision): not newer
    assert not newer(Snapshot(30, 8, True, dict(current.sections), {}), current)
    renumbered = IniSection("svc", 5, tuple(IniEntry(e.key, e.value, e.line + 3)
                                            for e in svc.entries))
    assert same_objects(Snapshot(30, 8, True, {"server1": server, "svc": renumbered}, {}),
                        current)
    assert newer(Snapshot(31, 9, True, {"server1": server}, {}), current)
    assert not newer(Snapshot(31, 7, True, {"server1": server}, {}), current)  # older


def test_differences_name_the_objects_the_file_defines_otherwise() -> None:
    mine = sections(FILE)[1:3]
    theirs = sections(FILE.replace("port=3306", "port=3307")
                      + "[server9]\ntype=server\naddress=h\n")[1:3]
    assert differences(mine, theirs) == ["server1"]
    assert differences(mine, [*theirs, IniSection("x", 1, ())]) == ["server1", "x"]
    assert differences(mine, mine) == []
