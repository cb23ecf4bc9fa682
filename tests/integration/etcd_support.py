"""A real etcd cluster for the tests, and a TCP relay that can cut a client off from it.

- :class:`EtcdCluster`: N members of Debian's ``etcd`` (3.4) on 127.0.0.1, free ports from
  :func:`interlock.sandbox.ports.find_free_block`, a data directory each under a temp dir,
  ready when every member's ``/health`` says so.  ``kill(i)`` / ``stop(i)`` / ``start_member(i)``
  drive one member; ``revive()`` restarts whatever is down.  Optional TLS (client URLs over
  https with client certificates required) and user/password authentication.  Members are
  tied to the pytest process (PR_SET_PDEATHSIG), so they die with it even on a hard kill.
- ``etcd_cluster``: a module-scoped fixture with a 3-member cluster.  Test modules import it
  explicitly (``from tests.integration.etcd_support import etcd_cluster  # noqa: F401``); a
  test that kills members revives them when it ends (``EtcdCluster.revive``).
- :class:`TcpRelay`: a byte relay in its own thread; ``cut("reset")`` aborts its connections
  and refuses new ones, ``cut("blackhole")`` keeps them open and drops every byte (a silent
  network partition), ``restore()`` forwards again.
- :func:`run`: run a coroutine to completion with an overall timeout (the tests are plain
  functions; each drives its own event loop).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import datetime
import json
import os
import shutil
import signal
import ssl
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from interlock.cluster import EtcdSettings
from interlock.sandbox import tls
from interlock.sandbox.ports import find_free_block

T = TypeVar("T")
HOST = "127.0.0.1"
START_TIMEOUT = 30.0
PORT_ATTEMPTS = 3
PR_SET_PDEATHSIG = 1

_live_clusters: set[EtcdCluster] = set()


def etcd_binary() -> str:
    path = shutil.which("etcd") or ("/usr/bin/etcd" if Path("/usr/bin/etcd").exists() else None)
    if path is None:
        pytest.fail("etcd is not installed: run ./scripts/install-deps.sh test")
    return path


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def unique_prefix(name: str) -> bytes:
    """A key prefix no other test uses (tests share a module's cluster)."""
    return f"/test/{name}/{uuid.uuid4().hex[:8]}/".encode()


def client_certificate(
    files: tls.TlsFiles, directory: Path, common_name: str | None = None
) -> tuple[Path, Path]:
    """A client certificate signed by the sandbox CA, identified by a SAN; with no
    CommonName unless one is given (etcd's gateway refuses certificates that have one)."""
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(files.ca.read_bytes())
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else []
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("interlock")]), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    stem = f"client-{common_name or 'nocn'}"
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


# -- the cluster --------------------------------------------------------------------------------


@dataclass
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log_path: Path
    scheme: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"{self.scheme}://{HOST}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{HOST}:{self.peer_port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass(eq=False)
