"""Fixtures shared by the whole suite: real MariaDB sandboxes and Interlock proxies.

- ``sandbox`` (session): primary + 2 replicas of real mariadbd on free ports in a temp dir,
  replication running, destroyed at the end (also on failure or Ctrl-C; the servers are tied to
  the pytest process, so even a hard kill of pytest takes them down).
- ``fresh_sandbox`` (function): ``fresh_sandbox(replicas=2, semi_sync=False) -> Sandbox`` for
  tests that break the topology; each one is destroyed after the test.
- ``proxy`` (session): ``interlock start -c <the sandbox's config on a free port>`` as a
  subprocess, ready (it answered a handshake), log in ``proxy.log_path``; its service is the
  single-backend relay (``readconnroute`` to the primary).  ``rws_proxy`` (session): the same
  with ``router=readwritesplit`` (``causal_reads=local``).
- ``start_proxy`` (function): ``start_proxy(config_text)`` or ``start_proxy({"server1":
  {"port": "1"}}, tls=False)`` (overrides of the session sandbox's config; pass
  ``sandbox=fresh_sb`` for another cluster) -> ``ProxyHandle``; all stopped after the test.
- ``direct_params`` / ``proxy_params``: :class:`ConnParams` for the app account on the primary
  directly and through the session proxy, so a test can compare both.
- ``free_port``: ``free_port() -> int``, a currently free port on 127.0.0.1.

Tests under ``tests/integration/`` are marked ``integration`` automatically.  A missing
mariadbd fails these fixtures with the install command; nothing is skipped silently.
"""

from __future__ import annotations

import atexit
import configparser
import contextlib
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from interlock.errors import SandboxError
from interlock.sandbox import ConnParams, Sandbox
from interlock.sandbox import proxy as proxy_process
from interlock.sandbox.binaries import check_all
from interlock.sandbox.interlock_cnf import SERVICE, Overrides
from interlock.sandbox.ports import find_free_block, find_free_port
from interlock.sandbox.proxy import ProxyHandle

INTEGRATION_DIR = Path(__file__).parent / "integration"
SANDBOX_ATTEMPTS = 3  # free ports can be taken between choosing and binding them

_live_sandboxes: set[Sandbox] = set()
_live_proxies: set[ProxyHandle] = set()


@atexit.register
def _last_resort_cleanup() -> None:
    """Normally the fixtures clean up; this catches what an interrupted session left."""
    for handle in list(_live_proxies):
        handle.stop()
    for sb in list(_live_sandboxes):
        with contextlib.suppress(SandboxError):
            sb.destroy()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On failure, show the end of the log of every proxy the test used."""
    report = yield
    if report.failed:
        for handle in _handles_of(item):
            report.sections.append(
                (
                    f"interlock log ({handle.host}:{handle.port}, {handle.log_path})",
                    handle.log_tail(60),
                )
            )
    return report


def _handles_of(item: pytest.Item) -> list[ProxyHandle]:
    funcargs: dict[str, Any] = getattr(item, "funcargs", {})
    handles = [value for value in funcargs.values() if isinstance(value, ProxyHandle)]
    factory = funcargs.get("start_proxy")
    handles += list(getattr(factory, "started", []))
    return handles


# -- sandboxes ------------------------------------------------------------------------------


def make_sandbox(parent: Path, replicas: int = 2, semi_sync: bool = False) -> Sandbox:
    """A running sandbox on free ports under ``parent`` (fails the test with the reason)."""
    try:
        check_all()
    except SandboxError as exc:
        pytest.fail(str(exc), pytrace=False)
    last: SandboxError | None = None
    for _ in range(SANDBOX_ATTEMPTS):
        base = find_free_block(replicas + 1)
        sb = Sandbox.create(
            parent / f"sb{base}",
            replicas=replicas,
            base_port=base,
            proxy_port=find_free_port(),
            semi_sync=semi_sync,
            die_with_parent=True,
        )
        _live_sandboxes.add(sb)
        try:
            return sb.up()
        except SandboxError as exc:
            last = exc
            _destroy(sb)
    pytest.fail(f"could not start a sandbox: {last}", pytrace=False)


def _destroy(sb: Sandbox) -> None:
    try:
        sb.destroy()
    finally:
        _live_sandboxes.discard(sb)
        shutil.rmtree(sb.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sb = make_sandbox(tmp_path_factory.mktemp("sandbox"))
    try:
        yield sb
    finally:
        _destroy(sb)


@pytest.fixture
def fresh_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Sandbox]]:
    made: list[Sandbox] = []

    def make(replicas: int = 2, semi_sync: bool = False) -> Sandbox:
        sb = make_sandbox(tmp_path_factory.mktemp("fresh"), replicas, semi_sync)
        made.append(sb)
        return sb

    try:
        yield make
    finally:
        for sb in made:
            _destroy(sb)


# -- proxies --------------------------------------------------------------------------------


def listener_address(config_text: str) -> tuple[str, int]:
    """Address and port of the first ``type=listener`` section of a config."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(config_text)
    for name in parser.sections():
        section = parser[name]
        if section.get("type") == "listener":
            return section.get("address", "127.0.0.1"), int(section["port"])
    raise ValueError("the config has no listener section")


