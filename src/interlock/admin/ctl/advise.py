"""``interlock ctl advise [SERVICE]``: the advisor's Method 2 report of a running proxy
(``GET /v1/advisor``): ``wait_timeout``, keepalive and connection advice from what its
sessions did (docs/advisor.md).  The text is rendered from the API's JSON, so ``--json``
prints exactly what the text was made from."""

from __future__ import annotations

import argparse

from interlock.admin.ctl.base import Command, Result, arg, segment
from interlock.admin.ctl.client import Client
from interlock.advisor.proxy_report import render_report


def advise(client: Client, args: argparse.Namespace) -> Result:
    query = "?histograms=yes" if args.histograms else ""
    if args.service:
        document = client.get(f"/v1/advisor/{segment(args.service)}{query}")
        reports = [document["data"]]
    else:
        document = client.get(f"/v1/advisor{query}")
        reports = document["data"]
    texts = tuple(render_report(r["attributes"]) for r in reports)
    return Result(texts, document)


COMMANDS: tuple[Command, ...] = (
    Command("advise", None, "wait_timeout and connection advice from this proxy's sessions",
            advise, (arg("service", nargs="?", metavar="SERVICE",
                         help="one service (default: every service)"),
                     arg("--histograms", action="store_true",
                         help="include the gap histograms (with --json)"))),
)
