"""Shared data of the config tests (imported by the test modules)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"

#: the minimal valid body the error tests build on (the issue's sample, ports adapted)
BASE = """\
[maxscale]
threads=auto
[server1]
type=server
address=127.0.0.1
port=3306
[Read-Write-Service]
type=service
router=readwritesplit
servers=server1
user=maxscale
password=maxscale
[Read-Write-Listener]
type=listener
service=Read-Write-Service
port=4006
"""
