"""The HTTP client of ``interlock ctl`` (urllib; HTTPS with ``--secure``).

Every failure becomes a :class:`CtlError` with the exit code scripts rely on (:class:`Exit`):
the API's own refusal (its ``errors[].detail``) is 1, a connection or TLS failure is 3 (naming
``host:port``), refused credentials are 4.  A 403 is ambiguous in MaxScale's API: it means
"read-only account" from the authentication layer but also "not allowed now" from a resource
(maintenance on the primary); the client asks ``GET /v1/auth`` which account it is, and only a
``basic`` account makes the 403 an authentication failure.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any
from urllib.parse import quote

from interlock.errors import AdminError

DEFAULT_TIMEOUT = 10.0  # seconds, maxctrl's default
CLUSTER_TIMEOUT = 130.0  # switchover/failover/rejoin: longer than mariadbmon's 90 s default


class Exit(IntEnum):
    OK = 0
    API = 1  # the API answered with an error (detail on stderr)
    USAGE = 2  # bad command line (argparse)
    CONNECT = 3  # cannot connect, TLS failure, not an admin API
    AUTH = 4  # authentication failed (401), or a read-only account refused (403)


class CtlError(AdminError):
    """A failure of one ``ctl`` command; ``exit`` is the process exit code."""

    def __init__(self, exit_code: Exit, message: str, status: int = 0) -> None:
        super().__init__(status, message)
        self.exit = exit_code


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    secure: bool = False

    @property
    def address(self) -> str:
        """``host:port`` (``[v6]:port``), as the user writes it."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def base(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.address}"


def parse_endpoint(text: str, secure: bool = False, default_port: int = 8989) -> Endpoint:
    """``host:port``, ``[v6]:port``, ``host`` or ``http(s)://host:port``."""
    value = text.strip()
    scheme, sep, rest = value.partition("://")
    if sep:
        if scheme not in ("http", "https"):
            raise CtlError(Exit.USAGE, f"host {text!r}: the scheme must be http or https")
        secure, value = scheme == "https", rest.rstrip("/")
    if value.startswith("["):
        host, _, tail = value[1:].partition("]")
        port_text = tail.removeprefix(":")
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    else:
        host, port_text = value, ""
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        port = -1
    if not host or not 0 < port < 65536:
        raise CtlError(Exit.USAGE, f"host {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8989")
    return Endpoint(host, port, secure)


@dataclass(frozen=True, slots=True)
class Tls:
    verify: bool = True  # check the server's certificate and name
    ca_file: str | None = None
    cert: str | None = None  # client certificate (and key), when the API asks for one
    key: str | None = None

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert:
            context.load_cert_chain(self.cert, self.key)
        return context


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    text: str  # the body as received
    body: Any = field(default=None)  # parsed JSON (None for an empty body or non-JSON)


Query = Sequence[str | tuple[str, str]]  # a bare key ("?MON&server2") or key=value


def query_string(query: Query) -> str:
    parts = [quote(q, safe="") if isinstance(q, str) else f"{quote(q[0], safe='')}="
             f"{quote(q[1], safe='')}" for q in query]
    return "?" + "&".join(parts) if parts else ""


