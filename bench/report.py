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
LABELS = {"direct": "direct", "haproxy": "HAProxy", "interlock": "Interlock",
          "forwarder": "uvloop forwarder"}
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
    per_session = doc.get("memory", {}).get("kb_per_session", {})
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
    memory = doc.get("memory", {})
    if memory.get("points"):
        lines += ["Interlock memory with idle client sessions:", "",
                  "| idle sessions | RSS MB | KB per session |", "|---:|---:|---:|"]
        per = memory.get("kb_per_session", {})
        for point in memory["points"]:
            kb = per.get(str(point["sessions"]))
            lines.append(f"| {point['sessions']:,} | {point['rss_kb'] / 1024:.1f} |"
                         f" {_num(kb, 1)} |")
        lines.append("")
    lines += ["Targets of issue 3:", "", "| target | required | measured | holds |",
              "|---|---|---|---|"]
    for check in doc.get("checks", []):
        holds = {True: "yes", False: "**no**", None: "not measured"}[check["holds"]]
        lines.append(f"| {check['name']} | {check['required']} |"
                     f" {check['measured'] or '-'} | {holds} |")
    return "\n".join(lines) + "\n"


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
              "forwarder": "#55a868"}
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
        ax.set_xticks(range(len(names)), [LABELS.get(t, t) for t in names])
        ax.set_title("connection set-up rate", fontsize=10)
        ax.set_ylim(0, 1.15)
        ax.axhline(1.0, color="black", linewidth=0.6, linestyle="--")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=9,
               bbox_to_anchor=(0.5, 0.93), frameon=False)
    quick = " (QUICK: 1 repetition)" if doc["settings"]["quick"] else ""
    fig.suptitle(f"Interlock {doc['git']['describe']}{quick}: qps relative to a direct"
                 f" connection (median of {doc['settings']['reps']})", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.88))
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
