"""``--plot``: what is drawn (plotdata, checked by value), that a real PNG comes out of the
command and of the API with Method 2 data, and the one-line error without matplotlib."""

from __future__ import annotations

import builtins
import itertools
import struct
from fractions import Fraction as F
from pathlib import Path
from typing import Any

import pytest

from interlock.advisor.analysis import analyze_load
from interlock.advisor.figures import Load
from interlock.advisor.histogram import Histogram
from interlock.advisor.observations import CloseReason, SessionObservations
from interlock.advisor.plot import INSTALL_HINT, PANEL_HEIGHT, render_png
from interlock.advisor.plotdata import log_bins, model_of, plot_data, sampled_of
from interlock.cli import main

DATA = Path(__file__).parent / "data"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WHAT_IF = ("--max-connections", "100", "--max-used-connections", "92", "--avg-cps", "0.8",
           "--max-cps", "1.1", "--cpq", "7")


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def panels_in(path: Path) -> float:
    """How many panel heights tall the picture is (dpi 100)."""
    return png_size(path)[1] / (PANEL_HEIGHT * 100)


def test_model_of_the_worked_example() -> None:
    model = model_of(analyze_load(Load(100, 92, F("0.8"), F(7), F("1.1"))))
    # the average line reaches max_connections after 100 / 0.8 = 125 s, the peak one after
    # 100 / 1.1 = 90.9 s; both start empty at 0
    assert model.average.points == ((0.0, 0.0), (125.0, 100.0))
    assert model.peak.points[1] == pytest.approx((100 / 1.1, 100.0))
    # each lifetime on its own line: (lifetime, rate x lifetime)
    marks = {m.label: (m.t, m.connections) for m in model.lifetimes}
    assert marks["EXP 63 s"] == pytest.approx((63, 0.8 * 63))
    assert marks["CUR 58 s"] == pytest.approx((58, 0.8 * 58))
    assert marks["PAS 42 s"] == pytest.approx((42, 1.1 * 42))
    assert marks["POL 46 s"] == pytest.approx((46, 1.1 * 46))
    limits = {m.label: m.t for m in model.limits}
    assert limits["Max_used_connections at peak rate"] == pytest.approx(92 / 1.1)
    assert dict(model.wait_timeout) == {"strict": 36, "middle": 39, "lenient": 42}
    assert (model.max_connections, model.max_used_connections, model.lpt) == (100, 92, 42)


def test_coinciding_lifetimes_share_one_label() -> None:
    # a sampled peak below the average: the peak line is the average line, EXP = POL, CUR = PAS
    model = model_of(analyze_load(Load(1000, 2, F(36, 13), F(3), F(0))))
    assert [m.label for m in model.lifetimes] == ["EXP 181 s = POL 181 s", "CUR 1 s = PAS 1 s"]


def test_sampled_curves_are_relative_and_skip_a_restart() -> None:
    connections = [(100.0, 10), (101.0, 13), (102.0, 2), (104.0, 6)]  # restart between 101 and 102
    threads = [(100.0, 4), (101.0, 7), (102.0, 1), (104.0, 3)]
    sampled = sampled_of(connections, threads)
    assert sampled is not None
    assert sampled.threads == ((0.0, 4.0), (1.0, 7.0), (2.0, 1.0), (4.0, 3.0))
    assert sampled.rates == ((0.0, 1.0, 3.0), (2.0, 4.0, 2.0))  # 13 - 10 in 1 s; 6 - 2 in 2 s
    assert sampled_of([(1.0, 5)], [(1.0, 2)]) is None  # one reading: no curve


