"""``--plot FILE.png``: draws :mod:`interlock.advisor.plotdata` with matplotlib's Agg canvas.

matplotlib is a development dependency only: it is imported here, lazily, and
:func:`require_matplotlib` turns its absence into :class:`PlotUnavailable` with the command
that installs it.  The figure is built with the object API (``Figure`` + ``FigureCanvasAgg``),
so no pyplot state and no display are involved.

Panels: the straight-line model against ``max_connections`` (with the sampled
``Threads_connected`` curve when there is one); the sampled window itself (``Threads_connected``
and the connection rate between readings); the proxy's lifetime and idle-gap histograms.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from interlock.advisor.errors import AdvisorError, PlotUnavailable
from interlock.advisor.plotdata import HistogramPanel, Model, PlotData, Sampled

if TYPE_CHECKING:
    from matplotlib.axes import Axes

INSTALL_HINT = (
    "--plot needs matplotlib, which is not installed: run `uv sync` (it is a dev dependency)"
    " or `pip install matplotlib`"
)
PANEL_HEIGHT = 4.2  # inches
WIDTH = 11.0


def require_matplotlib() -> None:
    """Raise :class:`PlotUnavailable` (one line, with the install command) without matplotlib."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends import backend_agg  # noqa: F401
    except ImportError as exc:
        raise PlotUnavailable(INSTALL_HINT) from exc


def _model(ax: Axes, model: Model, sampled: Sampled | None) -> None:
    avg, peak = model.average, model.peak
    horizon = max(avg.reaches_limit_at, peak.reaches_limit_at)
    if sampled is not None and sampled.threads:
        horizon = max(horizon, sampled.threads[-1][0])
    horizon *= 1.05
    for line, style in ((avg, "tab:blue"), (peak, "tab:red")):
        xs, ys = zip(*line.points, strict=True)
        ax.plot(xs, ys, color=style, label=f"model: {line.label}")
        ax.plot([line.reaches_limit_at, horizon], [model.max_connections] * 2,
                color=style, linestyle=":", linewidth=0.8)
    ax.axhline(model.max_connections, color="black", linewidth=1.2,
               label=f"max_connections = {model.max_connections}")
    ax.axhline(model.max_used_connections, color="grey", linestyle="--", linewidth=1,
               label=f"Max_used_connections = {model.max_used_connections}")
    for marker in model.limits:
        ax.plot([marker.t], [marker.connections], marker="x", color="black", markersize=6)
    for marker in model.lifetimes:
        on_peak = marker.label.startswith(("PAS", "POL"))  # above the line; average: below
        ax.plot([marker.t], [marker.connections], marker="o", color="darkgreen", markersize=6)
        ax.annotate(marker.label, (marker.t, marker.connections), textcoords="offset points",
                    xytext=(-8, 8) if on_peak else (6, -12), fontsize=8, color="darkgreen",
                    ha="right" if on_peak else "left")
    waits = dict(model.wait_timeout)
    ax.axvspan(waits["strict"], waits["lenient"], color="orange", alpha=0.15,
               label=f"wait_timeout strict {waits['strict']} s .. lenient {waits['lenient']} s")
    ax.axvline(waits["middle"], color="orange", linewidth=1.5,
               label=f"wait_timeout middle {waits['middle']} s (LPT {model.lpt} s)")
    if sampled is not None and sampled.threads:
        xs, ys = zip(*sampled.threads, strict=True)
        ax.plot(xs, ys, color="purple", linewidth=1.5, label="sampled Threads_connected")
    ax.set_xlim(0, horizon)
    ax.set_ylim(0, model.max_connections * 1.1)
    ax.set_xlabel("seconds (model: from an empty server, no connection closing)")
    ax.set_ylabel("connections")
    ax.set_title(f"Method 1: connections over time against max_connections"
                 f" (peak {model.peak_label}); o = critical lifetime, x = limit reached")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)


def _sampled(ax: Axes, sampled: Sampled, model: Model) -> None:
    top = float(model.max_used_connections)
    if sampled.threads:
        xs, ys = zip(*sampled.threads, strict=True)
        ax.plot(xs, ys, color="purple", marker=".", label="Threads_connected")
        top = max(top, *ys)
    top = max(top * 1.25, 1.0)
    title = "Sampled window"
    if model.max_connections <= top:
        ax.axhline(model.max_connections, color="black", linewidth=1.2, label="max_connections")
        top = model.max_connections * 1.1
    else:
        title += f" (max_connections = {model.max_connections} is above the scale)"
    ax.axhline(model.max_used_connections, color="grey", linestyle="--", linewidth=1,
               label="Max_used_connections")
    ax.set_ylim(0, top)
    ax.set_xlabel("seconds from the first reading")
    ax.set_ylabel("connections open")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if sampled.rates:
        rate_ax: Any = ax.twinx()
        starts, ends, ys = zip(*sampled.rates, strict=True)
        rate_ax.hlines(ys, starts, ends, color="tab:red", linewidth=2,
                       label="connections/s between readings")
        rate_ax.axhline(model.average.rate, color="tab:blue", linestyle="--",
                        label="average cps since start")
        rate_ax.set_ylabel("new connections per second")
        rate_ax.set_ylim(0, max(model.average.rate, *ys) * 1.25 or 1.0)
        more_handles, more_labels = rate_ax.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    ax.legend(handles, labels, fontsize=7, loc="best")


_BAR_COLORS = ("tab:blue", "tab:orange", "tab:green")
_MARK_STYLES = {"p50": ":", "p99": "--", "p99.9": "-."}  # by the label's first word


def _histogram(ax: Axes, panel: HistogramPanel) -> None:
    drawn = False
    for bars, color in zip(panel.bars, _BAR_COLORS, strict=False):
        if not bars.counts:
            continue
        drawn = True
        s = bars.summary
        ax.stairs(bars.counts, bars.edges, fill=True, alpha=0.45, color=color,
                  label=f"{bars.label} (n={s.count}, p50 {s.p50:.3g} s, p99.9 {s.p999:.3g} s,"
                        f" max {s.max:.3g} s)")
    if not drawn:
        ax.text(0.5, 0.5, "nothing recorded yet", transform=ax.transAxes, ha="center")
    else:
        ax.set_xscale("log")
        for label, seconds in panel.marks:
            if seconds > 0:
                style = _MARK_STYLES.get(label.split()[0], "-")
                color = "black" if style != "-" else (
                    "tab:purple" if label.startswith("current") else "tab:red"
                )
                ax.axvline(seconds, color=color, linestyle=style, linewidth=1,
                           label=f"{label} {seconds:.3g} s")
        ax.legend(fontsize=7)
    ax.set_title(panel.title)
    ax.set_xlabel("seconds (log)")
    ax.set_ylabel("count")
    ax.grid(alpha=0.3)


def render_png(data: PlotData, path: str | Path) -> None:
    """Draw ``data`` into the PNG file ``path`` (overwritten)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = 1 + (data.sampled is not None) + len(data.panels)
    figure = Figure(figsize=(WIDTH, PANEL_HEIGHT * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, 1, squeeze=False)[:, 0]
    figure.suptitle(data.title, fontsize=10)
    _model(axes[0], data.model, data.sampled)
    row = 1
    if data.sampled is not None:
        _sampled(axes[row], data.sampled, data.model)
        row += 1
    for panel in data.panels:
        _histogram(axes[row], panel)
        row += 1
    try:
        figure.savefig(str(path), format="png", dpi=100)
    except OSError as exc:
        raise AdvisorError(f"cannot write the plot to {path}: {exc.strerror or exc}") from exc
