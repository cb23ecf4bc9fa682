"""The etcd client against a real 3-member etcd cluster (Debian's etcd 3.4 on loopback).

Reads and writes, compare-and-swap races, watches that keep their order and lose nothing when
their member is killed or silently cut off, compaction, leases, endpoint failover, and TLS with
client certificates plus user/password authentication on a cluster of its own.
"""

# ruff: noqa: F811  (the etcd_cluster fixture is imported, then named by the tests)
from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from tests.integration.etcd_support import (
    EtcdCluster,
    TcpRelay,
    client_certificate,
    etcd_cluster,  # noqa: F401  (the fixture)
    run,
    unique_prefix,
)

from interlock.cluster import (
    EtcdAuthError,
    EtcdClient,
    EtcdRequestError,
    EtcdSettings,
    EtcdUnavailable,
    EventType,
    WatchCompacted,
)
from interlock.sandbox.ports import find_free_block

pytestmark = pytest.mark.slow


def test_put_get_range_and_snapshots(etcd_cluster: EtcdCluster) -> None:
    prefix = unique_prefix("kv")

    async def scenario() -> None:
        async with EtcdClient(etcd_cluster.settings()) as etcd:
            first = await etcd.put(prefix + b"b", b"1")
            await etcd.put(prefix + b"a", b"2")
            await etcd.put(prefix + b"c/nested", b"3")
            await etcd.put(prefix[:-1] + b"X", b"outside the prefix")
            second = await etcd.put(prefix + b"b", b"4", prev_kv=True)
            assert second.prev_kv is not None and second.prev_kv.value == b"1"

            kv = await etcd.get(prefix + b"b")
            assert kv is not None
            assert (kv.value, kv.version, kv.create_revision) == (b"4", 2, first.revision)
            assert kv.mod_revision == second.revision
            assert await etcd.get(prefix + b"missing") is None

            snapshot = await etcd.get_prefix(prefix)
            assert [(kv.key, kv.value) for kv in snapshot.kvs] == [
                (prefix + b"a", b"2"),
                (prefix + b"b", b"4"),
                (prefix + b"c/nested", b"3"),
            ]
            assert snapshot.revision >= second.revision

            old = await etcd.get_prefix(prefix, revision=first.revision)
            assert [(kv.key, kv.value) for kv in old.kvs] == [(prefix + b"b", b"1")]

            deleted = await etcd.delete(prefix, prefix=True, prev_kv=True)
            assert deleted.deleted == 3
            assert {kv.key for kv in deleted.prev_kvs} == {kv.key for kv in snapshot.kvs}
            assert (await etcd.get_prefix(prefix)).kvs == ()
            assert await etcd.get(prefix[:-1] + b"X") is not None

    run(scenario())


def test_concurrent_cas_exactly_one_wins(etcd_cluster: EtcdCluster) -> None:
    """Several clients (on different members) race compare-and-swaps on the same revision:
    one wins each round, every loser is told the winner's value."""
    key = unique_prefix("cas") + b"config"
    endpoints = etcd_cluster.endpoints

    async def scenario() -> None:
        clients = [
            EtcdClient(etcd_cluster.settings(endpoints[i:] + endpoints[:i])) for i in range(3)
        ]
        try:
            revision = 0  # round 0: create-if-absent
            for round_no in range(5):
                values = [f"round{round_no}-client{i}".encode() for i in range(3)]
                outcomes = await asyncio.gather(
                    *(
                        c.compare_and_swap(key, v, revision)
                        for c, v in zip(clients, values, strict=True)
                    )
                )
                winners = [i for i, o in enumerate(outcomes) if o.succeeded]
                assert len(winners) == 1, outcomes
                winner_value = values[winners[0]]
                for outcome in outcomes:
                    if not outcome.succeeded:
                        assert outcome.current is not None
                        assert outcome.current.value == winner_value
                current = await clients[0].get(key)
                assert current is not None and current.value == winner_value
                assert current.mod_revision == outcomes[winners[0]].revision
                revision = current.mod_revision

            stale = await clients[1].compare_and_delete(key, revision - 1)
            assert not stale.succeeded and stale.current is not None
            gone = await clients[2].compare_and_delete(key, revision)
            assert gone.succeeded
            assert await clients[0].get(key) is None
        finally:
            for client in clients:
                await client.close()

    run(scenario())


async def _put_surely(etcd: EtcdClient, key: bytes, value: bytes) -> int:
    """Put, and when the answer is lost (the raft leader was killed: a new one is elected
    meanwhile), find out whether the write landed before writing again: the caller's part
    of :class:`EtcdOutcomeUnknown`.  Returns the write's revision."""
    for _ in range(20):
        try:
            return (await etcd.put(key, value)).revision
        except EtcdUnavailable:  # EtcdOutcomeUnknown included
            await asyncio.sleep(0.2)
        with contextlib.suppress(EtcdUnavailable):
            kv = await etcd.get(key)
            if kv is not None and kv.value == value:
                return kv.mod_revision
    raise AssertionError(f"could not write {key!r}")


