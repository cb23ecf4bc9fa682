"""The replication monitor (issue 5).

Pure planning half (no asyncio/socket): ``gtid`` (GTID lists), ``observations`` (what a probe
reads, the probe SQL and row parsers), ``cluster`` (topology, primary selection, states),
``states`` (state flags and their display), ``health`` (failure counting, holistic failure
verdict), ``candidates``/``failover``/``switchover``/``rejoin`` (planners, gathered in
``plans``), ``steps`` (the plan model, rollback), ``events`` (event records, bounded history),
``settings`` (MonitorSettings), ``rules`` (the loop's small decisions).

I/O half: ``probe`` (connections and probes), ``executor`` (runs plans; the write hold),
``loop`` (``MonitorRuntime``).  See docs/failover.md.
"""
