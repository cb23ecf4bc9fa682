"""``interlock ctl health``: ``GET /v1/health`` as an exit status, for keepalived's
``vrrp_script`` and other local checks (docs/vip.md).

Exit 0: the instance can serve (the checks are printed); 1: it answered 503 (each failed check
is printed on stderr); 3: nothing answers on the admin address (the proxy is down); 4: the
credentials were refused.  keepalived treats every non-zero status as a failure.
"""

from __future__ import annotations

import argparse

from interlock.admin.ctl.base import Command, Result
from interlock.admin.ctl.client import Client
from interlock.admin.ctl.tables import Table


def health(client: Client, args: argparse.Namespace) -> Result:
    document = client.get("/v1/health")  # a 503 raises CtlError (exit 1) naming the checks
    checks = document["meta"]["checks"]
    rows = tuple((c["name"], "ok" if c["ok"] else "FAILED", c["detail"]) for c in checks)
    return Result((Table(("Check", "State", "Detail"), rows),), document)


COMMANDS: tuple[Command, ...] = (
    Command("health", None, "can the proxy serve (exit 0) or not (1); 3: it does not answer. "
            "For keepalived's vrrp_script", health),
)