def test_log_bins_keep_every_value_in_the_right_bin() -> None:
    histogram = Histogram()
    values = [0.0005, 0.003, 1.5, 1.5, 15.0, 250.0, 3600.0]
    for value in values:
        histogram.add(value)
    edges, counts = log_bins(histogram)
    assert sum(counts) == len(values)
    assert len(edges) == len(counts) + 1
    assert all(b > a for a, b in itertools.pairwise(edges))
    # every value (above the 1 ms floor) lies in [lower edge / 1.02, upper edge] of its bin
    placed = [(edges[i], edges[i + 1]) for i, c in enumerate(counts) for _ in range(c)]
    for value, (low, high) in zip(sorted(values)[1:], placed[1:], strict=True):
        assert low / 1.02 <= value <= high, (value, low, high)
    assert log_bins(Histogram()) == ((), ())


def test_what_if_plot_is_a_png(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "what-if.png"
    assert main(["advise", *WHAT_IF, "--plot", str(target)]) == 0
    out, err = capsys.readouterr()
    assert "wait_timeout = 39 s" in out and f"plot written to {target}" in err
    assert target.stat().st_size > 20_000
    assert panels_in(target) == pytest.approx(1)  # only the model: nothing was sampled


def test_status_file_with_readings_adds_the_sampled_panel(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "file.png"
    code = main(["advise", "--status-file", str(DATA / "mysqladmin-r-i1-c3.txt.gz"),
                 "--variables-file", str(DATA / "show-global-variables.tsv"),
                 "--plot", str(target), "--json"])
    assert code == 0
    capsys.readouterr()
    assert target.stat().st_size > 20_000
    assert panels_in(target) == pytest.approx(2)  # model + the 3 readings of the file


def observations() -> SessionObservations:
    obs = SessionObservations()
    t = 0.0
    for sid in range(50):
        obs.session_opened(sid, t)
        for gap in (0.5, 2.0, 8.0):
            t += gap
            obs.statement(sid, t)
            t += 0.01
            obs.idle(sid, t)
        t += 30.0
        obs.session_closed(sid, t, CloseReason.QUIT if sid % 2 else CloseReason.VANISHED)
    return obs


def test_method2_panels_from_observations(tmp_path: Path) -> None:
    obs = observations()
    analysis = analyze_load(Load(100, 92, F("0.8"), F(7), F("1.1")))
    sampled = sampled_of([(0.0, 10), (1.0, 12), (2.0, 15)], [(0.0, 3), (1.0, 4), (2.0, 6)])
    data = plot_data(analysis, "what-if", sampled, obs)
    lifetimes, gaps = data.panels
    assert sum(lifetimes.bars[0].counts) == 50
    returning, closing = gaps.bars
    assert sum(returning.counts) == 150 and sum(closing.counts) == 50  # 3 gaps and 1 last gap
    assert returning.summary.max == pytest.approx(8.0)
    assert closing.summary.max == pytest.approx(30.0)
    assert ("method 1 wait_timeout", 39.0) in gaps.marks
    target = tmp_path / "m2.png"
    render_png(data, target)
    assert target.stat().st_size > 50_000
    assert panels_in(target) == pytest.approx(4)  # model, sampled window, two histograms


def test_empty_observations_still_plot(tmp_path: Path) -> None:
    analysis = analyze_load(Load(100, 92, F("0.8"), F(7)))
    data = plot_data(analysis, "what-if", None, SessionObservations())
    assert all(not bars.counts for panel in data.panels for bars in panel.bars)
    render_png(data, tmp_path / "empty.png")
    assert panels_in(tmp_path / "empty.png") == pytest.approx(3)


def test_missing_matplotlib_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    target = tmp_path / "never.png"
    code = main(["advise", *WHAT_IF, "--plot", str(target)])
    out, err = capsys.readouterr()
    assert code == 2
    assert err == f"error: {INSTALL_HINT}\n"
    assert "uv sync" in err and "pip install matplotlib" in err
    assert out == ""  # checked before anything else is done
    assert not target.exists()


def test_unwritable_plot_path_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "no-such-dir" / "x.png"
    assert main(["advise", *WHAT_IF, "--plot", str(target)]) == 1
    _, err = capsys.readouterr()
    assert f"cannot write the plot to {target}" in err
