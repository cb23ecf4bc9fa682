"""HTTP transport to etcd's v3 JSON gateway: endpoints, failover, timeouts, TLS, auth tokens.

Theory of operation.  One aiohttp session (keep-alive connections) serves every endpoint.  The
client sticks to one endpoint (``current``) while it answers and moves to the next one in the
list when it does not.  Whether a failed request may be sent again elsewhere depends on what
is known about it:

- the connection could not be made (refused, connect timeout, TLS handshake refused): nothing
  was sent, so any request moves on to the next endpoint;
- the request was sent and the answer was lost (timeout, connection dropped): a read (range,
  read-only txn, lease keepalive, ...) moves on; a write raises :class:`EtcdOutcomeUnknown`;
- etcd answered ``Unavailable`` (the member has no raft leader, is overloaded...): the same
  rule, except for the answers etcd gives before applying anything ("no leader", "not
  capable", "too many requests"), which are safe to send elsewhere;
- an invalid or expired auth token (or an auth store revision that moved on): authenticate
  again once and resend;
- any other error is etcd's verdict and is raised as :class:`EtcdRequestError`.

With a user and password, ``/v3/auth/authenticate`` gives a token sent as the
``Authorization`` header (etcd's simple tokens are replicated, so one token serves every
member).  TLS (``https://`` endpoints) verifies the server against ``ca_file`` (else the
system's CAs) and presents ``cert_file``/``key_file`` when given.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from interlock.cluster.codec import GatewayError, GrpcCode, Json, parse_error
from interlock.cluster.errors import (
    EtcdAuthError,
    EtcdOutcomeUnknown,
    EtcdRequestError,
    EtcdUnavailable,
)
from interlock.log import get_logger

log = get_logger(__name__)

#: etcd answers with these before applying anything: another member may serve the request.
_NOT_APPLIED = ("no leader", "not capable", "too many requests", "unhealthy cluster")
#: A token the member does not know (expired, member restarted) or an auth store that changed.
_REAUTHENTICATE = ("invalid auth token", "auth store is old", "user name is empty")
_AUTH_MESSAGES = ("authentication failed", "user name is empty", "permission denied")
_AUTH_CODES = frozenset({GrpcCode.PERMISSION_DENIED, GrpcCode.UNAUTHENTICATED})
_RETRY_CODES = frozenset({GrpcCode.UNAVAILABLE, GrpcCode.DEADLINE_EXCEEDED})
#: Asks etcd to cancel a watch when its member loses the raft leader (gRPC metadata
#: ``hasleader``), so a watch on a partitioned member fails over instead of going quiet.
REQUIRE_LEADER = {"Grpc-Metadata-hasleader": "true"}


def normalize_endpoint(text: str) -> str:
    """``host:port`` -> ``http://host:port``; a URL loses its trailing slash."""
    text = text.strip().rstrip("/")
    return text if "://" in text else f"http://{text}"


@dataclass(frozen=True, slots=True)
class EtcdSettings:
    """How to reach etcd.  ``request_timeout`` bounds one attempt on one endpoint (a request
    may try every endpoint once); ``watch_check_interval``: a watch stream that stayed quiet
    this long has its endpoint checked with a cheap read."""

    endpoints: tuple[str, ...]
    request_timeout: float = 2.0
    connect_timeout: float = 1.0
    watch_check_interval: float = 2.0
    user: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def __post_init__(self) -> None:
        if not self.endpoints:
            raise ValueError("etcd needs at least one endpoint")
        object.__setattr__(self, "endpoints", tuple(normalize_endpoint(e) for e in self.endpoints))
        if (self.user is None) != (self.password is None):
            raise ValueError("etcd user and password go together")

    def ssl_context(self) -> ssl.SSLContext | None:
        if not any(e.startswith("https://") for e in self.endpoints):
            return None
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file is not None:
            key = str(self.key_file) if self.key_file else None
            context.load_cert_chain(str(self.cert_file), key)
        return context


class _Unreached(Exception):
    """The request never left: no connection to the endpoint."""