class Client:
    """Requests to one admin API."""

    def __init__(self, endpoint: Endpoint, credentials: tuple[str, str] | None,
                 tls: Tls | None = None, timeout: float | None = None,
                 no_credentials_hint: str = "") -> None:
        self.endpoint = endpoint
        self.credentials = credentials
        self.tls = tls or Tls()
        self.timeout = timeout  # the user's -t; None: each request's own default
        self.hint = no_credentials_hint
        self._context: ssl.SSLContext | None = None

    # -- requests ----------------------------------------------------------------------------

    def request(self, method: str, path: str, *, query: Query = (), body: Any = None,
                timeout: float | None = None, raw: bool = False) -> Reply:
        """One request; an error status raises :class:`CtlError`.  ``raw``: a body that is not
        JSON is returned as text instead of failing."""
        url = self.endpoint.base + "/" + path.lstrip("/") + query_string(query)
        headers = {"Accept": "application/json"}
        if self.credentials is not None:
            token = base64.b64encode(":".join(self.credentials).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        wait = self.timeout if self.timeout is not None else (timeout or DEFAULT_TIMEOUT)
        reply = self._send(req, wait, raw)
        if reply.status >= 400:
            raise self._failure(reply)
        return reply

    def get(self, path: str, query: Query = ()) -> Any:
        return self.request("GET", path, query=query).body

    def _send(self, req: urllib.request.Request, timeout: float, raw: bool) -> Reply:
        where = self.endpoint.address
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._tls()) as resp:
                return self._reply(resp.status, resp.read(), raw)
        except urllib.error.HTTPError as exc:
            return self._reply(exc.code, exc.read(), raw=True)
        except urllib.error.URLError as exc:
            raise _connect_error(where, exc.reason, self.endpoint.secure) from exc
        except (ssl.SSLError, ssl.CertificateError) as exc:
            raise _connect_error(where, exc, self.endpoint.secure) from exc
        except TimeoutError as exc:
            raise CtlError(Exit.CONNECT, f"{where}: no answer within {timeout:g} s (the "
                                         "operation may still be running; raise -t)") from exc
        except (http.client.HTTPException, ConnectionError) as exc:
            hint = "" if self.endpoint.secure else " (an HTTPS listener? try --secure)"
            said = str(exc).strip()
            said = f": {said}" if said and said.isprintable() else ""
            raise CtlError(Exit.CONNECT, f"{where} did not answer HTTP "
                                         f"({exc.__class__.__name__}{said}){hint}") from exc

    def _tls(self) -> ssl.SSLContext | None:
        if not self.endpoint.secure:
            return None
        if self._context is None:
            try:
                self._context = self.tls.context()
            except (OSError, ssl.SSLError) as exc:
                raise CtlError(Exit.USAGE, f"TLS options: {exc}") from exc
        return self._context

    def _reply(self, status: int, raw_body: bytes, raw: bool) -> Reply:
        text = raw_body.decode("utf-8", errors="replace")
        if not text.strip():
            return Reply(status, text)
        try:
            return Reply(status, text, json.loads(text))
        except ValueError as exc:
            if raw or status >= 400:
                return Reply(status, text)
            raise CtlError(Exit.CONNECT, f"{self.endpoint.address} answered {status} with "
                                         "something that is not JSON: is it an Interlock "
                                         "admin API?") from exc

    # -- errors ------------------------------------------------------------------------------

    def _failure(self, reply: Reply) -> CtlError:
        detail = error_detail(reply)
        where = self.endpoint.address
        if reply.status == 401:
            if self.credentials is None:
                return CtlError(Exit.AUTH, f"{where}: authentication required and no "
                                           f"credentials: {self.hint or detail}", 401)
            return CtlError(Exit.AUTH, f"{where}: authentication failed for user "
                                       f"'{self.credentials[0]}': wrong user name or "
                                       "password", 401)
        if reply.status == 403 and self._read_only():
            return CtlError(Exit.AUTH, f"{where}: {detail}", 403)
        return CtlError(Exit.API, detail, reply.status)

    def _read_only(self) -> bool:
        try:
            meta = self.request("GET", "/v1/auth", query=[("max-age", "1")]).body["meta"]
        except (CtlError, KeyError, TypeError):
            return False
        return bool(meta.get("account") == "basic")


def error_detail(reply: Reply) -> str:
    """The ``errors[].detail`` of a JSON:API error document (else the status and body)."""
    body = reply.body
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        details = [str(e.get("detail", e)) if isinstance(e, dict) else str(e)
                   for e in body["errors"]]
        if details:
            return "; ".join(details)
    text = " ".join(reply.text.split())
    return f"HTTP {reply.status}" + (f": {text[:500]}" if text else "")


def _connect_error(where: str, reason: object, secure: bool) -> CtlError:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return CtlError(Exit.CONNECT, f"{where}: TLS failure: the server's certificate is not "
                                      f"trusted ({reason.verify_message}); give its CA with "
                                      "--tls-ca-cert or use --tls-verify-server-cert=false")
    if isinstance(reason, ssl.SSLError | ssl.CertificateError):
        hint = " (a plain HTTP listener? try without --secure)" if secure else ""
        return CtlError(Exit.CONNECT, f"{where}: TLS failure: {reason}{hint}")
    if isinstance(reason, TimeoutError):
        return CtlError(Exit.CONNECT, f"cannot connect to {where}: timed out")
    text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
    return CtlError(Exit.CONNECT, f"cannot connect to {where}: {text}")
