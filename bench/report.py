"""From raw runs to medians, ratios, the issue's targets, a markdown table and a PNG chart.

Everything here works on the JSON document the runner writes (plain dicts), so a results file
can be re-rendered later: ``python -m bench.report bench/results/FILE.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DIRECT = "direct"
RWS = "interlock-rws"
LABELS = {"direct": "direct", "haproxy": "HAProxy", "interlock": "Interlock",
          RWS: "Interlock rws", "forwarder": "uvloop forwarder"}
# what each target is (printed above the tables)
DESCRIPTIONS = {
    "direct": "the primary itself",
    "haproxy": "HAProxy in TCP mode in front of the primary (no SQL work)",
    "interlock": "Interlock, `router=readconnroute`, `router_options=master`: the same job as"
                 " HAProxy (one backend connection per session, on the primary) with full"
                 " protocol tracking; the issue-3 targets below are about this one",
    RWS: "Interlock, `router=readwritesplit`: a different job, so its figures are not"
         " comparable to HAProxy's: each login opens a primary and a replica connection per"
         " replica (3 backend connections here), every statement is classified and routed, reads"
         " run on the replicas (other MariaDB processes, other caches) and the session state is"
         " tracked for all of them",
    "forwarder": "a bare uvloop byte forwarder in Python in front of the primary",
}
# the targets (for the benchmark; never timing asserts in tests)
RATIO_THREADS = (1, 8, 32)
MAX_ADDED_LATENCY_US = 40.0
MAX_KB_PER_SESSION = 30.0
MIN_CONNECT_RATIO = 0.5

Doc = dict[str, Any]


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


# -- summaries ----------------------------------------------------------------------------------


def summarise_sysbench(runs: list[Doc]) -> Doc:
    """``{workload: {threads: {target: {qps, p95_ms, median_ms, ratio, runs}}}}`` (medians)."""
    grouped: dict[tuple[str, int, str], list[Doc]] = {}
    for run in runs:
        grouped.setdefault((run["workload"], run["threads"], run["target"]), []).append(run)
    summary: Doc = {}
    for (workload, threads, target), group in grouped.items():
        cell = {
            "qps": _median(r["qps"] for r in group),
            "p95_ms": _median(r["p95_ms"] for r in group),
            "median_ms": _median(r["median_ms"] for r in group),
            "errors": sum(r["errors"] for r in group),
            "runs": len(group),
        }
        cpu = _median(r.get("proxy_cpu_us_per_query") for r in group)
        if cpu is not None:
            cell["proxy_cpu_us_per_query"] = cpu
        summary.setdefault(workload, {}).setdefault(str(threads), {})[target] = cell
    for by_threads in summary.values():
        for cells in by_threads.values():
            base = cells.get(DIRECT, {}).get("qps")
            for cell in cells.values():
                cell["ratio"] = cell["qps"] / base if base and cell["qps"] is not None else None
    return summary


def summarise_connect(runs: list[Doc]) -> Doc:
    by_target: dict[str, list[Doc]] = {}
    for run in runs:
        by_target.setdefault(run["target"], []).append(run)
    summary: Doc = {}
    for target, group in by_target.items():
        cell = {"per_sec": _median(r["per_sec"] for r in group), "runs": len(group)}
        cpu = _median(r.get("proxy_cpu_us_per_connection") for r in group)
        if cpu is not None:
            cell["proxy_cpu_us_per_connection"] = cpu
        summary[target] = cell
    base = summary.get(DIRECT, {}).get("per_sec")
    for cell in summary.values():
        cell["ratio"] = cell["per_sec"] / base if base else None
    return summary


def memory_sections(doc: Doc) -> dict[str, Doc]:
    """``{target: {points, kb_per_session}}`` (schema 1 files measured only ``interlock``)."""
    memory = doc.get("memory", {})
    if "points" in memory:
        return {"interlock": memory}
    return {t: m for t, m in memory.items() if isinstance(m, dict) and m.get("points")}


def checks(doc: Doc) -> list[Doc]:
    """The issue's targets, each with the figure measured and whether it holds (None: not
    measured in this run)."""
    out: list[Doc] = []
    point = doc.get("sysbench", {}).get("summary", {}).get("oltp_point_select", {})
    for threads in RATIO_THREADS:
        cells = point.get(str(threads), {})
        il = cells.get("interlock", {}).get("ratio")
        ha = cells.get("haproxy", {}).get("ratio")
        out.append(_check(
            f"oltp_point_select {threads} thr: Interlock ratio >= HAProxy ratio",
            f">= {ha:.3f}" if ha is not None else ">= HAProxy",
            f"{il:.3f}" if il is not None else None,
            None if il is None or ha is None else il >= ha,
        ))
    cells = point.get("1", {})
    direct = cells.get(DIRECT, {}).get("median_ms")
    il_latency = cells.get("interlock", {}).get("median_ms")
    added = (il_latency - direct) * 1000 if direct is not None and il_latency is not None else None
    out.append(_check(
        "added median latency at 1 thread (oltp_point_select)",
        f"<= {MAX_ADDED_LATENCY_US:g} us",
        f"{added:.0f} us" if added is not None else None,
        None if added is None else added <= MAX_ADDED_LATENCY_US,
    ))
    per_session = memory_sections(doc).get("interlock", {}).get("kb_per_session", {})
    for sessions, kb in sorted(per_session.items(), key=lambda kv: int(kv[0])):
        out.append(_check(
            f"RSS per idle session ({sessions} sessions)",
            f"<= {MAX_KB_PER_SESSION:g} KB",
            f"{kb:.1f} KB",
            kb <= MAX_KB_PER_SESSION,
        ))
    ratio = doc.get("connect", {}).get("summary", {}).get("interlock", {}).get("ratio")
    out.append(_check(
        "connection set-up rate, ratio to direct",
        f">= {MIN_CONNECT_RATIO:g}",
        f"{ratio:.3f}" if ratio is not None else None,
        None if ratio is None else ratio >= MIN_CONNECT_RATIO,
    ))
    return out


def _check(name: str, required: str, measured: str | None, holds: bool | None) -> Doc:
    return {"name": name, "required": required, "measured": measured, "holds": holds}


# -- markdown -----------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def markdown(doc: Doc) -> str:
    settings = doc["settings"]
    targets = [t for t in doc["targets"] if t != DIRECT]
    lines = [
        f"Interlock benchmark {doc['git']['describe']}, {doc['started'][:16].replace('T', ' ')}"
        f" ({doc['machine']['cpus']} CPUs; {'QUICK, ' if settings['quick'] else ''}"
        f"median of {settings['reps']} repetition(s) of {settings['duration']} s per run,"
        f" targets alternating inside each repetition)",
        "",
    ]
    if doc.get("note"):
        lines += [f"Note: {doc['note']}", ""]
    lines += ["Targets:", ""]
    described = dict(DESCRIPTIONS)
    if doc.get("schema", 1) < 2:  # before --targets: the sandbox config of its commit
        described["interlock"] = "Interlock with the sandbox's config of that commit"
    lines += [f"- {LABELS.get(t, t)}: {described.get(t, t)}" for t in doc["targets"]]
    lines.append("")
    summary = doc.get("sysbench", {}).get("summary", {})
    if summary:
        head = "| workload | threads | direct qps | direct p95 ms |"
        rule = "|---|---:|---:|---:|"
        for t in targets:
            label = LABELS.get(t, t)
            head += f" {label} qps | {label} p95 ms | {label} ratio |"
            rule += "---:|---:|---:|"
        lines += [head, rule]
        for workload, by_threads in summary.items():
            for threads, cells in sorted(by_threads.items(), key=lambda kv: int(kv[0])):
                direct = cells.get(DIRECT, {})
                row = (f"| {workload} | {threads} | {_num(direct.get('qps'))} |"
                       f" {_num(direct.get('p95_ms'), 3)} |")
                for t in targets:
                    cell = cells.get(t, {})
                    row += (f" {_num(cell.get('qps'))} | {_num(cell.get('p95_ms'), 3)} |"
                            f" {_num(cell.get('ratio'), 2)} |")
                lines.append(row)
        lines.append("")
        lines += _latency_lines(summary.get("oltp_point_select", {}).get("1", {}))
    connect = doc.get("connect", {}).get("summary", {})
    if connect:
        cs = doc["settings"]
        lines += [
            f"Connection set-up (connect, SELECT 1, disconnect; {cs['connect_threads']} client"
            f" threads, {cs['connect_seconds']} s; proxy CPU: user + system time of the proxy"
            " process per connection):",
            "",
            "| target | connections/s | ratio to direct | proxy CPU us/connection |",
            "|---|---:|---:|---:|",
        ]
        for t, cell in connect.items():
            lines.append(f"| {LABELS.get(t, t)} | {_num(cell['per_sec'])} |"
                         f" {_num(cell['ratio'], 2)} |"
                         f" {_num(cell.get('proxy_cpu_us_per_connection'))} |")
        lines.append("")
    lines += _memory_lines(memory_sections(doc))
    lines += _spread_lines(doc.get("spread", {}))
    lines += ["Targets of issue 3 (about the Interlock target, never Interlock rws):", "",
              "| target | required | measured | holds |",
              "|---|---|---|---|"]
    for check in doc.get("checks", []):
        holds = {True: "yes", False: "**no**", None: "not measured"}[check["holds"]]
        lines.append(f"| {check['name']} | {check['required']} |"
                     f" {check['measured'] or '-'} | {holds} |")
    return "\n".join(lines) + "\n"


def _memory_lines(memory: dict[str, Doc]) -> list[str]:
    """RSS with idle sessions, one pair of columns per Interlock target."""
    if not memory:
        return []
    targets = list(memory)
    head = "| idle sessions |" + "".join(
        f" {LABELS.get(t, t)} RSS MB | {LABELS.get(t, t)} KB per session |" for t in targets)
    lines = ["Interlock memory with idle client sessions (a fresh process per target; KB per"
             " session = RSS growth over the 0-session point / sessions):", "", head,
             "|---:|" + "---:|---:|" * len(targets)]
    levels = sorted({p["sessions"] for m in memory.values() for p in m["points"]})
    for level in levels:
        row = f"| {level:,} |"
        for t in targets:
            rss = next((p["rss_kb"] for p in memory[t]["points"] if p["sessions"] == level),
                       None)
            kb = memory[t].get("kb_per_session", {}).get(str(level))
            row += f" {_num(rss / 1024 if rss is not None else None, 1)} | {_num(kb, 1)} |"
        lines.append(row)
    lines += [f"({LABELS.get(t, t)}: {memory[t]['capped']})" for t in targets
              if memory[t].get("capped")]
    return [*lines, ""]


def _spread_lines(spread: Doc) -> list[str]:
    """Each server's share of the SELECTs of oltp_read_only through the read/write split."""
    if not spread.get("shares"):
        return []
    lines = [f"Read spread: {spread['script']} (autocommit: `--skip_trx=on`),"
             f" {spread['threads']} threads, {spread['seconds']} s through"
             f" {LABELS.get(spread['target'], spread['target'])}, {_num(spread['qps'])} qps,"
             f" {spread['errors']} errors; each server's `{spread['counter']}` increments:", "",
             "| server | role | SELECTs | share |", "|---|---|---:|---:|"]
    for name, share in spread["shares"].items():
        lines.append(f"| {name} | {spread['roles'].get(name, '?')} |"
                     f" {_num(spread['selects'].get(name))} | {share:.1%} |")
    return [*lines, ""]


