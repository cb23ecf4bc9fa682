"""The proxy's own errors, as :class:`ClientError` values that become ERR packets.

Wording follows the server (or MaxScale) where a client or a test compares the text, e.g.
``Access denied for user 'u'@'h' (using password: YES)`` exactly as mariadbd says it.
"""

from __future__ import annotations

from interlock.errors import ClientError
from interlock.wire.constants import ErrorCode
from interlock.wire.framing import encode_packet
from interlock.wire.packets import build_err


class BackendError(ClientError):
    """A backend could not be reached, refused the login, or went away."""


# A backend the proxy cannot use (lost, unreachable, none left) is reported to the client as
# a *server* error: 1927 (ER_CONNECTION_KILLED) with SQLSTATE 08S01 (communication link
# failure), never with a client-side CR_* code (2000-2999, e.g. 2003, 2013).  libmariadb (the
# mariadb CLI, mysqlclient, MariaDB Connector/C and Connector/Python) rejects an ERR packet
# carrying a CR_* code and shows "2027 Received malformed packet" instead, for COM_QUERY,
# COM_STMT_EXECUTE and the login alike (measured; tests/integration/
# test_lost_backend_errors.py).  1927 is in the disconnect list of SQLAlchemy's MySQL dialect
# (its pool drops the connection), and class 08 is what Connector/J, connection pools and
# mysql-connector-python (OperationalError) treat as a broken connection; the server's own
# 1927 says 70100, which mysql-connector-python maps to a plain DatabaseError.
#
# Inside the proxy these errors keep their CR_* codes (2003 "can't connect", 2013 "lost"):
# the monitor classifies a probe failure as "down" by them.  err_packet() is the boundary.
BACKEND_UNAVAILABLE = ErrorCode.CONNECTION_KILLED
BACKEND_SQLSTATE = "08S01"
_CLIENT_SIDE = range(2000, 3000)  # CR_MIN_ERROR..CR_MAX_ERROR: never sent by a server


def wire_code(error: ClientError) -> tuple[int, str]:
    """The code and SQLSTATE an ERR packet carries for ``error`` (see above)."""
    if error.code in _CLIENT_SIDE:
        return BACKEND_UNAVAILABLE, BACKEND_SQLSTATE
    return error.code, error.sqlstate


def err_packet(error: ClientError, seq: int) -> bytes:
    """A framed ERR packet for ``error`` with sequence id ``seq``."""
    code, sqlstate = wire_code(error)
    return encode_packet(build_err(code, sqlstate, error.message), seq & 0xFF)


def access_denied(user: str, host: str, using_password: bool) -> ClientError:
    answer = "YES" if using_password else "NO"
    return ClientError(
        ErrorCode.ACCESS_DENIED,
        "28000",
        f"Access denied for user '{user}'@'{host}' (using password: {answer})",
    )


def root_denied(user: str, host: str, service: str) -> ClientError:
    return ClientError(
        ErrorCode.ACCESS_DENIED,
        "28000",
        f"Access denied for user '{user}'@'{host}': logging in as root through Interlock is"
        f" disabled (set enable_root_user=true in service '{service}' to allow it)",
    )


def unsupported_plugin(user: str, host: str, plugin: str) -> ClientError:
    return ClientError(
        ErrorCode.NOT_SUPPORTED_AUTH_MODE,
        "08004",
        f"Account '{user}'@'{host}' uses the authentication plugin '{plugin}'; Interlock"
        " proxies mysql_native_password accounts only",
    )


def account_locked() -> ClientError:
    return ClientError(4151, "HY000", "Access denied, this account is locked")


def tls_required(host: str) -> ClientError:
    """A client that did not ask for TLS on a listener that requires client certificates
    (MaxScale's answer to a client without TLS on an ssl listener)."""
    return ClientError(
        ErrorCode.ACCESS_DENIED, "28000",
        f"Access without SSL denied for client '{host}': this listener requires TLS with a "
        "client certificate",
    )


def bad_handshake() -> ClientError:
    return ClientError(ErrorCode.HANDSHAKE_ERROR, "08S01", "Bad handshake")


def unknown_command() -> ClientError:
    return ClientError(ErrorCode.UNKNOWN_COM_ERROR, "08S01", "Unknown command")


def packet_too_large() -> ClientError:
    return ClientError(
        ErrorCode.NET_PACKET_TOO_LARGE,
        "08S01",
        "Got a packet bigger than 'max_allowed_packet' bytes",
    )


def unknown_thread(thread_id: int) -> ClientError:
    return ClientError(ErrorCode.UNKNOWN_THREAD, "HY000", f"Unknown thread id: {thread_id}")


def cant_connect(server: str, address: str, port: int, reason: str) -> BackendError:
    return BackendError(
        ErrorCode.CONN_HOST_ERROR,
        BACKEND_SQLSTATE,
        f"Can't connect to server '{server}' at {address}:{port}: {reason}",
    )


def lost_backend(server: str, address: str, port: int, reason: str = "") -> BackendError:
    detail = f": {reason}" if reason else ""
    return BackendError(
        ErrorCode.SERVER_LOST,
        BACKEND_SQLSTATE,
        f"Lost connection to backend server '{server}' ({address}:{port}){detail}",
    )


def no_server(service: str) -> BackendError:
    return BackendError(
        ErrorCode.CONN_HOST_ERROR,
        BACKEND_SQLSTATE,
        f"Service '{service}' has no server to connect to",
    )


def proxy_failure(detail: str) -> ClientError:
    return ClientError(ErrorCode.UNKNOWN_ERROR, "HY000", f"Interlock: {detail}")
