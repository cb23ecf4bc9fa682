"""Rendering an :class:`Analysis` as a readable report or as JSON (pure: returns text/dicts)."""

from __future__ import annotations

from dataclasses import asdict
from fractions import Fraction
from typing import Any

from interlock.advisor.advice import Severity
from interlock.advisor.analysis import Analysis
from interlock.advisor.memory import Estimate
from interlock.advisor.method1 import PeakSource
from interlock.advisor.units import format_size

_SEVERITY_LABEL = {Severity.INFO: "note", Severity.ADVICE: "advice", Severity.WARNING: "WARNING"}
_PEAK_LABEL = {
    PeakSource.MEASURED: "measured",
    PeakSource.ESTIMATED: "estimate: 1.5 x average",
    PeakSource.AVERAGE: "the average: the sampled peak was lower",
}


def _f(value: Fraction, digits: int = 4) -> str:
    return f"{float(value):.{digits}f}"


def _counter_lines(analysis: Analysis) -> list[str]:
    c, v = analysis.counters, analysis.variables
    lines = []
    if c is not None:
        lines.append(
            f"  Connections {c.connections}   Uptime {c.uptime} s   Questions {c.questions}"
            f"   Max_used_connections {c.max_used_connections}"
        )
        lines.append(
            f"  Aborted_clients {c.aborted_clients}   Aborted_connects {c.aborted_connects}"
        )
    if v is not None:
        lines.append(
            f"  max_connections {v.max_connections}   wait_timeout {v.wait_timeout} s"
            f"   interactive_timeout {v.interactive_timeout} s"
            f"   connect_timeout {v.connect_timeout} s"
        )
    return lines


def _figure_lines(analysis: Analysis) -> list[str]:
    r = analysis.result
    peak = _PEAK_LABEL[r.peak_source]
    if r.peak_source is PeakSource.MEASURED and analysis.samples:
        peak += f" over {analysis.samples} readings"
    return [
        f"  average cps {_f(r.avg_cps)}   spc {_f(r.spc, 2)} s   cpq {_f(r.cpq, 2)}",
        f"  peak cps    {_f(r.peak_cps)}   ({peak})",
        "",
        "  lifetime  limit                  rate     seconds",
        f"  EXP       max_connections        average  {r.exp:>7}",
        f"  POL       max_connections        peak     {r.pol:>7}",
        f"  CUR       Max_used_connections   average  {r.cur:>7}   C% = {_f(r.c_percent, 1)}",
        f"  PAS       Max_used_connections   peak     {r.pas:>7}   DEF = CUR - PAS = {r.deficit}",
        f"  LPT = {r.lpt} s from {r.lpt_from.value}: {r.lpt_reason}",
        "",
        f"  wait_timeout  strict {r.strict} s   middle {r.middle} s   lenient {r.lenient} s",
    ]


def _estimate_line(name: str, estimate: Estimate | None) -> str:
    if estimate is None:
        return f"  memory ({name}): not enough buffer sizes"
    line = (
        f"  memory ({name}): {format_size(estimate.global_bytes)} +"
        f" {format_size(estimate.per_connection)} x {estimate.max_connections}"
        f" = {format_size(estimate.total)}"
    )
    fit = estimate.max_connections_that_fit
    if fit is not None:
        line += f"   max_connections that fits: {fit}"
    return line


def _check_lines(analysis: Analysis) -> list[str]:
    lines = []
    if analysis.rates is not None:
        lines.append(
            f"  POC {_f(analysis.rates.poc, 2)}% (aborted clients)"
            f"   POF {_f(analysis.rates.pof, 2)}% (failed connects)"
        )
    memory = analysis.memory
    if memory is not None:
        lines.append(_estimate_line("classic", memory.classic))
        lines.append(_estimate_line("current", memory.current))
        if memory.machine is not None:
            lines.append(f"  machine memory {format_size(memory.machine)}")
    return lines


def render_text(analysis: Analysis, source: str) -> str:
    lines = [
        "Interlock advisor, method 1: critical lifetimes from status counters",
        f"source: {source}",
        "",
        *_counter_lines(analysis),
        *_figure_lines(analysis),
        *_check_lines(analysis),
        "",
        "Recommendations:",
    ]
    for item in sorted(analysis.advice, key=lambda a: -a.severity):
        lines.append(f"  [{_SEVERITY_LABEL[item.severity]}] {item.text}")
    mycnf = analysis.mycnf
    if mycnf:
        lines += ["", "To persist them (my.cnf):", *(f"  {line}" for line in mycnf)]
        wait = next((x.setting for x in analysis.advice if x.topic == "wait_timeout"
                     and x.setting), None)
        if wait is not None:
            lines.append(f"  and now: SET GLOBAL wait_timeout = {wait[1]};")
    return "\n".join(lines) + "\n"


def _estimate_json(estimate: Estimate | None) -> dict[str, Any] | None:
    if estimate is None:
        return None
    return {
        "global_bytes": estimate.global_bytes,
        "per_connection_bytes": estimate.per_connection,
        "total_bytes": estimate.total,
        "fits": estimate.fits,
        "max_connections_that_fit": estimate.max_connections_that_fit,
    }


def render_json(analysis: Analysis, source: str) -> dict[str, Any]:
    r = analysis.result
    out: dict[str, Any] = {
        "source": source,
        "samples": analysis.samples,
        "avg_cps": float(r.avg_cps),
        "spc": float(r.spc),
        "cpq": float(r.cpq),
        "peak_cps": float(r.peak_cps),
        "peak_source": r.peak_source.value,
        "peak_estimated": r.peak_source is PeakSource.ESTIMATED,
        "measured_peak_cps": None if r.measured_peak is None else float(r.measured_peak),
        "EXP": r.exp, "POL": r.pol, "CUR": r.cur, "PAS": r.pas,
        "C_percent": float(r.c_percent),
        "DEF": r.deficit,
        "policy": r.policy.value,
        "LPT": r.lpt,
        "LPT_from": r.lpt_from.value,
        "LPT_reason": r.lpt_reason,
        "wait_timeout": {"strict": r.strict, "middle": r.middle, "lenient": r.lenient},
        "needs_capacity": r.needs_capacity,
        "clamped": list(r.clamped),
        "POC": None if analysis.rates is None else float(analysis.rates.poc),
        "POF": None if analysis.rates is None else float(analysis.rates.pof),
    }
    if analysis.counters is not None:
        out["status"] = asdict(analysis.counters)
    if analysis.variables is not None:
        v = analysis.variables
        out["variables"] = {
            "max_connections": v.max_connections, "wait_timeout": v.wait_timeout,
            "interactive_timeout": v.interactive_timeout, "connect_timeout": v.connect_timeout,
            **dict(v.buffers),
        }
    if analysis.memory is not None:
        out["memory"] = {
            "machine_bytes": analysis.memory.machine,
            "classic": _estimate_json(analysis.memory.classic),
            "current": _estimate_json(analysis.memory.current),
            "missing": list(analysis.memory.missing),
        }
    out["advice"] = [
        {"severity": a.severity.name.lower(), "topic": a.topic, "text": a.text,
         "setting": None if a.setting is None else {a.setting[0]: a.setting[1]}}
        for a in analysis.advice
    ]
    out["mycnf"] = analysis.mycnf
    return out
