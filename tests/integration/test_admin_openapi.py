"""``GET /v1/openapi.json`` is true: schemathesis generates requests from the document and checks
the running API's answers against it (no 5xx, only documented status codes and content types,
bodies that match the response schemas, 401 without credentials).

- Every GET route is fuzzed on the shared ``proxy`` (reads change nothing; a client session is
  open so ``/v1/sessions/{id}`` has a live example).
- Writes that cannot change the cluster are fuzzed on a proxy of this test with its own users
  file: users (POST/DELETE), killing sessions, reloading accounts, rotating logs, and
  maintenance/drain of servers (a mode of that proxy's monitor only).  The cluster operations
  (``/v1/maxscale/modules/mariadbmon/...``) and routes added by other modules (runtime
  changes, TLS reload, the dashboard's logout) are not fuzzed: their effects reach the shared
  sandbox or other tests; test_admin_operations.py runs the cluster operations for real.

The document's path examples are the proxy's own objects, so the generated requests reach real
servers, services and users as well as missing ones.  Hypothesis runs without shrinking and
with a small number of examples per operation to stay within about a minute.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.core.result import Err
from tests.conftest import ProxyFactory
from tests.integration.admin_support import AdminApi

from interlock.admin.http import all_routes
from interlock.admin.openapi import _PARAM
from interlock.sandbox import ConnParams
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration

READ_EXAMPLES = 15
WRITE_EXAMPLES = 10
#: the writes fuzzed on this test's own proxy: (method, path)
SAFE_WRITES = frozenset({
    ("POST", "/v1/users"), ("POST", "/v1/users/inet"), ("DELETE", "/v1/users/inet/{name}"),
    ("DELETE", "/v1/sessions/{id}"), ("POST", "/v1/services/{name}/reload"),
    ("POST", "/v1/maxscale/logs/rotate"), ("POST", "/v1/maxscale/logs/flush"),
    ("PUT", "/v1/servers/{name}/set"), ("PUT", "/v1/servers/{name}/clear"),
})


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def document(api: AdminApi, auth: tuple[str, str] | None = None) -> dict[str, Any]:
    reply = api.get("/v1/openapi.json", auth=auth or api.admin)
    assert reply.status == 200, reply.body
    return dict(reply.body)


def fuzz(schema: Any, base_url: str, headers: dict[str, str], examples: int) -> int:
    """Run every operation of ``schema``; fail with every operation's failure.  Returns how
    many operations ran."""
    failures: list[str] = []
    count = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        count += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate])
        def run(case: Any) -> None:
            case.call_and_validate(base_url=base_url, headers=headers)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.label}:\n{exc}")
    assert not failures, "\n\n".join(failures)
    return count


@pytest.fixture(scope="module")
def api(proxy: ProxyHandle) -> AdminApi:
    return AdminApi.of_config(proxy.config_path)


@pytest.fixture
def session(proxy_params: ConnParams) -> Iterator[pymysql.Connection]:  # type: ignore[type-arg]
    conn = pymysql.connect(**proxy_params.pymysql_kwargs())
    try:
        yield conn
    finally:
        conn.close()


def test_the_document_lists_every_route(api: AdminApi) -> None:
    doc = document(api)
    assert doc["openapi"] == "3.1.0"
    for route in all_routes():
        path = _PARAM.sub(r"{\1}", route.path)
        operation = doc["paths"][path][route.method.lower()]
        assert operation["summary"] == route.summary
        if "security" not in operation:  # (public: the dashboard's files)
            assert "401" in operation["responses"], f"{route.method} {route.path}"
    schema = schemathesis.openapi.from_dict(doc)
    broken = [str(r.err()) for r in schema.get_all_operations() if isinstance(r, Err)]
    assert not broken
    examples = doc["paths"]["/v1/servers/{name}"]["get"]["parameters"][0]
    assert examples["example"] == "server1"


def test_every_read_conforms(api: AdminApi,
                             session: pymysql.Connection) -> None:  # type: ignore[type-arg]
    doc = document(api)
    sessions = doc["paths"]["/v1/sessions/{id}"]["get"]["parameters"][0]
    assert sessions.get("example") is not None
    schema = schemathesis.openapi.from_dict(doc).include(method="GET")
    ran = fuzz(schema, api.base, basic(*api.admin), READ_EXAMPLES)
    assert ran == sum(1 for r in all_routes() if r.method == "GET")


def test_safe_writes_conform(start_proxy: ProxyFactory, tmp_path: Path) -> None:
    handle = start_proxy({"maxscale": {"datadir": str(tmp_path / "state")}}, tls=False)
    api = AdminApi.of_config(handle.config_path)
    # a user of its own: the fuzzer may remove 'admin' (the document's example user name)
    fuzzer = ("schemathesis", "fuzzer-password")
    body = {"data": {"id": fuzzer[0], "attributes": {"password": fuzzer[1],
                                                     "account": "admin"}}}
    assert api.request("POST", "/v1/users/inet", body=body).status == 204
    schema = schemathesis.openapi.from_dict(document(api, fuzzer)).include(
        lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in SAFE_WRITES)
    ran = fuzz(schema, api.base, basic(*fuzzer), WRITE_EXAMPLES)
    assert ran == len(SAFE_WRITES)
    assert handle.running()
