"""The configuration cache (``<datadir>/cluster-config.cache``): encoding, decoding, refusals,
the atomic write; and the chunking of a bootstrap into transactions etcd accepts."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from interlock.cluster.config_cache import (
    CACHE_FILE,
    CachedConfig,
    CacheError,
    cache_path,
    check_cache,
    decode_cache,
    encode_cache,
    read_cache,
    write_cache,
)
from interlock.cluster.config_store import TXN_OPS, Snapshot, chunks, same_objects
from interlock.config.diagnostics import Diagnostics
from interlock.config.ini import parse_ini

ENDPOINTS = ("http://127.0.0.1:2379", "http://127.0.0.1:2380")
TEXT = """\
[server1]
type=server
address=127.0.0.1
port=3306
[svc]
type=service
router=readwritesplit
servers=server1
user=u
password=p w=d;#x
"""


def snapshot() -> Snapshot:
    sections = {s.name: s for s in parse_ini(TEXT, Diagnostics("test"))}
    return Snapshot(812, 790, True, sections, {"server1": 17, "svc": 790})


def cached(prefix: str = "/interlock/") -> CachedConfig:
    return CachedConfig(prefix, ENDPOINTS, "proxy-a", 1_790_000_000.5, snapshot())


def test_round_trip() -> None:
    back = decode_cache(encode_cache(cached()), "cache")
    assert back.prefix == "/interlock/"
    assert back.endpoints == ENDPOINTS
    assert back.instance == "proxy-a"
    assert back.written_at == 1_790_000_000.5
    assert back.snapshot.revision == 812
    assert back.snapshot.config_revision == 790
    assert back.snapshot.bootstrapped
    assert dict(back.snapshot.mod_revisions) == {"server1": 17, "svc": 790}
    assert list(back.snapshot.sections) == ["server1", "svc"]
    assert same_objects(back.snapshot, snapshot())
    password = back.snapshot.sections["svc"].get("password")
    assert password is not None and password.value == "p w=d;#x"


def test_the_format_is_versioned_json() -> None:
    doc = json.loads(encode_cache(cached()))
    assert doc["format"] == "interlock-cluster-config-cache"
    assert doc["version"] == 1
    assert doc["objects"][0] == {"name": "server1", "mod_revision": 17,
                                 "section": "[server1]\ntype=server\naddress=127.0.0.1\n"
                                            "port=3306\n"}


@pytest.mark.parametrize(("text", "says"), [
    ("", "invalid JSON"),
    ('{"format": "interlock-cluster-config-cache", "version": 1, "etcd_pre', "invalid JSON"),
    ("[1, 2]", "not an Interlock configuration cache"),
    ('{"format": "something-else", "version": 1}', "not an Interlock configuration cache"),
    ('{"format": "interlock-cluster-config-cache", "version": 2}', "format version 2"),
    ('{"format": "interlock-cluster-config-cache", "version": 1}', "'etcd_prefix' is missing"),
])
def test_a_corrupt_cache_is_an_error_naming_the_file(text: str, says: str) -> None:
    with pytest.raises(CacheError) as info:
        decode_cache(text, "/var/lib/interlock/cluster-config.cache")
    assert str(info.value).startswith("/var/lib/interlock/cluster-config.cache: ")
    assert says in str(info.value)


def mangled(**changes: object) -> str:
    doc = json.loads(encode_cache(cached()))
    doc.update(changes)
    return json.dumps(doc)


@pytest.mark.parametrize(("text", "says"), [
    (mangled(store_revision="812"), "'store_revision' is missing or not int"),
    (mangled(config_revision=True), "'config_revision' is missing or not int"),
    (mangled(etcd_endpoints="http://x:2379"), "'etcd_endpoints' is missing or not a list"),
    (mangled(objects=[{"name": "s", "mod_revision": 1}]), "'section' is missing"),
    (mangled(objects=[{"name": "s", "mod_revision": 1, "section": "[t]\ntype=server\n"}]),
     "object 's' is not one section [s]"),
    (mangled(objects=[{"name": "s", "mod_revision": 1, "section": "type=server\n"}]),
     "object 's' is not one section [s]"),
    (mangled(objects=[{"name": "s", "mod_revision": 1, "section": "[s]\na=1\n"}] * 2),
     "object [s] twice"),
])
def test_a_cache_with_wrong_fields_is_refused(text: str, says: str) -> None:
    with pytest.raises(CacheError, match=r"^cache: ") as info:
        decode_cache(text, "cache")
    assert says in str(info.value)


def test_a_cache_for_another_prefix_is_refused() -> None:
    with pytest.raises(CacheError) as info:
        check_cache(cached("/other/"), "/interlock/", ENDPOINTS, "the-cache")
    assert str(info.value).startswith("the-cache was written for etcd prefix '/other/', not "
                                      "'/interlock/'")


def test_a_cache_for_another_cluster_is_refused() -> None:
    with pytest.raises(CacheError, match="none of which is configured now"):
        check_cache(cached(), "/interlock/", ("http://10.1.1.1:2379",), "the-cache")


def test_a_cache_sharing_an_endpoint_is_accepted() -> None:
    check_cache(cached(), "/interlock/", ("http://127.0.0.1:2380", "http://10.9.9.9:2379"),
                "the-cache")


def test_write_is_atomic_private_and_reads_back(tmp_path: Path) -> None:
    path = cache_path(str(tmp_path / "data"))
    assert path == tmp_path / "data" / CACHE_FILE
    assert read_cache(path) is None  # no cache: no error
    write_cache(path, cached())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = read_cache(path)
    assert first is not None and first.snapshot.config_revision == 790
    newer = CachedConfig("/interlock/", ENDPOINTS, "proxy-a", 1_790_000_100.0,
                         Snapshot(900, 900, True, {}, {}))
    write_cache(path, newer)
    again = read_cache(path)
    assert again is not None and again.snapshot.config_revision == 900
    assert not again.snapshot.sections
    assert sorted(p.name for p in path.parent.iterdir()) == [CACHE_FILE]  # no temp file left


def test_read_of_a_corrupt_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / CACHE_FILE
    path.write_text('{"format": "interlock-cluster-config-cache", "vers')
    with pytest.raises(CacheError, match=f"^{path}: not a configuration cache"):
        read_cache(path)


def test_chunks_cover_every_item_once_in_order() -> None:
    items = [f"server{i}" for i in range(301)]
    parts = chunks(items, TXN_OPS)
    assert [len(p) for p in parts] == [100, 100, 100, 1]
    assert [x for p in parts for x in p] == items
    assert chunks(items[:100], 100) == [items[:100]]
    assert chunks([], 100) == []
    with pytest.raises(ValueError):
        chunks(items, 0)


def test_a_chunk_fits_etcds_default_transaction_limit() -> None:
    assert TXN_OPS <= 128 - 3  # the final transaction: marker, revision, claim deletion
