"""``causal_reads`` on the wire: learn each write's GTID, make replica reads wait for it.

Learning the GTID (MariaDB): the primary connection tracks ``last_gtid`` in its OK packets
(``SET session_track_system_variables``, sent hidden right after the login, adding
``last_gtid`` to the variables already tracked) when it negotiated CLIENT_SESSION_TRACK, which
it does whenever the client did (the backend link uses the client's capabilities, so every OK
is already in the form the client expects and nothing is rewritten).  For a client that did not
negotiate session tracking the OKs carry no session state; the proxy then reads
``SELECT @@last_gtid`` on the primary itself (hidden, consumed) after each statement that may
have written, before it handles the next command.  With a service-wide mode (``global``) the
answer of such a write is held back until that lookup returned and the GTID was published to
the service: otherwise another session could read, before the GTID is known, on a replica that
lacks the write the client already saw acknowledged.

Waiting: a read the router sends to a replica with ``wait_gtid`` is preceded, on that replica,
by :func:`interlock.routing.causal.wait_statement` as a separate hidden COM_QUERY: it succeeds
once the replica applied the GTID, or fails (error 1242) after ``causal_reads_timeout``; the
client never sees its result.  On failure the read goes to the primary
(``Reason.CAUSAL_TIMEOUT``, counted in the service's ``route_reasons``).

``global``: every session's learned GTIDs are merged into the service's ``causal_position``,
which the session's view of the topology carries as ``global_gtid`` (until the monitor
publishes the primary's position); ``fast``: no wait, only replicas the monitor knows to have
the position (without a monitor: the primary).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock.log import get_logger
from interlock.routing.causal import CausalReads, GtidPosition, wait_statement
from interlock.routing.decision import Reason, RouteDecision, Target, plain_decision
from interlock.routing.errors import GtidError
from interlock.routing.policy import causal_timeout_fallback
from interlock.routing.session_state import ResponseFacts, after_command
from interlock.server.rwlinks import CONSUME, Expect, Link, first_value
from interlock.sql.kinds import KindBits
from interlock.wire.constants import Capability, Command
from interlock.wire.events import ResponseDone, StatementPrepared
from interlock.wire.framing import Packet

if TYPE_CHECKING:
    from interlock.server.rwlinks import Inflight
    from interlock.server.rwsplit import RWSplitSession

log = get_logger(__name__)

TRACK_LAST_GTID = (
    b"SET @@session.session_track_system_variables = IF("
    b"@@session.session_track_system_variables = '', 'last_gtid', "
    b"CONCAT(@@session.session_track_system_variables, ',last_gtid'))"
)
SELECT_LAST_GTID = b"SELECT @@last_gtid"
_SESSION_TRACK = int(Capability.SESSION_TRACK)
_READ = KindBits.READ


_NONE = CausalReads.NONE


class CausalReadsIO:
    __slots__ = ("_reply", "_session", "hold_writes", "mode", "need_gtid", "tracking")

    def __init__(self, session: RWSplitSession) -> None:
        self._session = session
        self.mode = session.settings.causal_reads
        self.tracking = False  # the primary's OKs carry last_gtid
        self.need_gtid = False  # a write went by untracked: read @@last_gtid before going on
        self.hold_writes = False  # hold a write's answer until its GTID is published
        self._reply: bytes | None = None  # the held answer

    def start(self, primary: Link) -> None:
        """After the login to the primary: ask it to track ``last_gtid``."""
        self.tracking = False
        self.need_gtid = False
        self.hold_writes = False
        if self.mode is CausalReads.NONE or primary.conn is None:
            return
        if not int(primary.conn.capabilities) & _SESSION_TRACK:
            self.hold_writes = self.mode.service_wide
            return
        self.tracking = True
        primary.send(bytes((Command.QUERY,)) + TRACK_LAST_GTID,
                     Expect(CONSUME, self._tracking_set))

    def _tracking_set(self, done: ResponseDone, _p: StatementPrepared | None, _b: bytes) -> None:
        if not done.ok:
            log.warning("Session %d: the primary refused to track last_gtid (%s); reading"
                        " @@last_gtid after writes instead", self._session.id,
                        done.error.message if done.error else "?")
            self.tracking = False
            self.hold_writes = self.mode.service_wide

    # -- learning ------------------------------------------------------------------------------

    def after_response(self, link: Link, flight: Inflight, facts: ResponseFacts) -> None:
        """A relayed response is complete (the routing state already advanced)."""
        if self.mode is _NONE or not link.is_primary or not facts.ok:
            if self._reply is not None:
                self._release()
            return
        if facts.last_gtid:
            self._publish(facts.last_gtid)
        elif not self.tracking and may_write(flight):
            self.need_gtid = True
            return  # a held answer goes out once the GTID is known (_learned)
        self._release()

    def hold_reply(self, reply: bytes) -> None:
        """Keep a write's answer from the client until its GTID is published."""
        self._reply = reply

    def _release(self) -> None:
        reply, self._reply = self._reply, None
        if reply is not None:
            self._session.client.write(reply)

    def _publish(self, gtid: str) -> None:
        if not self.mode.service_wide:
            return
        try:
            written = GtidPosition.parse(gtid)
        except GtidError:
            return
        service = self._session.service
        known = service.causal_position
        service.causal_position = known.merge(written) if known is not None else written

    def before_next_command(self) -> bool:
        """Read ``@@last_gtid`` first if a write went by untracked; True while it runs."""
        if not self.need_gtid:
            return False
        session = self._session
        primary = session.primary
        if not primary.idle:
            if session._pump not in primary.waiters:
                primary.waiters.append(session._pump)  # (try again once it is)
            return False
        self.need_gtid = False
        session._busy = True
        primary.send(bytes((Command.QUERY,)) + SELECT_LAST_GTID,
                     Expect(CONSUME, self._learned, collect=True))
        return True

    def _learned(self, done: ResponseDone, _p: StatementPrepared | None, data: bytes) -> None:
        session = self._session
        value = first_value(data) if done.ok else None
        if value:
            gtid = value.decode("ascii", "replace")
            primary = session.primary.name
            decision = plain_decision(Target.PRIMARY, primary, Reason.WRITE)
            session.state = after_command(session.state, decision,
                                          ResponseFacts(primary, True, None, gtid))
            self._publish(gtid)
        self._release()
        session._busy = False
        session._pump()

    # -- waiting -------------------------------------------------------------------------------

    def wait_then(self, link: Link, packet: Packet, raw: bytes | None,
                  decision: RouteDecision) -> None:
        """Run the GTID wait on ``link`` (a replica), then the client's statement there, or on
        the primary if the wait failed."""
        session = self._session
        assert decision.wait_gtid is not None
        session._busy = True
        session.service.causal_waits += 1
        statement = wait_statement(decision.wait_gtid, decision.wait_timeout)

        def waited(done: ResponseDone, _p: StatementPrepared | None, _b: bytes) -> None:
            session._busy = False
            if session.closed:
                return
            if done.ok and link.idle:
                session.run_on(link, packet, raw, decision)
            else:
                if not done.ok:
                    log.info("Session %d: causal read: server '%s' did not reach %s in %gs;"
                             " reading from the primary", session.id, link.name,
                             decision.wait_gtid, decision.wait_timeout)
                fallback = causal_timeout_fallback(decision, session.topology())
                session.route_packet(packet, raw, fallback)
            session._pump()

        link.send(bytes((Command.QUERY,)) + statement, Expect(CONSUME, waited))


def may_write(flight: Inflight) -> bool:
    """Might the statement of ``flight`` have written (so it has a GTID to learn)?"""
    c = flight.classification
    if c is None:
        return flight.payload[:1] == bytes((Command.STMT_EXECUTE,))
    return not int(c.kind) & _READ
