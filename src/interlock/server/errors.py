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


def err_packet(error: ClientError, seq: int) -> bytes:
    """A framed ERR packet for ``error`` with sequence id ``seq``."""
    return encode_packet(build_err(error.code, error.sqlstate, error.message), seq & 0xFF)


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
        "HY000",
        f"Can't connect to server '{server}' at {address}:{port}: {reason}",
    )


def lost_backend(server: str, address: str, port: int, reason: str = "") -> BackendError:
    detail = f": {reason}" if reason else ""
    return BackendError(
        ErrorCode.SERVER_LOST,
        "HY000",
        f"Lost connection to backend server '{server}' ({address}:{port}){detail}",
    )


def no_server(service: str) -> BackendError:
    return BackendError(
        ErrorCode.CONN_HOST_ERROR,
        "HY000",
        f"Service '{service}' has no server to connect to",
    )


def proxy_failure(detail: str) -> ClientError:
    return ClientError(ErrorCode.UNKNOWN_ERROR, "HY000", f"Interlock: {detail}")
