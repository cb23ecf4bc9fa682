"""Helpers for the real-client conformance suite (``tests/integration/test_clients*.py``).

Every scenario runs against a :class:`~tests.integration.clients.target.Target`: ``direct``
(the sandbox primary) or ``proxy`` (Interlock in front of it). The direct run is the
baseline; the proxy run must give exactly the same observations.
"""
