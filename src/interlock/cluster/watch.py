"""A watch on a key or prefix that survives lost connections and resumes where it stopped.

Theory of operation.  A watch is one streaming POST to ``/v3/watch``; the gateway answers with
newline-delimited JSON messages: ``created``, then batches of events, or ``canceled`` (with
``compact_revision`` when the history asked for is gone).  The watch remembers the revision to
resume from (``next_revision``: one past the last event delivered, or past the revision the
stream was created at), so when the stream dies it opens a new one, on the next endpoint if
needed, from exactly there: no event is lost and none is delivered twice.

A stream can die loudly (member killed: the connection closes) or quietly (a cut network, a
member cut off from its peers).  Against the quiet case the stream carries etcd's
"require leader" metadata (etcd cancels the watch when its member loses the raft leader), and
a stream that stayed silent for ``watch_check_interval`` has its endpoint checked with a
linearizable read; if that fails the stream is dropped and reopened elsewhere.

When no endpoint accepts a new stream, ``__anext__`` raises :class:`EtcdUnavailable`; the
watch stays valid and iterating again resumes from ``next_revision``.  When etcd compacted that
revision away it raises :class:`WatchCompacted` and the watch is finished: the caller reloads
the prefix and starts a new watch from the reload's revision + 1.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import TracebackType

import aiohttp

from interlock.cluster.codec import (
    GrpcCode,
    WatchEvent,
    WatchMessage,
    parse_error,
    range_request,
    watch_create_request,
)
from interlock.cluster.errors import EtcdAuthError, WatchCompacted
from interlock.cluster.transport import REQUIRE_LEADER, Transport, decode_line, is_auth_refusal
from interlock.log import get_logger

log = get_logger(__name__)

MAX_RECONNECT_DELAY = 1.0


@dataclass(frozen=True, slots=True)
class WatchBatch:
    """Events of one watch message, in revision order; ``revision``: the last one's."""

    revision: int
    events: tuple[WatchEvent, ...]


class Watch:
    """``async with client.watch_prefix(p, start_revision=r) as watch: async for batch in
    watch: ...`` (see the module doc for what is raised)."""

    def __init__(
        self,
        transport: Transport,
        key: bytes,
        range_end: bytes = b"",
        *,
        start_revision: int = 0,
        prev_kv: bool = False,
    ) -> None:
        self._transport = transport
        self._key = key
        self._range_end = range_end
        self._prev_kv = prev_kv
        #: Where the next stream starts (None: "now", until the first stream is created).
        self.next_revision: int | None = start_revision or None
        self._url = ""
        self._response: aiohttp.ClientResponse | None = None
        self._buffer = b""
        self._drops = 0
        self._closed = False
        self._token: str | None = None
        self._stale_token = False

    async def __aenter__(self) -> Watch:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> WatchBatch:
        while not self._closed:
            if self._response is None:
                await self._connect()
            message = await self._read_message()
            if message is None:
                continue
            batch = self._handle(message)
            if batch is not None:
                return batch
        raise StopAsyncIteration

    def close(self) -> None:
        self._closed = True
        self._close_stream()

    # -- stream ---------------------------------------------------------------------------------

    async def _connect(self) -> None:
        if self._stale_token:
            await self._transport.authenticate(stale=self._token)
            self._stale_token = False
        elif self._drops:
            await asyncio.sleep(min(MAX_RECONNECT_DELAY, 0.05 * 2**self._drops))
        self._token = self._transport.token
        body = watch_create_request(
            self._key, self._range_end, self.next_revision or 0, prev_kv=self._prev_kv
        )
        self._url, self._response = await self._transport.open_stream(
            "/v3/watch", body, REQUIRE_LEADER
        )
        self._buffer = b""

    def _close_stream(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None

    def _drop(self, reason: str) -> None:
        """The stream is broken: close it and move to another endpoint; or, when etcd
        refused our token, authenticate again first; or give up on a refusal."""
        if self._transport.needs_new_token(reason) and not self._stale_token:
            self._stale_token = True
            self._close_stream()
            return
        if is_auth_refusal(reason):
            self.close()
            raise EtcdAuthError(int(GrpcCode.PERMISSION_DENIED), reason)
        log.warning(
            "etcd watch on %s lost (%s); resuming from revision %s",
            self._url,
            reason,
            self.next_revision,
        )
        self._close_stream()
        self._transport.failover(self._url)
        self._drops += 1

    async def _read_message(self) -> WatchMessage | None:
        assert self._response is not None
        interval = self._transport.settings.watch_check_interval
        while b"\n" not in self._buffer:
            try:
                chunk = await asyncio.wait_for(self._response.content.readany(), interval)
            except TimeoutError:
                if await self._endpoint_alive():
                    continue
                self._drop("the stream was silent and its endpoint does not answer")
                return None
            except (aiohttp.ClientError, OSError) as exc:
                self._drop(str(exc) or type(exc).__name__)
                return None
            if not chunk:
                self._drop("closed by the server")
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            obj = decode_line(line)
        except ValueError:
            self._drop("garbled message")
            return None
        error = parse_error(obj)
        if error is not None:
            self._drop(error.message)
            return None
        return WatchMessage.from_json(obj.get("result", {}))

    async def _endpoint_alive(self) -> bool:
        body = range_request(self._key, self._range_end, limit=1, count_only=True)
        return await self._transport.probe(self._url, body)

    def _handle(self, message: WatchMessage) -> WatchBatch | None:
        if message.canceled:
            if message.compact_revision:
                self.close()
                raise WatchCompacted(message.compact_revision)
            self._drop(f"canceled by etcd: {message.cancel_reason or 'no reason given'}")
            return None
        if message.created:
            self._drops = 0
            if self.next_revision is None:
                self.next_revision = message.revision + 1
            return None
        if message.events:
            self._drops = 0
            last = max(event.revision for event in message.events)
            self.next_revision = last + 1
            return WatchBatch(last, message.events)
        if message.revision:  # progress notification: everything up to it was delivered
            self.next_revision = max(self.next_revision or 0, message.revision + 1)
        return None
