"""A primary that only the proxy cannot reach is not failed over (issue 5, holistic check).

The monitor (and the proxy) reach server1 through a fault-injecting TCP relay; the replica
replicates from server1 directly.  The relay is cut while a writer keeps committing on
server1: the monitor's probes fail ``failcount`` times, but the replica's IO thread still
receives, so the verdict is "unreachable from the proxy" (a warning) and nothing is promoted.
When the relay comes back, server1 is the Master again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.integration.monitor_support import LiveProxy, relay

from interlock.monitor.health import Verdict
from interlock.sandbox import Sandbox


def test_unreachable_only_from_the_proxy_is_not_failed_over(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = fresh_sandbox(replicas=1)
    sb.sql("server1", "CREATE TABLE app.beat (id INT AUTO_INCREMENT PRIMARY KEY, at DOUBLE)")
    stop = threading.Event()

    def beat() -> None:  # replication keeps flowing, straight to server1
        while not stop.is_set():
            sb.sql("server1", f"INSERT INTO app.beat (at) VALUES ({time.time()})")
            time.sleep(0.1)

    writer = threading.Thread(target=beat, daemon=True)
    writer.start()
    monitor = {"monitor_interval": "200ms", "failcount": "2", "auto_failover": "true",
               "master_failure_timeout": "2s", "backend_connect_timeout": "500ms",
               "backend_read_timeout": "500ms"}
    try:
        with relay(sb.primary.port) as cut, LiveProxy(
                sb, tmp_path, monitor, servers={"server1": {"port": str(relay_port(cut))}}) as lp:
            lp.wait_for("server1 is the Master", lambda: lp.primary() == "server1")
            time.sleep(1.0)  # the replica's position has moved while the monitor watched
            cut.cut()
            lp.wait_for("the verdict", lambda: lp.monitor.judgement is not None
                        and lp.monitor.judgement.verdict is Verdict.UNREACHABLE_FROM_PROXY)
            time.sleep(4.0)  # twice master_failure_timeout: still no failover
            judgement = lp.monitor.judgement
            assert judgement is not None
            assert judgement.verdict is Verdict.UNREACHABLE_FROM_PROXY, judgement
            assert judgement.still_replicating == ("server2",)
            assert lp.states()["server2"] != "Master, Running"
            assert sb.sql("server2", "SELECT @@read_only AS r")[0]["r"] == "1"
            (row,) = sb.sql("server2", "SHOW SLAVE STATUS")
            assert row["Slave_IO_Running"] == "Yes" and row["Master_Port"] == str(sb.primary.port)
            events = [str(e) for e in lp.monitor.events]
            assert not any("failover of" in e for e in events), events
            assert any("unreachable from the proxy but server2 still" in e for e in events)
            cut.restore()
            lp.wait_for("server1 back as Master", lambda: lp.primary() == "server1")
    finally:
        stop.set()
        writer.join(10)


def relay_port(r: object) -> int:
    return int(getattr(r, "port"))  # noqa: B009 - keeps the override readable


pytestmark = pytest.mark.integration
