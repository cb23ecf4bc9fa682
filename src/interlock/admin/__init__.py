"""Operating Interlock: the REST API, dashboard and /metrics (``http``, ``resources``,
``metrics``, ``dashboard``) and ``interlock ctl`` (``ctl``), which talks to the API."""
