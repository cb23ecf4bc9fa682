"""Micro-benchmark of ResponseTracker (not collected by pytest).

Feeds a 1,000-row text result set (the captured ``big_result_*`` fixtures, or a synthetic
one with ``--rows``) in 16 KiB chunks and prints nanoseconds per packet.

    uv run python tests/unit/wire/bench_tracker.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from interlock.wire.constants import Capability, Command
from interlock.wire.framing import encode_packet
from interlock.wire.response import ResponseDone, ResponseTracker

DATA = Path(__file__).parent / "data"
CHUNK = 16 * 1024


def load(name: str) -> tuple[Capability, bytes, bytes]:
    caps, cmd, server = Capability(0), b"", b""
    for line in (DATA / f"{name}.hex").read_text().splitlines():
        kind, value = line.split()
        if kind == "caps":
            caps = Capability(int(value, 16))
        elif kind == "cmd":
            cmd = bytes.fromhex(value)
        elif kind == "server":
            server = bytes.fromhex(value)
    return caps, cmd, server


def synthetic(rows: int, row_size: int) -> bytes:
    out = [encode_packet(b"\x01", 1), encode_packet(b"\x03def" + bytes(20), 2),
           encode_packet(b"\xfe\x00\x00\x02\x00", 3)]
    seq = 4
    for i in range(rows):
        out.append(encode_packet(bytes((row_size - 1,)) + str(i).encode().ljust(row_size - 1),
                                 seq))
        seq += 1
    out.append(encode_packet(b"\xfe\x00\x00\x02\x00", seq))
    return b"".join(out)


def count_packets(stream: bytes) -> int:
    pos = count = 0
    while pos < len(stream):
        pos += 4 + int.from_bytes(stream[pos : pos + 3], "little")
        count += 1
    return count


def run(caps: Capability, cmd: bytes, stream: bytes, repeat: int) -> float:
    chunks = [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)]
    packets = count_packets(stream)
    best = float("inf")
    for _ in range(repeat):
        tracker = ResponseTracker(caps)
        start = time.perf_counter_ns()
        tracker.start(cmd[0], cmd)
        events = []
        for chunk in chunks:
            events += tracker.feed(chunk)
        elapsed = time.perf_counter_ns() - start
        assert len(events) == 1 and isinstance(events[0], ResponseDone) and tracker.idle
        best = min(best, elapsed / packets)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    for name in ("big_result_eof", "big_result_deprecate"):
        caps, cmd, stream = load(name)
        print(f"{name:24} {count_packets(stream):5} packets {len(stream):7} bytes "
              f"{run(caps, cmd, stream, args.repeat):7.1f} ns/packet")
    for size in (32, 200):
        stream = synthetic(args.rows, size)
        query = bytes((Command.QUERY,)) + b"SELECT"
        print(f"synthetic rows={args.rows} size={size:<4} {count_packets(stream):5} packets"
              f" {len(stream):7} bytes"
              f" {run(Capability.PROTOCOL_41, query, stream, args.repeat):7.1f} ns/packet")


if __name__ == "__main__":
    main()
