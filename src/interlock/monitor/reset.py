"""Reset-replication planning (pure): MaxScale's destructive ``reset-replication [primary]``.

For a cluster whose GTIDs are out of order while its data is known to be in sync (MaxScale's
premise): every server's binary logs and GTID positions are deleted and replication starts
again from an empty history, with ``primary`` (default: the current primary) as the primary.
Nothing of the data is copied; what is lost is described in docs/failover.md
("Reset-replication").

Steps, in this order (each with its undo up to the point of no return):

1. hold new writes at the proxy (undo: release them to the old primary);
2. fence every writable server (normally the primary) as a switchover does: drain the open
   transactions (bounded), ``KILL CONNECTION`` every client connection, ``read_only=1`` (undo:
   writable again), kill again;
3. Interlock's addition to MaxScale's command: read the old primary's final
   ``gtid_binlog_pos`` and wait (``MASTER_GTID_WAIT``, up to ``switchover_timeout``) until every
   server replicating from it has applied it, so that no committed write exists only on some
   servers when the history is cut;
4. on every server: stop and remove each replication connection (undo: re-create it with
   ``MASTER_USE_GTID=slave_pos``), ``read_only=1``, disable its enabled events (undo: enable
   them again);
5. on every server: ``RESET MASTER`` (the first one is the point of no return), then
   ``SET GLOBAL gtid_slave_pos='D-S-0'`` (D, S: the new primary's ``gtid_domain_id`` and
   ``server_id``; MaxScale sets the sequence to 0 the same way);
6. the new primary: ``read_only=0``, the events that were enabled before enabled again; every
   other server replicates from it (``MASTER_USE_GTID=slave_pos``, ``replication_user``);
7. publish the topology, release the held writes to the new primary, check that the others
   replicate.

Steps after the point of no return carry ``if_failed``: the state the cluster is left in when
that step fails (which servers have lost their binlogs, which replicate again) and what to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from interlock.monitor.cluster import ClusterState, Link, ServerView
from interlock.monitor.common import (
    SQL_TIMEOUT,
    check_replicating,
    publish_step,
    read_only_step,
    source_of,
    sql_step,
)
from interlock.monitor.settings import MonitorSettings
from interlock.monitor.sqltext import (
    GtidMode,
    ReplicationSource,
    change_master,
    quote,
    reset_slave_all,
    start_slave,
    stop_slave,
)
from interlock.monitor.states import ServerState
from interlock.monitor.steps import Plan, PlanKind, Refusal, Step, StepKind
from interlock.monitor.switchover import drain_step

#: context key of the old primary's final gtid_binlog_pos
RESET_FROM_GTID = "reset_from_gtid"
#: the events a DISABLE_EVENTS step disabled on a server go to the context under this key
EVENTS_KEY = "disabled_events:{server}"


def reset_gtid(domain: int, server_id: int) -> str:
    """What every server's ``gtid_slave_pos`` becomes: sequence 0 of the new primary's domain
    and server id, as MaxScale sets it (its first transaction is then ``D-S-1``)."""
    return f"{domain}-{server_id}-0"


def busy_refusal(primary: str | None) -> Refusal:
    """The answer while another cluster operation (switchover, failover, rejoin, an automatic
    action) holds the monitor's operation lock."""
    return Refusal(PlanKind.RESET_REPLICATION, primary,
                   "another cluster operation is running (switchover, failover, rejoin or an "
                   "automatic action)", remedies=("try again when it has finished",))


def plan_reset_replication(cluster: ClusterState, settings: MonitorSettings, *,
                           primary: str | None = None, monitor_user: str = "",
                           timeout: float | None = None) -> Plan | Refusal:
    """Plan ``reset-replication`` with ``primary`` (default: the current primary) as the new
    primary.  ``monitor_user``: the executor's account (the fencing keeps its sessions);
    ``timeout``: the write hold and the catch-up wait (default ``switchover_timeout``)."""
    refusal = _preconditions(cluster, settings, primary)
    if refusal is not None:
        return refusal
    new = primary or cluster.primary
    assert new is not None
    limit = settings.switchover_timeout if timeout is None else timeout
    keep = tuple(u for u in (monitor_user, settings.replication_user or "") if u)
    return _Builder(cluster, settings, new, limit, keep).build()


