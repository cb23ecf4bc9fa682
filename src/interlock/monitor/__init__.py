"""The replication monitor (issue 5).

Pure planning half (no asyncio/socket): ``gtid`` (GTID lists), ``observations`` (what a probe
reads, the probe SQL and row parsers), ``cluster`` (topology, primary selection, states),
``states`` (state flags and their display), ``health`` (failure counting, holistic failure
verdict), ``candidates``/``failover``/``switchover``/``rejoin`` (planners, gathered in
``plans``), ``steps`` (the plan model, rollback), ``events`` (event records, bounded history),
``settings`` (MonitorSettings).  The probe and executor (I/O) come later.
"""