def _latency_lines(cells: Doc) -> list[str]:
    """One thread of oltp_point_select: each target's median round trip, what it adds to a
    direct connection, and the proxy's own CPU time per query."""
    if not cells:
        return []
    direct = cells.get(DIRECT, {}).get("median_ms")
    lines = ["oltp_point_select at 1 thread (one query per round trip):", "",
             "| target | median latency us | added to direct us | proxy CPU us/query |",
             "|---|---:|---:|---:|"]
    for target, cell in cells.items():
        median = cell.get("median_ms")
        added = (median - direct) * 1000 if median is not None and direct is not None else None
        lines.append(f"| {LABELS.get(target, target)} |"
                     f" {_num(median * 1000 if median is not None else None)} |"
                     f" {'-' if target == DIRECT else _num(added)} |"
                     f" {_num(cell.get('proxy_cpu_us_per_query'), 1)} |")
    return [*lines, ""]


# -- chart --------------------------------------------------------------------------------------


def chart(doc: Doc, path: Path) -> None:
    """Ratio to direct per workload and thread count, one bar per target (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = doc.get("sysbench", {}).get("summary", {})
    connect = doc.get("connect", {}).get("summary", {})
    panels = len(summary) + (1 if connect else 0)
    if not panels:
        return
    targets = list(doc["targets"])
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 4.2), squeeze=False)
    width = 0.8 / len(targets)
    colors = {"direct": "#9e9e9e", "haproxy": "#4c72b0", "interlock": "#dd8452",
              RWS: "#c44e52", "forwarder": "#55a868"}
    for ax, (workload, by_threads) in zip(axes[0], summary.items(), strict=False):
        threads = sorted(by_threads, key=int)
        for i, target in enumerate(targets):
            values = [by_threads[t].get(target, {}).get("ratio") or 0.0 for t in threads]
            xs = [x + (i - (len(targets) - 1) / 2) * width for x in range(len(threads))]
            bars = ax.bar(xs, values, width, label=LABELS.get(target, target),
                          color=colors.get(target))
            ax.bar_label(bars, fmt="%.2f", fontsize=7)
        ax.set_xticks(range(len(threads)), [f"{t} thr" for t in threads])
        ax.set_title(workload, fontsize=10)
        ax.set_ylim(0, 1.15)
        ax.axhline(1.0, color="black", linewidth=0.6, linestyle="--")
    axes[0][0].set_ylabel("qps ratio to direct (median)")
    if connect:
        ax = axes[0][-1]
        names = [t for t in targets if t in connect]
        values = [connect[t]["ratio"] or 0.0 for t in names]
        bars = ax.bar(range(len(names)), values, 0.6,
                      color=[colors.get(t) for t in names])
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
        ax.set_xticks(range(len(names)), [LABELS.get(t, t) for t in names], rotation=25,
                      ha="right", fontsize=8)
        ax.set_title("connection set-up rate", fontsize=10)
        ax.set_ylim(0, 1.15)
        ax.axhline(1.0, color="black", linewidth=0.6, linestyle="--")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=9,
               bbox_to_anchor=(0.5, 0.93), frameon=False)
    quick = " (QUICK: 1 repetition)" if doc["settings"]["quick"] else ""
    fig.suptitle(f"Interlock {doc['git']['describe']}{quick}: qps relative to a direct"
                 f" connection (median of {doc['settings']['reps']})", fontsize=11)
    bottom = 0.0
    if RWS in targets:
        bottom = 0.06
        fig.text(0.5, 0.01, "Interlock rws: router=readwritesplit (3 backend connections per"
                 " login, every statement classified, reads on the replicas): a different job,"
                 " not comparable to HAProxy; Interlock: readconnroute to the primary.",
                 ha="center", fontsize=8)
    fig.tight_layout(rect=(0, bottom, 1, 0.88))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Re-render a bench results file.")
    parser.add_argument("results", type=Path)
    parser.add_argument("--png", type=Path, help="also draw the chart here")
    args = parser.parse_args(argv)
    doc = json.loads(args.results.read_text())
    sys.stdout.write(markdown(doc))
    if args.png:
        chart(doc, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