class EtcdCluster:
    base_dir: Path
    size: int = 3
    use_tls: bool = False
    #: (user, password): after start, a root user and this user (read-write on the keys under
    #: ``/test/``, where :func:`unique_prefix` puts them) are created and auth is enabled.
    auth: tuple[str, str] | None = None
    #: More ``etcd`` options for every member (e.g. ``--auth-token-ttl=1``).
    extra_args: tuple[str, ...] = ()
    members: list[EtcdMember] = field(default_factory=list)
    tls_files: tls.TlsFiles | None = None
    #: (cert, key) of a client certificate without a CommonName (with TLS).
    client_cert: tuple[Path, Path] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> EtcdCluster:
        if self.use_tls:
            self.tls_files = tls.generate(self.base_dir / "tls")
            self.client_cert = client_certificate(self.tls_files, self.base_dir / "tls")
        last_error = ""
        for _ in range(PORT_ATTEMPTS):
            self._plan_members()
            _live_clusters.add(self)
            for index in range(self.size):
                self.start_member(index, new=True)
            try:
                self.wait_healthy()
            except RuntimeError as exc:  # typically a port taken between choice and bind
                last_error = str(exc)
                self.destroy()
                continue
            if self.auth is not None:
                self._enable_auth(*self.auth)
            return self
        raise RuntimeError(f"etcd cluster did not start: {last_error}")

    def _plan_members(self) -> None:
        first = find_free_block(2 * self.size)
        scheme = "https" if self.use_tls else "http"
        token = uuid.uuid4().hex[:12]
        self._token = f"interlock-test-{token}"
        self.members = [
            EtcdMember(
                name=f"m{i}",
                client_port=first + i,
                peer_port=first + self.size + i,
                data_dir=self.base_dir / f"{token}-m{i}",
                log_path=self.base_dir / f"{token}-m{i}.log",
                scheme=scheme,
            )
            for i in range(self.size)
        ]

    def _argv(self, member: EtcdMember) -> list[str]:
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        argv = [
            etcd_binary(),
            f"--name={member.name}",
            f"--data-dir={member.data_dir}",
            f"--listen-client-urls={member.client_url}",
            f"--advertise-client-urls={member.client_url}",
            f"--listen-peer-urls={member.peer_url}",
            f"--initial-advertise-peer-urls={member.peer_url}",
            f"--initial-cluster={initial}",
            f"--initial-cluster-token={self._token}",
            "--initial-cluster-state=new",
            "--logger=zap",
            "--log-outputs=stderr",
        ]
        if self.tls_files is not None:
            argv += [
                f"--cert-file={self.tls_files.cert}",
                f"--key-file={self.tls_files.key}",
                f"--trusted-ca-file={self.tls_files.ca}",
                "--client-cert-auth",
            ]
        return argv + list(self.extra_args)

    def start_member(self, index: int, *, new: bool = False) -> None:
        member = self.members[index]
        if member.running:
            return
        if new and member.data_dir.exists():
            shutil.rmtree(member.data_dir)
        with member.log_path.open("ab") as log:
            member.proc = subprocess.Popen(
                self._argv(member),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )

    def kill(self, index: int) -> None:
        """SIGKILL one member (a crash)."""
        self._signal(index, signal.SIGKILL)

    def stop(self, index: int) -> None:
        """SIGTERM one member (a clean shutdown)."""
        self._signal(index, signal.SIGTERM)

    def _signal(self, index: int, sig: signal.Signals) -> None:
        proc = self.members[index].proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def revive(self) -> None:
        """Restart every member that is down and wait until the cluster is healthy."""
        for index in range(self.size):
            self.start_member(index)
        self.wait_healthy()

    def destroy(self) -> None:
        for index in range(len(self.members)):
            self.kill(index)
        _live_clusters.discard(self)

    # -- state ----------------------------------------------------------------------------------

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(m.client_url for m in self.members)

    def settings(self, endpoints: tuple[str, ...] | None = None, **overrides: Any) -> EtcdSettings:
        """Client settings for this cluster (TLS files and credentials included)."""
        values: dict[str, Any] = {"endpoints": endpoints or self.endpoints}
        if self.tls_files is not None and self.client_cert is not None:
            values.update(
                ca_file=self.tls_files.ca,
                cert_file=self.client_cert[0],
                key_file=self.client_cert[1],
            )
        if self.auth is not None:
            values.update(user=self.auth[0], password=self.auth[1])
        values.update(overrides)
        return EtcdSettings(**values)

    def _ssl(self) -> ssl.SSLContext | None:
        if self.tls_files is None:
            return None
        context = ssl.create_default_context(cafile=str(self.tls_files.ca))
        context.load_cert_chain(str(self.tls_files.cert), str(self.tls_files.key))
        return context

    def healthy(self, index: int) -> bool:
        member = self.members[index]
        if not member.running:
            return False
        try:
            with urllib.request.urlopen(
                f"{member.client_url}/health", timeout=2, context=self._ssl()
            ) as response:
                return bool(json.loads(response.read()).get("health") == "true")
        except (OSError, ValueError):
            return False

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index, member in enumerate(self.members):
                if member.proc is not None and member.proc.poll() is not None:
                    raise RuntimeError(f"etcd {member.name} exited: {self.log_tail(index)}")
            if all(self.healthy(i) for i in range(self.size)):
                return
            time.sleep(0.2)
        raise RuntimeError(f"etcd cluster not healthy after {timeout:.0f} s: {self.log_tail(0)}")

    def log_tail(self, index: int, lines: int = 8) -> str:
        try:
            text = self.members[index].log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def etcdctl(self, *args: str, user: str | None = None) -> str:
        """Run ``etcdctl`` (v3 API) against the cluster; its output."""
        argv = ["etcdctl", f"--endpoints={','.join(self.endpoints)}", *args]
        if self.tls_files is not None:
            argv += [
                f"--cacert={self.tls_files.ca}",
                f"--cert={self.tls_files.cert}",
                f"--key={self.tls_files.key}",
            ]
        if user is not None:
            argv.append(f"--user={user}")
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "ETCDCTL_API": "3"},
        )
        if done.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def _enable_auth(self, user: str, password: str) -> None:
        root_password = uuid.uuid4().hex
        self.etcdctl("user", "add", f"root:{root_password}")
        self.etcdctl("role", "add", "interlock")
        self.etcdctl(
            "role", "grant-permission", "interlock", "--prefix=true", "readwrite", "/test/"
        )
        self.etcdctl("user", "add", f"{user}:{password}")
        self.etcdctl("user", "grant-role", user, "interlock")
        self.etcdctl("auth", "enable")
        self.root_password = root_password


