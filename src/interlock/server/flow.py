"""Flow control between a client connection and its backend connection(s), in one place.

Both transports get the same write-buffer water marks.  When a transport's buffer rises above
the high mark, asyncio calls ``pause_writing()`` on its protocol; the protocol then pauses
*reading* on the transport that feeds it (client stopped reading a big result -> stop reading
the backend; backend slow to take a 20 MiB upload -> stop reading the client), and resumes it on
``resume_writing()``.  Memory held by the proxy per session is therefore bounded by roughly
``HIGH_WATER`` plus one read chunk per direction.

A transport's reading can be paused for several independent reasons at once (the peer is
congested; the session is busy with something else, e.g. waiting for a backend to connect or
for a response before handling a held command).  :class:`ReadGate` keeps a set of reasons and
touches the transport only on the transitions between "no reason" and "some reason".
"""

from __future__ import annotations

import asyncio

HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024


class Reason:
    """Why a transport's reading is paused: bits of :attr:`ReadGate.reasons`.

    Plain ``int`` constants, not an ``IntFlag``: the gate is touched on every response, and
    ``IntFlag`` arithmetic goes through ``enum.Flag.__and__`` (a Python-level call building a
    flag object), about 20x the cost of the int operation.  Not a protocol value.
    """

    PEER_CONGESTED = 1  # the other side's write buffer is above the high mark
    BUSY = 2  # the session is not ready to take more input from this side


def set_limits(transport: asyncio.BaseTransport) -> None:
    # uvloop's transports are not subclasses of asyncio.WriteTransport: duck-type
    setter = getattr(transport, "set_write_buffer_limits", None)
    if setter is not None:
        setter(high=HIGH_WATER, low=LOW_WATER)


class ReadGate:
    """Pauses reading on a transport while at least one :class:`Reason` holds."""

    __slots__ = ("reasons", "transport")

    def __init__(self, transport: asyncio.ReadTransport | None = None) -> None:
        self.transport = transport
        self.reasons = 0  # a set of Reason bits, kept as an int (made per connection)

    def attach(self, transport: asyncio.ReadTransport) -> None:
        """Use ``transport`` from now on (e.g. after a TLS upgrade), applying current state."""
        self.transport = transport
        if self.reasons:
            transport.pause_reading()

    def pause(self, reason: int) -> None:
        """``reason``: a :class:`Reason` bit."""
        was_open = not self.reasons
        self.reasons |= reason
        if was_open and self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume(self, reason: int) -> None:
        """``reason``: a :class:`Reason` bit."""
        reasons = self.reasons
        if not reasons & reason:
            return
        self.reasons = reasons = reasons & ~reason
        if not reasons and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    @property
    def paused(self) -> bool:
        return bool(self.reasons)


class Congestion:
    """Links the write side of one connection to the read gate of its peer.

    A protocol calls :meth:`pause_writing` / :meth:`resume_writing` from its own asyncio
    callbacks of the same names; the peer's gate is paused/resumed accordingly.  The peer can be
    swapped (a session may talk to a different backend later).
    """

    __slots__ = ("congested", "peer")

    def __init__(self) -> None:
        self.peer: ReadGate | None = None
        self.congested = False

    def link(self, peer: ReadGate | None) -> None:
        if self.peer is not None and self.congested:
            self.peer.resume(Reason.PEER_CONGESTED)
        self.peer = peer
        if peer is not None and self.congested:
            peer.pause(Reason.PEER_CONGESTED)

    def pause_writing(self) -> None:
        self.congested = True
        if self.peer is not None:
            self.peer.pause(Reason.PEER_CONGESTED)

    def resume_writing(self) -> None:
        self.congested = False
        if self.peer is not None:
            self.peer.resume(Reason.PEER_CONGESTED)
