"""``interlock ctl cluster status``: every instance of the cluster as the asked instance sees it
(``GET /v1/cluster``; docs/cluster.md, docs/cli.md).

One row per registered instance: Instance | Admin | Listeners | Health | Config revision |
Leads | Since.  ``Leads`` names the monitors the instance leads (``*``: it is the leader this
instance sees in the election key); ``Since``: when its term started.  The instance asked is
marked ``(this)``.  Exit 0; exit 1 when the instance asked is cut off from etcd, after printing
what it knows (its last list of instances).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from interlock.admin.ctl.base import Command, Result
from interlock.admin.ctl.client import Client, CtlError, Exit
from interlock.admin.ctl.tables import Fields, Table

HEADERS = ("Instance", "Admin", "Listeners", "Health", "Config revision", "Leads", "Since")


def _health(doc: dict[str, Any]) -> str:
    health = doc.get("health") or {}
    if health.get("ok"):
        return "ok"
    return "FAILED: " + ", ".join(health.get("failed") or ()) if health else ""


def rows(view: dict[str, Any]) -> tuple[tuple[Any, ...], ...]:
    """The table's rows from the ``attributes`` of ``GET /v1/cluster``."""
    leaders = {m["monitor"]: (m.get("leader") or {}).get("instance")
               for m in view.get("monitors") or ()}
    found = []
    for doc in view.get("instances") or ():
        name = doc["instance"]
        leads = doc.get("leads") or ()
        marks = [f"{lead['monitor']} *" if leaders.get(lead["monitor"]) == name
                 else lead["monitor"] for lead in leads]
        since = [lead.get("since") or "" for lead in leads]
        found.append((name + (" (this)" if name == view.get("instance") else ""),
                      doc.get("admin_url", ""), doc.get("listeners") or [], _health(doc),
                      doc.get("config_revision"), "\n".join(marks), "\n".join(since)))
    return tuple(found)


def summary(view: dict[str, Any]) -> Fields:
    leaders = [f"{m['monitor']}: {(m.get('leader') or {}).get('instance') or '(none)'}"
               for m in view.get("monitors") or ()]
    source = view.get("instances_source")
    if source == "cached":
        age = view.get("instances_age")
        source = (f"cached ({age:.0f}s old): {view.get('instances_error')}"
                  if age is not None else f"none read yet: {view.get('instances_error')}")
    return Fields((("Cluster", view.get("cluster")), ("This instance", view.get("instance")),
                   ("Cut off", view.get("cut_off")), ("State", view.get("detail")),
                   ("Config revision", view.get("config_revision")),
                   ("Leaders", "\n".join(leaders)), ("Instances from", source)))


def status(client: Client, args: argparse.Namespace) -> Result:
    document = client.get("/v1/cluster")
    view = document["data"]["attributes"]
    result = Result((summary(view), Table(HEADERS, rows(view))), document)
    if view.get("cut_off"):
        from interlock.admin.ctl.cli import emit  # (cli imports this module's table)
        emit(result, args)
        sys.stdout.flush()
        raise CtlError(Exit.API, f"instance '{view.get('instance')}' is cut off from etcd: "
                                 f"{view.get('detail')}")
    return result


COMMANDS: tuple[Command, ...] = (
    Command("cluster", "status", "every instance of the cluster: admin URL, listeners, health, "
            "config revision, which one leads; exit 1 when this instance is cut off", status),
)
