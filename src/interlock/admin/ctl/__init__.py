"""``interlock ctl``: maxctrl's verbs against the admin REST API.

``client`` (HTTP over urllib, TLS, error -> exit code), ``settings`` (where the API is and who
we are: ``-h``, ``-u``/``-p``, ``-c FILE``, the generated password file), ``tables`` (box
tables and TSV, pure), ``fields`` (the columns of ``list`` and the fields of ``show``, as data),
``commands`` (the read verbs and the dispatch table), ``actions`` (state changes, cluster
operations, users), ``objects`` (create/alter/destroy/link/unlink of servers, services and
monitors), ``cli`` (argparse).  Exit codes: see :class:`interlock.admin.ctl.client.Exit`.
"""