async def _write_sequence(
    etcd: EtcdClient, prefix: bytes, count: int, pause: float, on_half: asyncio.Event
) -> list[int]:
    revisions = []
    for number in range(count):
        revisions.append(await _put_surely(etcd, prefix + b"k%03d" % number, b"%d" % number))
        if number == count // 2:
            on_half.set()
        await asyncio.sleep(pause)
    return revisions


async def _collect(watch_iter: object, count: int) -> list[tuple[int, bytes]]:
    seen: list[tuple[int, bytes]] = []
    async for batch in watch_iter:  # type: ignore[attr-defined]
        for event in batch.events:
            assert event.type == EventType.PUT
            seen.append((event.revision, event.kv.value))
        if len(seen) >= count:
            return seen
    return seen


def test_watch_resumes_after_its_member_is_killed(etcd_cluster: EtcdCluster) -> None:
    """The watcher's endpoint is member 0; it is killed halfway through a stream of writes.
    The watch fails over and delivers every write exactly once, in order."""
    prefix = unique_prefix("watch-kill")
    count = 40
    endpoints = etcd_cluster.endpoints

    async def scenario() -> None:
        watcher = EtcdClient(etcd_cluster.settings(watch_check_interval=1.0))
        writer = EtcdClient(etcd_cluster.settings(endpoints[1:]))
        half = asyncio.Event()
        try:
            start = (await watcher.get_prefix(prefix)).revision + 1
            assert watcher.endpoint == endpoints[0]
            async with watcher.watch_prefix(prefix, start_revision=start) as watch:
                collector = asyncio.create_task(_collect(watch, count))
                writes = asyncio.create_task(_write_sequence(writer, prefix, count, 0.05, half))
                await half.wait()
                await asyncio.to_thread(etcd_cluster.kill, 0)
                revisions = await writes
                seen = await asyncio.wait_for(collector, 30)
            assert seen == [(rev, b"%d" % n) for n, rev in enumerate(revisions)]
            assert watcher.endpoint != endpoints[0]
        finally:
            await watcher.close()
            await writer.close()

    try:
        run(scenario())
    finally:
        etcd_cluster.revive()


def test_watch_leaves_a_silently_cut_endpoint(etcd_cluster: EtcdCluster) -> None:
    """The watcher reaches member 0 through a relay that starts dropping every byte (no
    reset, no FIN): the quiet stream is checked, abandoned, and resumed on another member
    without losing or repeating an event."""
    prefix = unique_prefix("watch-blackhole")
    count = 30
    members = etcd_cluster.members

    async def scenario(relay: TcpRelay) -> None:
        endpoints = (relay.url(), *etcd_cluster.endpoints[1:])
        watcher = EtcdClient(
            etcd_cluster.settings(endpoints, watch_check_interval=1.0, request_timeout=1.0)
        )
        writer = EtcdClient(etcd_cluster.settings(etcd_cluster.endpoints[1:]))
        half = asyncio.Event()
        try:
            start = (await watcher.get_prefix(prefix)).revision + 1
            async with watcher.watch_prefix(prefix, start_revision=start) as watch:
                collector = asyncio.create_task(_collect(watch, count))
                writes = asyncio.create_task(_write_sequence(writer, prefix, count, 0.05, half))
                await half.wait()
                await asyncio.to_thread(relay.cut, "blackhole")
                revisions = await writes
                seen = await asyncio.wait_for(collector, 30)
            assert seen == [(rev, b"%d" % n) for n, rev in enumerate(revisions)]
            assert watcher.endpoint != relay.url()
        finally:
            await watcher.close()
            await writer.close()

    with TcpRelay(members[0].client_port) as relay:
        run(scenario(relay))


def test_watch_reports_compaction(etcd_cluster: EtcdCluster) -> None:
    prefix = unique_prefix("compact")

    async def scenario() -> None:
        async with EtcdClient(etcd_cluster.settings()) as etcd:
            first = await etcd.put(prefix + b"a", b"1")
            await etcd.put(prefix + b"a", b"2")
            last = await etcd.put(prefix + b"a", b"3")
            await asyncio.to_thread(etcd_cluster.etcdctl, "compact", str(last.revision))
            with pytest.raises(WatchCompacted) as caught:
                async with etcd.watch_prefix(prefix, start_revision=first.revision) as watch:
                    async for _batch in watch:
                        pass
            assert caught.value.compact_revision == last.revision
            # the caller's recovery: reload, then watch from the reload's revision
            snapshot = await etcd.get_prefix(prefix)
            assert [kv.value for kv in snapshot.kvs] == [b"3"]
            async with etcd.watch_prefix(prefix, start_revision=snapshot.revision + 1) as watch:
                await etcd.put(prefix + b"a", b"4")
                batch = await anext(watch)
            assert [e.kv.value for e in batch.events] == [b"4"]

    run(scenario())


