"""Talk to a proxy's admin API from tests: its address from the config, the generated admin
password from the state directory, JSON requests with urllib (a real HTTP client, no
shortcuts into the process)."""

from __future__ import annotations

import base64
import configparser
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interlock.admin.auth import read_password_file


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # parsed JSON, or None
    headers: dict[str, str]


@dataclass(frozen=True)
class AdminApi:
    base: str  # http://127.0.0.1:PORT
    datadir: Path

    @classmethod
    def of_config(cls, config_path: Path) -> AdminApi:
        ini = configparser.ConfigParser(interpolation=None, strict=False)
        ini.read_string(config_path.read_text())
        section = next(s for s in ini.sections() if s.lower() == "maxscale")
        g = ini[section]
        scheme = "https" if g.get("admin_ssl_cert") else "http"
        return cls(f"{scheme}://{g.get('admin_host', '127.0.0.1')}:{g.get('admin_port', '8989')}",
                   Path(g["datadir"]))

    @property
    def admin(self) -> tuple[str, str]:
        found = read_password_file(self.datadir)
        assert found is not None, f"no generated admin password in {self.datadir}"
        return found

    def request(self, method: str, path: str, *, auth: tuple[str, str] | str | None = "admin",
                body: Any = None, headers: dict[str, str] | None = None,
                timeout: float = 30.0) -> Reply:
        sent = dict(headers or {})
        if auth == "admin":
            auth = self.admin
        if isinstance(auth, tuple):
            sent["Authorization"] = "Basic " + base64.b64encode(
                f"{auth[0]}:{auth[1]}".encode()).decode()
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return _reply(resp.status, resp.read(), dict(resp.headers))
        except urllib.error.HTTPError as exc:
            return _reply(exc.code, exc.read(), dict(exc.headers))

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)


def _reply(status: int, raw: bytes, headers: dict[str, str]) -> Reply:
    body = json.loads(raw) if raw.strip() else None
    return Reply(status, body, headers)
