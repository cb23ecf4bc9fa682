# ruff: noqa: F811  (the etcd_cluster fixture is imported, then named by the tests)
"""Leader election and fencing against a real 3-member etcd cluster.

Each candidate has its own client (as each Interlock instance would).  A candidate that must
be cut off reaches every member through a :class:`TcpRelay` of its own, so cutting its relays
isolates it from etcd while the other candidate keeps a direct path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Literal

import pytest
from tests.integration.etcd_support import (
    EtcdCluster,
    TcpRelay,
    etcd_cluster,  # noqa: F401  (the fixture)
    run,
    unique_prefix,
)

from interlock.cluster import Election, EtcdClient, Leader, NotLeader

pytestmark = pytest.mark.slow

TTL = 3
#: Generous bound for "within the TTL" on a loaded 2-core machine (not a timing assertion:
#: only a limit after which the test gives up).
TAKEOVER_LIMIT = TTL * 4 + 10


@contextlib.contextmanager
def relays_to(cluster: EtcdCluster) -> Iterator[list[TcpRelay]]:
    relays = [TcpRelay(m.client_port) for m in cluster.members]
    for relay in relays:
        relay.start()
    try:
        yield relays
    finally:
        for relay in relays:
            relay.stop()


async def _leader_and_follower(
    first: Election, second: Election
) -> tuple[Election, Election, asyncio.Task[Leader]]:
    """Campaign with both; returns (leader, follower, the follower's pending campaign)."""
    tasks = {
        asyncio.create_task(first.campaign()): first,
        asyncio.create_task(second.campaign()): second,
    }
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    assert len(done) == 1, "both candidates won"
    (won,) = done
    (waiting,) = pending
    return tasks[won], tasks[waiting], waiting


def test_two_candidates_exactly_one_leads(etcd_cluster: EtcdCluster) -> None:
    key = unique_prefix("election-one") + b"leader"

    async def scenario() -> None:
        a_client = EtcdClient(etcd_cluster.settings())
        b_client = EtcdClient(etcd_cluster.settings(etcd_cluster.endpoints[::-1]))
        a = Election(a_client, key, b"instance-a", ttl=TTL)
        b = Election(b_client, key, b"instance-b", ttl=TTL)
        try:
            leader, follower, waiting = await _leader_and_follower(a, b)
            assert leader.is_leader() and not follower.is_leader()
            await leader.confirm()
            with pytest.raises(NotLeader):
                await follower.confirm()
            current = await follower.leader()
            assert current == leader.held
            # the leader keeps its lease alive: after several TTLs it still leads, alone
            await asyncio.sleep(TTL * 2)
            assert not waiting.done()
            assert leader.is_leader() and not follower.is_leader()
            await leader.confirm()
            # resigning hands over at once
            await leader.resign()
            assert not leader.is_leader()
            new_term = await asyncio.wait_for(waiting, TAKEOVER_LIMIT)
            assert new_term.value == follower.value and follower.is_leader()
            assert new_term.create_revision > (current.create_revision if current else 0)
            with pytest.raises(NotLeader):
                await leader.confirm()
            await follower.confirm()
            await follower.resign()
            assert await a.leader() is None
        finally:
            for election in (a, b):
                await election.resign()
            await a_client.close()
            await b_client.close()

    run(scenario())


def _isolated_leader_is_replaced(
    cluster: EtcdCluster, mode: Literal["reset", "blackhole"], name: str
) -> None:
    """Candidate A (through relays) leads; its relays are cut; B takes over once A's lease
    expires at etcd; A's local check had already turned false and confirm() fails, during
    the cut (cannot ask etcd) and after it (the key belongs to B's term)."""
    key = unique_prefix(name) + b"leader"

    async def scenario(relays: list[TcpRelay]) -> None:
        a_client = EtcdClient(cluster.settings(tuple(r.url() for r in relays), request_timeout=0.8))
        b_client = EtcdClient(cluster.settings())
        a = Election(a_client, key, b"instance-a", ttl=TTL)
        b = Election(b_client, key, b"instance-b", ttl=TTL)
        try:
            a_term = await a.campaign()
            b_campaign = asyncio.create_task(b.campaign())
            await a.confirm()
            for relay in relays:
                await asyncio.to_thread(relay.cut, mode)
            b_term = await asyncio.wait_for(b_campaign, TAKEOVER_LIMIT)
            # fencing: by the time etcd let B in, A no longer believed it leads
            assert not a.is_leader()
            with pytest.raises(NotLeader):
                await a.confirm()
            assert b.is_leader()
            await b.confirm()
            assert b_term.create_revision > a_term.create_revision
            for relay in relays:
                await asyncio.to_thread(relay.restore)
            # back in touch with etcd, A is told the key is another term's
            with pytest.raises(NotLeader):
                await a.confirm()
            assert await a.leader() == b_term
            assert not a.is_leader() and b.is_leader()
            # A campaigns again under a new lease: it waits behind B's term, then leads
            # once B resigns
            a_again = asyncio.create_task(a.campaign())
            await asyncio.sleep(0.5)
            assert not a_again.done() and not a.is_leader()
            await b.resign()
            a_next = await asyncio.wait_for(a_again, TAKEOVER_LIMIT)
            assert a_next.lease != a_term.lease and a_next.create_revision > b_term.create_revision
            assert a.is_leader()
            await a.confirm()
        finally:
            for election in (a, b):
                await election.resign()
            await a_client.close()
            await b_client.close()

    with relays_to(cluster) as relays:
        run(scenario(relays))


def test_leader_cut_off_by_reset_is_replaced_and_fenced(etcd_cluster: EtcdCluster) -> None:
    _isolated_leader_is_replaced(etcd_cluster, "reset", "election-reset")


def test_leader_cut_off_silently_is_replaced_and_fenced(etcd_cluster: EtcdCluster) -> None:
    _isolated_leader_is_replaced(etcd_cluster, "blackhole", "election-blackhole")


def test_revoked_lease_fails_confirm_before_the_keeper_notices(etcd_cluster: EtcdCluster) -> None:
    """An operator revokes the leader's lease: the key is gone at once; the leader's local
    check may still say yes until its next keepalive, but confirm() asks etcd and refuses."""
    key = unique_prefix("election-revoked") + b"leader"

    async def scenario() -> None:
        async with EtcdClient(etcd_cluster.settings()) as client:
            election = Election(client, key, b"instance-a", ttl=30)
            term = await election.campaign()
            await asyncio.to_thread(etcd_cluster.etcdctl, "lease", "revoke", f"{term.lease:x}")
            with pytest.raises(NotLeader, match="deposed"):
                await election.confirm()
            assert not election.is_leader()
            # campaigning again starts a new term under a new lease
            again = await election.campaign()
            assert again.lease != term.lease and again.create_revision > term.create_revision
            await election.confirm()
            await election.resign()

    run(scenario())


def test_observe_follows_the_leadership(etcd_cluster: EtcdCluster) -> None:
    key = unique_prefix("election-observe") + b"leader"

    async def scenario() -> None:
        async with EtcdClient(etcd_cluster.settings()) as client:
            observer = Election(client, key, b"observer", ttl=TTL)
            a = Election(client, key, b"instance-a", ttl=TTL)
            seen: list[bytes | None] = []
            changes = observer.observe()
            seen.append(None if (first := await anext(changes)) is None else first.value)
            await a.campaign()
            seen.append(None if (nxt := await anext(changes)) is None else nxt.value)
            await a.resign()
            seen.append(None if (last := await anext(changes)) is None else last.value)
            await changes.aclose()
            assert seen == [None, b"instance-a", None]

    run(scenario())
