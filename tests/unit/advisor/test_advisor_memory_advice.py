"""The memory check, the advice built from Method 1, the report and the my.cnf lines."""

from __future__ import annotations

import json
from fractions import Fraction as F

from interlock.advisor.advice import Severity
from interlock.advisor.analysis import analyze, analyze_load
from interlock.advisor.figures import Counters, Load, Variables
from interlock.advisor.memory import memory_check
from interlock.advisor.report import render_json, render_text

MiB = 1 << 20
BUFFERS = (
    ("binlog_cache_size", 32_768),
    ("innodb_buffer_pool_size", 1024 * MiB),
    ("innodb_log_buffer_size", 16 * MiB),
    ("join_buffer_size", 262_144),
    ("key_buffer_size", 128 * MiB),
    ("read_buffer_size", 131_072),
    ("read_rnd_buffer_size", 262_144),
    ("sort_buffer_size", 2 * MiB),
    ("thread_stack", 299_008),
    ("tmp_table_size", 16 * MiB),
)


def test_memory_check_worked_example() -> None:
    check = memory_check(Variables(100, 600, 28_800, 10, BUFFERS), machine=2 << 30)
    assert check.classic is not None and check.current is not None and not check.missing
    # classic: 134217728 + (131072 + 2097152) * 100 = 134217728 + 222822400
    assert check.classic.total == 357_040_128
    assert check.classic.fits
    # current global: 134217728 + 1073741824 + 16777216 = 1224736768
    assert check.current.global_bytes == 1_224_736_768
    # per connection: 131072 + 2097152 + 262144 + 262144 + 299008 + 32768 + 16777216
    assert check.current.per_connection == 19_861_504
    assert check.current.total == 1_224_736_768 + 19_861_504 * 100  # 3,210,887,168
    assert not check.current.fits
    # (2147483648 - 1224736768) // 19861504 = 922746880 // 19861504 = 46 (46.46)
    assert check.current.max_connections_that_fit == 46


def test_memory_check_without_buffers_or_machine() -> None:
    check = memory_check(Variables(100, 600, 28_800, 10, (("key_buffer_size", 8),)))
    assert check.classic is None and check.current is None
    assert "read_buffer_size" in check.missing
    full = memory_check(Variables(100, 600, 28_800, 10, BUFFERS))
    assert full.current is not None and full.current.fits is None
    assert full.current.max_connections_that_fit is None


def busy_analysis() -> tuple[Counters, Variables]:
    # Connections 50000 over 10000 s = 5 cps; 3% aborted clients, 2% failed connects;
    # cpq = 500000 / 50000 = 10; Max_used 150 = max_connections
    counters = Counters(50_000, 10_000, 500_000, 150, 1_500, 1_000)
    return counters, Variables(150, 28_800, 300, 10, BUFFERS)


def test_advice_for_a_busy_server() -> None:
    counters, variables = busy_analysis()
    a = analyze(counters, variables, peak=F(10), machine_memory=2 << 30)
    r = a.result
    # EXP: 150 / 5 = 30; 31 / 2 = 15.5 -> 16; CUR: the same (Max_used = max_connections)
    # PAS: 150 / 10 = 15; 16 / 2 = 8; POL: 8; C% = 100 -> PAS -> LPT 8 <= 10 -> clamped to 10
    assert (r.exp, r.cur, r.pas, r.pol, r.lpt) == (16, 16, 8, 8, 8)
    assert a.rates is not None
    assert a.rates.poc == 3 and a.rates.pof == 2  # 1500 * 100 / 50000; 1000 * 100 / 50000
    topics = {(x.severity, x.topic) for x in a.advice}
    assert (Severity.WARNING, "capacity") in topics
    assert (Severity.WARNING, "memory") in topics
    texts = " | ".join(x.text for x in a.advice)
    assert "POC = 3.00%" in texts and "POF = 2.00%" in texts
    assert "Max_used_connections = 150 has reached max_connections = 150" in texts
    # interactive_timeout 300 >= the recommended 10 s; the server is busy (C% = 100) but 300 is
    # not above max(10, 3600), so it stays
    assert any(x.topic == "interactive_timeout" and x.severity is Severity.INFO
               for x in a.advice)
    # 150 connections x 19861504 + 1224736768 = 4.2 GB > 2 GiB: 46 fit (see the memory test)
    assert a.mycnf == ["[mariadb]", "wait_timeout = 10", "max_connections = 46"]


def test_report_and_json_carry_the_figures() -> None:
    counters, variables = busy_analysis()
    a = analyze(counters, variables, peak=None, samples=0)
    text = render_text(a, "test")
    assert "peak cps    7.5000   (estimate: 1.5 x average)" in text
    # peak 7.5: PAS = (150 / 7.5 + 1) / 2 = 10.5 -> 11 = LPT; strict 11 - 11 / 10 = 9.9 -> 10
    # (not below 10: no clamp); middle (11 + 9.9) / 2 = 10.45 -> 10; lenient 11
    assert "wait_timeout  strict 10 s   middle 10 s   lenient 11 s" in text
    assert "[WARNING] Max_used_connections = 150 has reached max_connections" in text
    assert "needs more capacity" not in text
    data = json.loads(json.dumps(render_json(a, "test")))
    assert data["peak_estimated"] is True
    assert data["EXP"] == 16 and data["LPT_from"] == "PAS"
    assert data["status"]["connections"] == 50_000
    assert data["variables"]["key_buffer_size"] == 128 * MiB
    assert data["memory"]["current"]["total_bytes"] == 1_224_736_768 + 19_861_504 * 150


def test_interactive_timeout_advice() -> None:
    load = Load(1000, 100, F(1, 10), F(10), F(1, 5))
    # PAS: 100 / 0.2 = 500; 501 / 2 = 250.5 -> 251; CUR: 1000 -> 500.5 -> 501;
    # EXP: 10000 -> 5000.5 -> 5001; C% = 10.0, DEF = 250 <= 251 -> PAS, LPT 251
    # strict 251 - 25.1 = 225.9 -> 226; middle (251 + 225.9) / 2 = 238.45 -> 238
    low = analyze_load(load, variables=Variables(1000, 28_800, 60, 10))
    assert low.result.middle == 238
    item = next(x for x in low.advice if x.topic == "interactive_timeout")
    assert item.setting == ("interactive_timeout", 238)
    fine = analyze_load(load, variables=Variables(1000, 28_800, 28_800, 10))
    item = next(x for x in fine.advice if x.topic == "interactive_timeout")
    assert item.severity is Severity.INFO and item.setting is None