def _preconditions(cluster: ClusterState, settings: MonitorSettings,
                   primary: str | None) -> Refusal | None:
    kind = PlanKind.RESET_REPLICATION
    if primary is not None and cluster.server(primary) is None:
        known = ", ".join(v.name for v in cluster.servers)
        return Refusal(kind, primary, f"{primary} is not a monitored server",
                       details=(f"monitored: {known}",))
    new = primary or cluster.primary
    if new is None:
        return Refusal(kind, None, "there is no primary to keep",
                       remedies=("name the server that becomes the primary: "
                                 "`reset-replication <monitor> <server>`",))
    down = [v for v in cluster.servers if not v.running]
    if down:
        return Refusal(kind, new, "every server must be running: reset-replication deletes the "
                       "binary logs and GTID positions of all of them",
                       details=tuple(f"{v.name} is {v.state_text}" for v in down),
                       remedies=("bring them back", "remove them from the monitor first"))
    held = [v.name for v in cluster.servers if v.states & ServerState.MAINTENANCE]
    if held:
        return Refusal(kind, new, f"{', '.join(held)} in maintenance: reset-replication "
                       "changes every server", remedies=("clear maintenance first",))
    view = cluster.server(new)
    assert view is not None and view.observation is not None
    if not view.observation.log_bin:
        return Refusal(kind, new, f"{new} has no binary log (log_bin=OFF): the others could "
                       "not replicate from it")
    if settings.replication_user is None:
        return Refusal(kind, new, "replication_user is not set: the new replication "
                       "connections need credentials",
                       remedies=("set replication_user/replication_password",))
    return None


@dataclass(slots=True)
class _Progress:
    """What the steps so far have done after the point of no return (for ``if_failed``)."""

    reset: list[str] = field(default_factory=list)  # RESET MASTER done
    writable: bool = False  # the new primary has read_only=0
    pointed: list[str] = field(default_factory=list)  # CHANGE MASTER to the new primary done
    published: bool = False  # the proxy routes to the new primary


