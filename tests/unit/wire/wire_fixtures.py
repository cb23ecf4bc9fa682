"""Loading and replaying the byte fixtures captured from MariaDB 10.11 (see capture.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from interlock.wire.constants import Capability
from interlock.wire.response import ResponseEvent, ResponseTracker

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Step:
    kind: str  # "cmd", "server" or "client"
    data: bytes


@dataclass(frozen=True)
class Capture:
    name: str
    caps: Capability
    steps: tuple[Step, ...]

    def commands(self) -> list[bytes]:
        return [s.data for s in self.steps if s.kind == "cmd"]

    def server_bytes(self) -> bytes:
        return b"".join(s.data for s in self.steps if s.kind == "server")


def load(name: str) -> Capture:
    caps = Capability(0)
    steps: list[Step] = []
    for line in (DATA / f"{name}.hex").read_text().splitlines():
        kind, value = line.split()
        if kind == "caps":
            caps = Capability(int(value, 16))
        else:
            steps.append(Step(kind, bytes.fromhex(value)))
    return Capture(name, caps, tuple(steps))


def response_captures() -> list[str]:
    return sorted(p.stem for p in DATA.glob("*.hex")
                  if not p.stem.startswith(("handshake", "client_")))


def load_kv(name: str) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for line in (DATA / f"{name}.hex").read_text().splitlines():
        key, value = line.split()
        out.setdefault(key, []).append(bytes.fromhex(value))
    return out


def split(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    if not data:
        return []
    points = sorted({c for c in cuts if 0 < c < len(data)})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def replay_stepwise(capture: Capture) -> tuple[ResponseTracker, list[list[ResponseEvent]]]:
    """Feed the capture as it happened: one command, then its response.

    Returns the tracker and, per command, the events its response produced (including the
    events of client steps that followed it).
    """
    tracker = ResponseTracker(capture.caps)
    per_command: list[list[ResponseEvent]] = []
    for step in capture.steps:
        if step.kind == "cmd":
            tracker.start(step.data[0], step.data)
            per_command.append([])
        elif step.kind == "server":
            per_command[-1] += tracker.feed(step.data)
        else:
            per_command[-1] += tracker.feed_client(step.data)
    return tracker, per_command


def replay_pipelined(
    capture: Capture, server_cuts: Sequence[int] = (), client_cuts: Sequence[int] = ()
) -> tuple[ResponseTracker, list[ResponseEvent]]:
    """Start every command up front (pipelining) and feed the backend bytes in pieces.

    Only LOCAL INFILE client steps interrupt the pipeline: the commands before one are
    started and answered first.
    """
    tracker = ResponseTracker(capture.caps)
    events: list[ResponseEvent] = []
    segments: list[list[Step]] = [[]]
    for step in capture.steps:
        segments[-1].append(step)
        if step.kind == "client":
            segments.append([])
    for segment in segments:
        for step in segment:
            if step.kind == "cmd":
                tracker.start(step.data[0], step.data)
        server = b"".join(s.data for s in segment if s.kind == "server")
        client = b"".join(s.data for s in segment if s.kind == "client")
        # in a segment with a client step, the server bytes before it come first
        before = b"".join(_server_before_client(segment))
        after = server[len(before):]
        for piece in split(before, server_cuts):
            events += tracker.feed(piece)
        for piece in split(client, client_cuts):
            events += tracker.feed_client(piece)
        for piece in split(after, server_cuts):
            events += tracker.feed(piece)
    return tracker, events


def _server_before_client(segment: list[Step]) -> list[bytes]:
    out: list[bytes] = []
    for step in segment:
        if step.kind == "client":
            return out
        if step.kind == "server":
            out.append(step.data)
    return [s.data for s in segment if s.kind == "server"]