def test_lease_keeps_key_while_renewed_and_expiry_deletes_it(etcd_cluster: EtcdCluster) -> None:
    prefix = unique_prefix("lease")
    ttl = 2

    async def scenario() -> None:
        async with EtcdClient(etcd_cluster.settings()) as etcd:
            kept = await etcd.lease_keeper(ttl)
            abandoned = await etcd.grant(ttl)
            await etcd.put(prefix + b"kept", b"x", lease=kept.lease.id)
            put = await etcd.put(prefix + b"abandoned", b"y", lease=abandoned.id)
            async with etcd.watch(prefix + b"abandoned", start_revision=put.revision + 1) as w:
                batch = await asyncio.wait_for(anext(w), ttl + 20)
            assert [e.type for e in batch.events] == [EventType.DELETE]
            assert await etcd.get(prefix + b"abandoned") is None
            assert await etcd.time_to_live(abandoned.id) == -1
            # the kept lease outlived the abandoned one's TTL thanks to its keeper
            assert kept.alive()
            assert await etcd.get(prefix + b"kept") is not None
            assert await etcd.time_to_live(kept.lease.id) > 0
            await kept.stop()
            await etcd.revoke(kept.lease.id)
            assert await etcd.get(prefix + b"kept") is None
            await etcd.revoke(kept.lease.id)  # unknown lease: not an error

    run(scenario())


def test_unary_requests_fail_over_and_report_unavailability(etcd_cluster: EtcdCluster) -> None:
    dead = find_free_block(2)
    dead_endpoints = (f"127.0.0.1:{dead}", f"127.0.0.1:{dead + 1}")
    key = unique_prefix("failover") + b"k"

    async def scenario() -> None:
        settings = etcd_cluster.settings((*dead_endpoints, *etcd_cluster.endpoints))
        async with EtcdClient(settings) as etcd:
            await etcd.put(key, b"v")  # connection refused twice: nothing sent, moved on
            assert etcd.endpoint == etcd_cluster.endpoints[0]
            assert (await etcd.get(key)) is not None
        async with EtcdClient(EtcdSettings(dead_endpoints, request_timeout=1.0)) as etcd:
            with pytest.raises(EtcdUnavailable):
                await etcd.get(key)
            with pytest.raises(EtcdUnavailable):
                await etcd.put(key, b"never")

    run(scenario())


def test_tls_client_certificates_and_password_auth(tmp_path: Path) -> None:
    """A single-member cluster with https client URLs, client certificates required, and
    authentication enabled (the user may only use /test/); its tokens expire after 1 s idle,
    so the client has to authenticate again."""
    cluster = EtcdCluster(
        tmp_path,
        size=1,
        use_tls=True,
        auth=("interlock", "s3cret"),
        extra_args=("--auth-token-ttl=1",),
    ).start()
    prefix = unique_prefix("tls")
    try:

        async def scenario() -> None:
            async with EtcdClient(cluster.settings()) as etcd:
                assert etcd.endpoint.startswith("https://")
                put = await etcd.put(prefix + b"k", b"v")
                async with etcd.watch_prefix(prefix, start_revision=put.revision) as watch:
                    batch = await anext(watch)
                assert [e.kv.value for e in batch.events] == [b"v"]
                with pytest.raises(EtcdAuthError):
                    await etcd.put(b"/elsewhere", b"v")
                with pytest.raises(EtcdAuthError):
                    async with etcd.watch(b"/elsewhere") as watch:
                        await anext(watch)
                token = etcd.transport.token
                await asyncio.sleep(2.5)  # the token expires: a watch has to get a new one
                async with etcd.watch_prefix(prefix, start_revision=put.revision) as watch:
                    batch = await anext(watch)
                assert [e.kv.value for e in batch.events] == [b"v"]
                assert etcd.transport.token not in (None, token)
                token = etcd.transport.token
                await asyncio.sleep(2.5)  # and so does a unary request
                assert (await etcd.get(prefix + b"k")) is not None
                assert etcd.transport.token not in (None, token)
            async with EtcdClient(cluster.settings(password="wrong")) as etcd:
                with pytest.raises(EtcdAuthError):
                    await etcd.get(prefix + b"k")
            async with EtcdClient(cluster.settings(cert_file=None, key_file=None)) as etcd:
                with pytest.raises(EtcdUnavailable):  # the TLS handshake is refused
                    await etcd.get(prefix + b"k")
            assert cluster.tls_files is not None
            cn_cert, cn_key = client_certificate(cluster.tls_files, tmp_path, "interlock")
            async with EtcdClient(cluster.settings(cert_file=cn_cert, key_file=cn_key)) as etcd:
                with pytest.raises(EtcdRequestError, match="CommonName"):
                    await etcd.get(prefix + b"k")
            async with EtcdClient(cluster.settings(user=None, password=None)) as etcd:
                with pytest.raises(EtcdAuthError):
                    await etcd.get(prefix + b"k")

        run(scenario())
    finally:
        cluster.destroy()