class _Lost(Exception):
    """The request was sent; its answer did not come."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


class Transport:
    """Unary calls and streams to the gateway, with failover between endpoints."""

    def __init__(self, settings: EtcdSettings) -> None:
        self.settings = settings
        self.endpoints = settings.endpoints
        self._current = 0
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._auth_lock = asyncio.Lock()
        #: ``time.monotonic()`` of the last answer from any endpoint (None: never).
        self.last_contact: float | None = None
        self._answering: set[str] = set()
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise EtcdUnavailable("the etcd client is closed")
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.settings.ssl_context() or True)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- endpoint choice ------------------------------------------------------------------------

    @property
    def current(self) -> str:
        return self.endpoints[self._current]

    def failover(self, failed: str) -> None:
        """Move off ``failed`` if it is still the current endpoint (logged once per endpoint
        that had been answering, not for every attempt during an outage)."""
        if self.current == failed:
            self._current = (self._current + 1) % len(self.endpoints)
            if failed in self._answering and len(self.endpoints) > 1:
                log.warning("etcd endpoint %s failed, switching to %s", failed, self.current)
            self._answering.discard(failed)

    def headers(self) -> dict[str, str]:
        return {"Authorization": self._token} if self._token else {}

    # -- unary calls ----------------------------------------------------------------------------

    async def call(
        self,
        path: str,
        body: Json,
        *,
        idempotent: bool,
        attempt_timeout: float | None = None,
        deadline: float | None = None,
        authenticated: bool = True,
    ) -> Json:
        """POST ``body`` to ``path`` on the current endpoint, failing over as the module doc
        says.  ``deadline`` (loop time) bounds all attempts together."""
        if authenticated:
            await self.ensure_authenticated()
        loop = asyncio.get_running_loop()
        attempt_timeout = attempt_timeout or self.settings.request_timeout
        if deadline is None:
            deadline = loop.time() + attempt_timeout * len(self.endpoints)
        failures: list[str] = []
        reauthenticated = False
        attempts = 0
        while attempts < len(self.endpoints):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            url = self.current
            try:
                answer = await self.call_endpoint(url, path, body, min(attempt_timeout, remaining))
            except _Unreached as exc:
                failures.append(f"{url}: {exc}")
            except _Lost as exc:
                if not idempotent:
                    self.failover(url)
                    raise EtcdOutcomeUnknown(f"etcd {url}{path}: answer lost ({exc})") from None
                failures.append(f"{url}: {exc}")
            else:
                error = parse_error(answer)
                if error is None:
                    return answer
                if self._should_reauthenticate(error) and not reauthenticated:
                    reauthenticated = True
                    await self.authenticate(stale=self._token)
                    continue
                if error.code not in _RETRY_CODES:
                    raise _request_error(error)
                if not idempotent and not any(s in error.message for s in _NOT_APPLIED):
                    self.failover(url)
                    raise EtcdOutcomeUnknown(f"etcd {url}{path}: {error.message}")
                failures.append(f"{url}: {error.message}")
            self.failover(url)
            attempts += 1
        raise EtcdUnavailable("no etcd endpoint answered: " + "; ".join(failures or ["timed out"]))

    async def call_endpoint(self, url: str, path: str, body: Json, timeout: float) -> Json:
        """One attempt on one endpoint: the decoded answer (an error answer too), or
        :class:`_Unreached` / :class:`_Lost`."""
        client_timeout = aiohttp.ClientTimeout(
            total=timeout, sock_connect=min(timeout, self.settings.connect_timeout)
        )
        try:
            async with self.session.post(
                url + path, json=body, headers=self.headers(), timeout=client_timeout
            ) as response:
                data = await response.read()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise _Unreached(_describe(exc)) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _Lost(_describe(exc)) from None
        try:
            answer = json.loads(data)
        except ValueError:
            if 400 <= response.status < 500:  # refused by etcd's HTTP layer, not by etcd
                return _refusal(data.decode(errors="replace").strip())
            raise _Lost(f"HTTP {response.status}: not a JSON answer") from None
        if not isinstance(answer, dict):
            raise _Lost(f"HTTP {response.status}: unexpected answer")
        self.last_contact = time.monotonic()
        self._answering.add(url)
        return answer

    async def probe(self, url: str, body: Json) -> bool:
        """Does ``url`` still serve a linearizable read (``body``: a range request)?"""
        try:
            answer = await self.call_endpoint(
                url, "/v3/kv/range", body, self.settings.request_timeout
            )
        except (_Unreached, _Lost):
            return False
        error = parse_error(answer)
        return error is None or error.code not in _RETRY_CODES

    # -- authentication -------------------------------------------------------------------------

    @property
    def token(self) -> str | None:
        return self._token

    def _should_reauthenticate(self, error: GatewayError) -> bool:
        return self.needs_new_token(error.message)

    def needs_new_token(self, message: str) -> bool:
        """Does etcd's error ``message`` mean our token is stale (and we have credentials)?"""
        return self.settings.user is not None and any(s in message for s in _REAUTHENTICATE)

    async def authenticate(self, stale: str | None = None) -> None:
        """Get a token (once for concurrent callers: ``stale`` is the token that failed)."""
        if self.settings.user is None:
            return
        async with self._auth_lock:
            if self._token is not None and self._token != stale:
                return
            self._token = None
            body = {"name": self.settings.user, "password": self.settings.password}
            answer = await self.call(
                "/v3/auth/authenticate", body, idempotent=True, authenticated=False
            )
            self._token = str(answer["token"])

    async def ensure_authenticated(self) -> None:
        if self.settings.user is not None and self._token is None:
            await self.authenticate()

    # -- streams --------------------------------------------------------------------------------

    async def open_stream(
        self, path: str, body: Json, headers: Mapping[str, str] | None = None
    ) -> tuple[str, aiohttp.ClientResponse]:
        """Open a streaming POST (watch) on the current endpoint, failing over to the next
        ones; returns the endpoint and the response (its body is read by the caller)."""
        await self.ensure_authenticated()
        failures: list[str] = []
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.settings.connect_timeout, sock_read=None
        )
        for _ in range(len(self.endpoints)):
            url = self.current
            all_headers = {**self.headers(), **(headers or {})}
            try:
                response = await asyncio.wait_for(
                    self.session.post(url + path, json=body, headers=all_headers, timeout=timeout),
                    self.settings.request_timeout,
                )
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                failures.append(f"{url}: {_describe(exc)}")
                self.failover(url)
                continue
            if response.status == 200:
                return url, response
            detail = await _error_text(response)
            response.release()
            if 400 <= response.status < 500:
                raise _request_error(_stream_refusal(detail))
            failures.append(f"{url}: HTTP {response.status} {detail}")
            self.failover(url)
        raise EtcdUnavailable("no etcd endpoint accepted the stream: " + "; ".join(failures))


