"""Admin users, the password generated at first start, and short-lived tokens.

**Users** live in ``<datadir>/passwd`` (JSON, mode 0600): name, account type (``admin``:
read-write; ``basic``: read-only, as MaxScale's) and a salted PBKDF2-SHA256 hash.  There is no
default password: when the file has no user, the first start creates ``admin`` with a random
password and writes ``admin:<password>`` into ``<datadir>/admin-password`` (0600), which
``interlock ctl`` on the same machine reads.  Checking a password costs a PBKDF2 run (about
0.1 s) once; a successful check is remembered (as an HMAC of the password under a per-process
key), so a dashboard polling every second with Basic auth does not burn a core.

**Tokens** (``GET /v1/auth``) are JWTs (HS256) signed with a key made at process start, so, as
in MaxScale, every token becomes invalid when the process restarts.  Default lifetime 8 h,
capped by ``admin_jwt_max_age``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from interlock.errors import AdminError

USERS_FILE = "passwd"
PASSWORD_FILE = "admin-password"
DEFAULT_ADMIN = "admin"
DEFAULT_DATADIR = "/var/lib/interlock"
PBKDF2_ROUNDS = 200_000
DEFAULT_TOKEN_AGE = 8 * 3600.0


class Account(Enum):
    ADMIN = "admin"  # read-write
    BASIC = "basic"  # read-only: GET and HEAD

    @property
    def writes(self) -> bool:
        return self is Account.ADMIN


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request."""

    name: str
    account: Account


def hash_password(password: str, salt: bytes | None = None,
                  rounds: int = PBKDF2_ROUNDS) -> str:
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds)
    return f"pbkdf2_sha256${rounds}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, rounds, salt, digest = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        computed = hashlib.pbkdf2_hmac("sha256", password.encode(), _unb64(salt), int(rounds))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, _unb64(digest))


def datadir_of(configured: str | None) -> Path:
    return Path(configured or DEFAULT_DATADIR)


class AdminUsers:
    """The users file of one data directory."""

    def __init__(self, datadir: Path) -> None:
        self.datadir = datadir
        self.path = datadir / USERS_FILE
        self._users: dict[str, tuple[Account, str]] = {}
        self._verified: dict[str, bytes] = {}  # name -> HMAC of the password last verified
        self._key = os.urandom(32)

    # -- file --------------------------------------------------------------------------------

    def load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._users = {}
            return
        except OSError as exc:
            raise AdminError(500, f"cannot read {self.path}: {exc.strerror or exc}") from exc
        try:
            rows = json.loads(text)
            self._users = {row["name"]: (Account(row["account"]), row["password"])
                           for row in rows}
        except (ValueError, KeyError, TypeError) as exc:
            raise AdminError(500, f"{self.path} is not an Interlock users file: {exc}") from exc
        self._verified.clear()

    def _save(self) -> None:
        rows = [{"name": name, "account": account.value, "password": stored}
                for name, (account, stored) in sorted(self._users.items())]
        write_private(self.path, json.dumps(rows, indent=1) + "\n")

    def ensure_admin(self) -> Path | None:
        """With no user at all: create ``admin`` with a random password written to
        ``admin-password`` (0600) and return that path; else None."""
        self.load()
        if self._users:
            return None
        password = secrets.token_urlsafe(18)
        target = self.datadir / PASSWORD_FILE
        write_private(target, f"{DEFAULT_ADMIN}:{password}\n")
        self.add(DEFAULT_ADMIN, password, Account.ADMIN)
        return target

    # -- users -------------------------------------------------------------------------------

    def names(self) -> dict[str, Account]:
        return {name: account for name, (account, _) in sorted(self._users.items())}

    def add(self, name: str, password: str, account: Account) -> None:
        if not name or ":" in name:
            raise AdminError(400, f"invalid user name {name!r} (empty or contains ':')")
        if name in self._users:
            raise AdminError(409, f"user '{name}' already exists")
        if len(password) < 8:
            raise AdminError(400, "the password must have at least 8 characters")
        self._users[name] = (account, hash_password(password))
        self._save()

    def remove(self, name: str) -> None:
        if name not in self._users:
            raise AdminError(404, f"no user '{name}'")
        admins = [n for n, (a, _) in self._users.items() if a is Account.ADMIN]
        if admins == [name]:
            raise AdminError(403, f"'{name}' is the last admin user; add another one first")
        del self._users[name]
        self._verified.pop(name, None)
        self._save()

    def authenticate(self, name: str, password: str) -> Principal | None:
        entry = self._users.get(name)
        if entry is None:
            return None
        account, stored = entry
        mark = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        known = self._verified.get(name)
        if known is not None and hmac.compare_digest(known, mark):
            return Principal(name, account)
        if not check_password(password, stored):
            return None
        self._verified[name] = mark
        return Principal(name, account)


class Tokens:
    """HS256 JWTs signed with a per-process key."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._key = os.urandom(32)

    def issue(self, who: Principal, max_age: float | None = None,
              now: float | None = None) -> tuple[str, float]:
        """A token for ``who`` and its lifetime in seconds (capped by ``admin_jwt_max_age``)."""
        age = min(max_age if max_age is not None else DEFAULT_TOKEN_AGE, self.max_age)
        issued = int(now if now is not None else time.time())
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {"sub": who.name, "account": who.account.value, "iat": issued,
                  "exp": issued + int(age), "iss": "interlock"}
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = _b64(hmac.new(self._key, f"{header}.{body}".encode(),
                                  hashlib.sha256).digest())
        return f"{header}.{body}.{signature}", age

    def verify(self, token: str, now: float | None = None) -> Principal | None:
        try:
            header, body, signature = token.split(".")
            expected = hmac.new(self._key, f"{header}.{body}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(signature)):
                return None
            claims = json.loads(_unb64(body))
            if claims["exp"] < (now if now is not None else time.time()):
                return None
            return Principal(str(claims["sub"]), Account(claims["account"]))
        except (ValueError, KeyError, TypeError):
            return None


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 (atomically: a temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temp, path)


def read_password_file(datadir: Path) -> tuple[str, str] | None:
    """``(user, password)`` from ``<datadir>/admin-password``, or None when absent/unreadable."""
    try:
        text = (datadir / PASSWORD_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    user, sep, password = text.partition(":")
    return (user, password) if sep else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