class _Builder:
    def __init__(self, cluster: ClusterState, settings: MonitorSettings, new: str, limit: float,
                 keep: tuple[str, ...]) -> None:
        self.cluster, self.settings, self.new, self.limit = cluster, settings, new, limit
        self.keep = keep
        self.old = cluster.primary
        self.servers = tuple(v.name for v in cluster.servers)
        self.steps: list[Step] = []
        self.notes: list[str] = []
        self.ponr: int | None = None
        self.done = _Progress()

    def add(self, *steps: Step) -> None:
        for step in steps:
            if self.ponr is not None and len(self.steps) > self.ponr:
                step = replace(step, if_failed=self._left())
            self.steps.append(step)

    def build(self) -> Plan:
        writable = [v.name for v in self.cluster.servers
                    if v.observation is not None and not v.observation.read_only]
        if self.old is not None:
            self.add(Step(StepKind.HOLD_WRITES, self.old, "hold new writes at the proxy",
                          self.limit, undo=Step(StepKind.RELEASE_WRITES, self.old,
                                                f"release the held writes to {self.old}",
                                                SQL_TIMEOUT)))
        for name in writable:
            self.add(*self._fence(name))
        self._catch_up()
        for view in self.cluster.servers:
            self._detach(view, fenced=view.name in writable)
        self.ponr = len(self.steps)
        for view in self.cluster.servers:
            self._reset(view)
        self._restart()
        self.notes.insert(0, "destructive: deletes the binary logs and GTID history of "
                          f"{', '.join(self.servers)}; cannot be undone after step "
                          f"{self.ponr + 1} (the first RESET MASTER)")
        return Plan(PlanKind.RESET_REPLICATION, self.new, self.old, tuple(self.steps),
                    self.ponr, tuple(self.notes))

    # -- before the point of no return -------------------------------------------------------

    def _fence(self, name: str) -> tuple[Step, ...]:
        kill = Step(StepKind.KILL_CLIENTS, name,
                    f"kill every client connection on {name} until none remain", self.limit,
                    params=(("keep_users", ",".join(self.keep)),))
        return (drain_step(name, self.keep, self.limit), kill, read_only_step(name, on=True),
                kill)

    def _catch_up(self) -> None:
        old = self.old
        if old is None:
            self.notes.append("there is no primary: no server is brought up to date first; "
                              "the data of every server is assumed to be in sync")
            return
        followers = [v.name for v in self.cluster.servers
                     if v.name != old and v.states & ServerState.SLAVE]
        strays = [n for n in self.servers if n != old and n not in followers]
        if strays:
            self.notes.append(f"{', '.join(strays)} not replicating from {old}: reset-"
                              "replication does not copy data, their tables stay as they are")
        if self.new != old and self.new not in followers:
            self.notes.append(f"{self.new} does not replicate from {old}: writes {old} has and "
                              f"{self.new} lacks stay only on {old} (and diverge silently)")
        if not followers:
            return
        self.add(Step(StepKind.READ_GTID, old, f"read {old}'s final gtid_binlog_pos",
                      SQL_TIMEOUT, output=RESET_FROM_GTID))
        for name in followers:
            self.add(Step(StepKind.WAIT_GTID, name, f"wait until {name} has applied all of "
                          f"{old}'s transactions", self.limit,
                          sql=(f"SELECT MASTER_GTID_WAIT(${{{RESET_FROM_GTID}}}, "
                               f"{self.limit:g}) AS result",), inputs=(RESET_FROM_GTID,)))

    def _detach(self, view: ServerView, fenced: bool) -> None:
        name = view.name
        for link in view.links:
            self.add(sql_step(name, f"stop and remove {name}'s replication connection "
                              f"{_conn_label(link)}", stop_slave(link.connection_name),
                              reset_slave_all(link.connection_name),
                              undo=self._recreate(link)))
        if not fenced:
            self.add(read_only_step(name, on=True, undo=False))
        key = EVENTS_KEY.format(server=name)
        self.add(Step(StepKind.DISABLE_EVENTS, name, f"disable the enabled events on {name}",
                      SQL_TIMEOUT, output=key,
                      undo=Step(StepKind.ENABLE_EVENTS, name, f"enable {name}'s events again",
                                SQL_TIMEOUT, inputs=(key,))))

    def _recreate(self, link: Link) -> Step:
        conn, name = link.connection_name, link.replica
        source = ReplicationSource(link.status.master_host, link.status.master_port)
        return sql_step(name, f"re-create {name}'s replication connection {_conn_label(link)}",
                        change_master(conn, source, self.settings, GtidMode.SLAVE_POS),
                        start_slave(conn))

    # -- after it ----------------------------------------------------------------------------

    def _reset(self, view: ServerView) -> None:
        name = view.name
        pview = self.cluster.server(self.new)
        assert pview is not None and pview.observation is not None and view.observation
        pos = reset_gtid(pview.observation.gtid_domain_id, pview.observation.server_id)
        if view.observation.log_bin:
            self.add(sql_step(name, f"delete {name}'s binary logs and GTID history",
                              "RESET MASTER", timeout=self.limit))
            self.done.reset.append(name)
        self.add(sql_step(name, f"start {name}'s GTID position at {pos}",
                          f"SET GLOBAL gtid_slave_pos={quote(pos)}"))
        if not view.observation.log_bin:
            self.done.reset.append(name)

    def _restart(self) -> None:
        new = self.new
        self.add(read_only_step(new, on=False, undo=False))
        self.done.writable = True
        self.add(Step(StepKind.ENABLE_EVENTS, new, f"enable on {new} the events that were "
                      "enabled before", SQL_TIMEOUT,
                      inputs=tuple(EVENTS_KEY.format(server=n) for n in self.servers)))
        others = [n for n in self.servers if n != new]
        for name in others:
            self.add(sql_step(name, f"point {name} at {new}",
                              change_master("", source_of(self.cluster, new), self.settings,
                                            GtidMode.SLAVE_POS), start_slave("")))
            self.done.pointed.append(name)
        demoted = self.old if self.old != new else None
        self.add(publish_step(new, demoted))
        self.done.published = True
        self.add(Step(StepKind.RELEASE_WRITES, new, f"release the held writes to {new}",
                      SQL_TIMEOUT))
        for name in others:
            self.add(check_replicating(self.cluster, name, "", new, self.limit))

    def _left(self) -> str:
        """The cluster's state when the next step fails (it may have done part of its work)."""
        done, new = self.done, self.new
        todo = [n for n in self.servers if n not in done.reset]
        parts = ["cannot be rolled back (RESET MASTER deletes for good): binary logs and GTID "
                 f"history already deleted on {_names(done.reset)}"
                 + (f", not yet on {_names(todo)}" if todo else "")]
        detached = [n for n in self.servers if n not in done.pointed and n != new]
        if detached:
            parts.append(f"replication connections removed, not yet pointed at {new}: "
                         f"{_names(detached)}")
        if done.pointed:
            parts.append(f"pointed at {new}: {_names(done.pointed)}")
        parts.append(f"{new} is writable, the others read-only" if done.writable
                     else "every server is read-only")
        if done.published:
            parts.append(f"the proxy routes writes to {new}")
        parts.append(f"fix the cause, then run reset-replication again naming {new} (it "
                     "can start over from this state)")
        return "; ".join(parts)


def _conn_label(link: Link) -> str:
    name = f"'{link.connection_name}'" if link.connection_name else "(default)"
    return f"{name} to {link.source or link.address}"


def _names(names: Iterable[str]) -> str:
    return ", ".join(names) or "none"
