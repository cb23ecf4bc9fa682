"""Exceptions of the routing layer.

The routing functions themselves never raise on well-typed input (a statement that cannot be
routed anywhere still gets a decision, with a reason); :class:`RoutingError` covers malformed
values handed to the layer's parsers (GTID strings, parameter spellings).
"""

from __future__ import annotations

from interlock.errors import InterlockError


class RoutingError(InterlockError):
    """Root of the routing layer's exceptions."""


class GtidError(RoutingError, ValueError):
    """A GTID or GTID position string is malformed."""


class SettingsError(RoutingError, ValueError):
    """A router parameter value is not one the router knows."""