@pytest.fixture(scope="module")
def etcd_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    """A healthy 3-member etcd cluster for the test module (plain http, no auth)."""
    etcd_binary()
    cluster = EtcdCluster(tmp_path_factory.mktemp("etcd")).start()
    try:
        yield cluster
    finally:
        cluster.destroy()


def _last_resort_cleanup() -> None:
    for cluster in list(_live_clusters):
        cluster.destroy()


atexit.register(_last_resort_cleanup)


# -- the relay ----------------------------------------------------------------------------------

RelayState = Literal["forward", "reset", "blackhole"]


class TcpRelay:
    """``127.0.0.1:port`` -> ``target``, in a thread of its own; cuttable."""

    def __init__(self, target_port: int, target_host: str = HOST) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.state: RelayState = "forward"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://{HOST}:{self.port}"

    def __enter__(self) -> TcpRelay:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def start(self) -> None:
        self._thread.start()
        self._server = self._call(self._start())
        self.port = self._server.sockets[0].getsockname()[1]

    async def _start(self) -> asyncio.Server:
        return await asyncio.start_server(self._accept, HOST, 0)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._call(self._stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._abort_all()

    def cut(self, mode: Literal["reset", "blackhole"] = "reset") -> None:
        """``reset``: close every connection and refuse new ones; ``blackhole``: keep them
        and drop every byte both ways (nothing is refused, nothing gets through)."""
        self._call(self._set(mode))

    def restore(self) -> None:
        """Forward again (connections that lived through a blackhole are closed: bytes were
        lost on them)."""
        self._call(self._set("forward"))

    async def _set(self, state: RelayState) -> None:
        previous, self.state = self.state, state
        if state == "reset" or (state == "forward" and previous == "blackhole"):
            self._abort_all()

    def _abort_all(self) -> None:
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.state == "reset":
            writer.transport.abort()
            return
        self._links.add(writer)
        if self.state == "blackhole":
            await self._pipe(reader, None)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            self._links.discard(writer)
            return
        self._links.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None
    ) -> None:
        try:
            while data := await reader.read(65536):
                if writer is not None and self.state == "forward":
                    writer.write(data)
                    await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            if writer is not None:
                with contextlib.suppress(OSError, RuntimeError):
                    writer.close()
                self._links.discard(writer)
