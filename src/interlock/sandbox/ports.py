"""TCP port checks for the sandbox: is a port free on 127.0.0.1, find a free block."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterable
from pathlib import Path

LOCALHOST = "127.0.0.1"


def port_is_free(port: int, host: str = LOCALHOST) -> bool:
    """True when nothing listens on ``host:port`` and we could bind it ourselves."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        if probe.connect_ex((host, port)) == 0:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def taken_ports(ports: Iterable[int], host: str = LOCALHOST) -> list[int]:
    return [port for port in ports if not port_is_free(port, host)]


#: Below this, clear of the ports developers use by hand (3306, 3310.., 4006, 8989, 13xxx..).
FIRST_TEST_PORT = 15000


def ephemeral_low() -> int:
    """Start of the kernel's ephemeral port range: ports the kernel may hand to any outgoing
    connection, so a server should not pick one (it could be taken before we bind it)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def find_free_block(
    count: int,
    low: int = FIRST_TEST_PORT,
    high: int | None = None,
    host: str = LOCALHOST,
    attempts: int = 200,
) -> int:
    """First port of ``count`` consecutive free ports, chosen at random in ``[low, high)``
    (``high`` defaults to the start of the ephemeral range).

    Random starting points keep concurrent test sessions (and a developer's ``make demo`` on
    3310/4006) from racing for the same block.
    """
    high = high if high is not None else max(ephemeral_low(), low + 1000)
    rng = random.Random()
    for _ in range(attempts):
        start = rng.randrange(low, high - count)
        if not taken_ports(range(start, start + count), host):
            return start
    raise OSError(f"no block of {count} free ports found in {low}..{high}")


def find_free_port(host: str = LOCALHOST) -> int:
    return find_free_block(1, host=host)