async def _error_text(response: aiohttp.ClientResponse) -> str:
    try:
        return (await response.text()).strip()[:500]
    except (aiohttp.ClientError, TimeoutError, OSError):
        return ""


def _stream_refusal(text: str) -> GatewayError:
    try:
        error = parse_error(decode_line(text.encode()))
    except ValueError:
        error = None
    return error or parse_error(_refusal(text)) or GatewayError(GrpcCode.UNKNOWN, text)


def _refusal(text: str) -> Json:
    if "CommonName" in text:
        text += (
            " (etcd's JSON gateway refuses client certificates that carry a CommonName:"
            " give Interlock a certificate without one, identified by its SAN)"
        )
    return {"error": text, "message": text, "code": int(GrpcCode.FAILED_PRECONDITION)}


def is_auth_refusal(message: str) -> bool:
    """etcd refused on grounds of identity or permission (not worth retrying)."""
    return any(s in message for s in _AUTH_MESSAGES)


def _request_error(error: GatewayError) -> EtcdRequestError:
    if error.code in _AUTH_CODES or any(s in error.message for s in _AUTH_MESSAGES):
        return EtcdAuthError(error.code, error.message)
    return EtcdRequestError(error.code, error.message)


def decode_line(line: bytes) -> Mapping[str, Any]:
    """One newline-delimited JSON message of a stream."""
    obj = json.loads(line)
    if not isinstance(obj, dict):
        raise ValueError("stream message is not an object")
    return obj
