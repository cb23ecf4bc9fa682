"""Small pure pieces of the server layer: read gates, ids, account rows, verification."""

from __future__ import annotations

import json

import pytest

from interlock.server import flow
from interlock.server.account_loader import account_from_priv, parse_mysql_rows
from interlock.server.accounts import Account, AccountTable
from interlock.server.authn import verify
from interlock.server.registry import FIRST_ID, SessionRegistry, is_proxy_id
from interlock.wire.auth import double_sha1, format_stored_hash, scramble_native_password

NONCE = bytes(range(33, 53))


class Transport:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")

    def is_closing(self) -> bool:
        return False


def test_read_gate_pauses_once_per_transition() -> None:
    transport = Transport()
    gate = flow.ReadGate(transport)  # type: ignore[arg-type]
    gate.pause(flow.Reason.PEER_CONGESTED)
    gate.pause(flow.Reason.BUSY)
    gate.resume(flow.Reason.PEER_CONGESTED)
    assert gate.paused
    gate.resume(flow.Reason.BUSY)
    gate.resume(flow.Reason.BUSY)
    assert transport.calls == ["pause", "resume"]


def test_congestion_follows_the_peer_and_relinks() -> None:
    first, second = Transport(), Transport()
    congestion = flow.Congestion()
    congestion.link(flow.ReadGate(first))  # type: ignore[arg-type]
    congestion.pause_writing()
    congestion.link(flow.ReadGate(second))  # type: ignore[arg-type]
    congestion.resume_writing()
    assert first.calls == ["pause", "resume"]
    assert second.calls == ["pause", "resume"]


def test_registry_ids_are_in_the_proxy_range_and_reused_only_when_free() -> None:
    registry: SessionRegistry[str] = SessionRegistry()
    a, b = registry.allocate("a"), registry.allocate("b")
    assert (a, b) == (FIRST_ID, FIRST_ID + 1)
    assert is_proxy_id(a) and not is_proxy_id(12345)
    registry.release(a)
    assert registry.get(a) is None and registry.get(b) == "b"
    assert len(registry) == 1


def test_accounts_from_global_priv() -> None:
    native = json.dumps({"plugin": "mysql_native_password", "authentication_string": "*AB"})
    assert account_from_priv("u", "%", native) == Account("u", "%", "mysql_native_password", "*AB")
    assert account_from_priv("root", "localhost", '{"access": 1}') == Account("root", "localhost")
    assert account_from_priv("r", "", '{"is_role": true}') is None
    either = {"plugin": "mysql_native_password", "authentication_string": "*CD",
              "auth_or": [{"plugin": "ed25519", "authentication_string": "k"}, {}]}
    assert account_from_priv("o", "%", json.dumps(either)).auth_string == "*CD"  # type: ignore[union-attr]
    ed_priv = json.dumps({"plugin": "ed25519", "authentication_string": "k"})
    ed = account_from_priv("e", "%", ed_priv)
    assert ed is not None and not ed.is_native
    locked = json.dumps({"plugin": "mysql_native_password", "account_locked": True})
    assert account_from_priv("l", "%", locked).locked  # type: ignore[union-attr]
    rows = parse_mysql_rows([(b"m", b"%", b"", b"*EF")])
    assert rows == [Account("m", "%", "mysql_native_password", "*EF")]


@pytest.fixture
def table() -> AccountTable:
    stored = format_stored_hash(double_sha1(b"secret"))
    return AccountTable.build([
        Account("app", "%", "mysql_native_password", stored),
        Account("nopw", "%", "mysql_native_password", ""),
        Account("ed", "%", "ed25519", "xyz"),
        Account("locked", "%", "mysql_native_password", stored, locked=True),
        Account("root", "%", "mysql_native_password", stored),
    ])


def check(table: AccountTable, user: str, password: bytes, root: bool = False) -> object:
    return verify(table, user, "::ffff:10.0.0.5", scramble_native_password(password, NONCE),
                  NONCE, service="svc", enable_root_user=root)


def test_verify_recovers_sha1(table: AccountTable) -> None:
    import hashlib

    verdict = check(table, "app", b"secret")
    assert verdict.ok and verdict.sha1_password == hashlib.sha1(b"secret").digest()  # type: ignore[attr-defined]
    assert check(table, "nopw", b"").ok  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("user", "password", "code", "text", "retry"),
    [
        ("app", b"wrong", 1045,
         "Access denied for user 'app'@'10.0.0.5' (using password: YES)", True),
        ("ghost", b"", 1045, "Access denied for user 'ghost'@'10.0.0.5' (using password: NO)",
         True),
        ("ed", b"x", 1251, "uses the authentication plugin 'ed25519'", False),
        ("locked", b"secret", 4151, "this account is locked", False),
        ("root", b"secret", 1045, "enable_root_user=true", False),
    ],
)
def test_verify_refusals(table: AccountTable, user: str, password: bytes, code: int, text: str,
                         retry: bool) -> None:
    verdict = check(table, user, password)
    assert verdict.error is not None  # type: ignore[attr-defined]
    assert verdict.error.code == code  # type: ignore[attr-defined]
    assert text in verdict.error.message  # type: ignore[attr-defined]
    assert verdict.retry is retry  # type: ignore[attr-defined]


def test_root_allowed_when_enabled(table: AccountTable) -> None:
    assert check(table, "root", b"secret", root=True).ok  # type: ignore[attr-defined]