def launch_proxy(
    directory: Path,
    config_text: str,
    require_handshake: bool = True,
    timeout: float = 30.0,
) -> ProxyHandle:
    """Write ``config_text`` to ``directory`` and start a proxy on it (fails the test if it
    does not come up, with the end of its log)."""
    host, port = listener_address(config_text)
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / f"interlock-{port}.cnf"
    config_path.write_text(config_text)
    try:
        handle = proxy_process.start(
            config_path,
            host,
            port,
            log_path=directory / f"interlock-{port}.log",
            timeout=timeout,
            require_handshake=require_handshake,
        )
    except SandboxError as exc:
        pytest.fail(str(exc), pytrace=False)
    _live_proxies.add(handle)
    return handle


def _stop_proxy(handle: ProxyHandle) -> None:
    handle.stop()
    _live_proxies.discard(handle)


#: The single-backend relay the core tests are about: every session on the primary.
PRIMARY_ONLY: Overrides = {SERVICE: {"router": "readconnroute", "router_options": "master"}}
#: Read/write splitting, with read-your-writes inside a session (the corpus reads back what it
#: just wrote, which a lagging replica may not have yet).
READ_WRITE_SPLIT: Overrides = {SERVICE: {"router": "readwritesplit", "causal_reads": "local"}}


@pytest.fixture(scope="session")
def proxy(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyHandle]:
    """The single-backend proxy (readconnroute to the primary): the core relay."""
    text = sandbox.render_config(listener_port=find_free_port(), overrides=PRIMARY_ONLY)
    handle = launch_proxy(tmp_path_factory.mktemp("proxy"), text)
    try:
        yield handle
    finally:
        _stop_proxy(handle)


@pytest.fixture(scope="session")
def rws_proxy(sandbox: Sandbox,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyHandle]:
    """A readwritesplit proxy on the session sandbox (reads on the replicas)."""
    text = sandbox.render_config(listener_port=find_free_port(), overrides=READ_WRITE_SPLIT)
    handle = launch_proxy(tmp_path_factory.mktemp("rws_proxy"), text)
    try:
        yield handle
    finally:
        _stop_proxy(handle)


class ProxyFactory:
    """``start_proxy(config)``: config text, or overrides of a sandbox's generated config."""

    def __init__(self, request: pytest.FixtureRequest, directory: Path) -> None:
        self._request = request
        self._directory = directory
        self.started: list[ProxyHandle] = []

    def __call__(
        self,
        config: str | Overrides | None = None,
        *,
        tls: bool = True,
        sandbox: Sandbox | None = None,
        require_handshake: bool = True,
        timeout: float = 30.0,
    ) -> ProxyHandle:
        if not isinstance(config, str):
            sb = sandbox if sandbox is not None else self._request.getfixturevalue("sandbox")
            overrides: Mapping[str, Any] = config or {}
            config = sb.render_config(listener_port=find_free_port(), tls=tls, overrides=overrides)
        handle = launch_proxy(self._directory, config, require_handshake, timeout)
        self.started.append(handle)
        return handle

    def stop_all(self) -> None:
        for handle in self.started:
            _stop_proxy(handle)


@pytest.fixture
def start_proxy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProxyFactory]:
    factory = ProxyFactory(request, tmp_path / "proxies")
    try:
        yield factory
    finally:
        factory.stop_all()


# -- connection parameters ------------------------------------------------------------------


@pytest.fixture
def free_port() -> Callable[[], int]:
    return find_free_port


@pytest.fixture(scope="session")
def direct_params(sandbox: Sandbox) -> ConnParams:
    """The app account on the primary, directly (database ``app``)."""
    return sandbox.params()


@pytest.fixture(scope="session")
def proxy_params(sandbox: Sandbox, proxy: ProxyHandle) -> ConnParams:
    """The app account through the session proxy (database ``app``)."""
    return sandbox.proxy_params(port=proxy.port).with_(host=proxy.host)
