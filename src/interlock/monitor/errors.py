"""Exceptions of the monitor layer.

The planners never raise on a well-formed cluster state: a cluster operation that must not run
is answered with a :class:`~interlock.monitor.plans.Refusal` value that says why.  The
exceptions here cover malformed input handed to the parsers (GTID strings, probe rows,
parameter values).
"""

from __future__ import annotations

from interlock.errors import InterlockError


class MonitorError(InterlockError):
    """Root of the monitor layer's exceptions."""


class GtidParseError(MonitorError, ValueError):
    """A GTID or GTID list string is malformed."""


class ObservationError(MonitorError, ValueError):
    """A probe row lacks a column the parser needs, or holds a value it cannot read."""


class MonitorSettingsError(MonitorError, ValueError):
    """A monitor parameter has a value the monitor does not accept."""
