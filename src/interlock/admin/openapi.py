"""``GET /v1/openapi.json``: the REST API described as OpenAPI 3.1, built from the route table.

Paths, methods, summaries, query parameters and request bodies come from
:func:`interlock.admin.http.all_routes` (so a route cannot be missing from the document); the
response schemas of the resources are written here as JSON Schema (``RESPONSES``).  They allow
attributes beyond the ones they list (other parts of Interlock add statistics), but what they
list is required and typed as the handlers write it; tests/integration/test_admin_openapi.py
fuzzes the running API against this document with schemathesis to keep it true.  Routes no
schema is written for (added by other modules) are documented with their status codes only.

Every path also answers without the ``/v1`` prefix and with a trailing slash (MaxScale's
rule); the document lists the canonical form.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from interlock import __version__
from interlock.admin.context import AdminContext
from interlock.admin.http import PUBLIC_PATHS, PUBLIC_PREFIXES, all_routes
from interlock.admin.jsonapi import JsonObject
from interlock.admin.routes import Route

# -- JSON Schema building blocks ----------------------------------------------------------------

STR: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
NUM: dict[str, Any] = {"type": "number"}
BOOL: dict[str, Any] = {"type": "boolean"}
OBJ: dict[str, Any] = {"type": "object"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


def obj(properties: dict[str, Any], required: tuple[str, ...] | None = None) -> dict[str, Any]:
    """An object with ``properties``, all required unless ``required`` names some."""
    return {"type": "object", "properties": properties,
            "required": list(properties if required is None else required)}


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


LINKS = obj({"self": STR})
RELATIONSHIP = obj({"links": obj({"self": STR, "related": STR}),
                    "data": array(obj({"id": STR, "type": STR}))})
ERRORS = obj({"errors": array(obj({"detail": STR}))})
COUNTS = {"type": "object", "additionalProperties": INT}


def resource(kind: str, attributes: dict[str, Any], relationships: tuple[str, ...] = ()
             ) -> dict[str, Any]:
    schema = obj({"id": STR, "type": {"const": kind}, "attributes": attributes,
                  "links": ref("Links")}, ("id", "type", "attributes", "links"))
    if relationships:
        schema["properties"]["relationships"] = obj(
            {name: ref("Relationship") for name in relationships})
    return schema


SLAVE_CONNECTION = obj({
    "connection_name": STR, "master_host": STR, "master_port": INT,
    "slave_io_running": {"type": "string", "enum": ["yes", "connecting", "preparing", "no"]},
    "slave_sql_running": BOOL, "seconds_behind_master": nullable(INT), "gtid_io_pos": STR,
    "last_io_error": STR, "last_sql_error": STR, "master_server_id": nullable(INT),
})

SERVER = resource("servers", obj({
    "state": STR,
    "state_details": STR,
    "gtid_current_pos": nullable(STR),
    "gtid_binlog_pos": nullable(STR),
    "replication_lag": nullable(NUM),
    "read_only": nullable(BOOL),
    "server_id": nullable(INT),
    "version_string": nullable(STR),
    "slave_connections": array(ref("SlaveConnection")),
    "master": nullable(STR),
    "is_primary": BOOL,
    "parameters": obj({"address": STR, "port": INT, "protocol": STR, "priority": INT,
                       "weight": NUM, "ssl": BOOL}),
    "statistics": obj({"connections": INT, "active_operations": INT, "routed_queries": INT}),
}, ("state", "state_details", "parameters", "statistics")), ("services", "monitors"))

SERVICE = resource("services", obj({
    "router": STR,
    "state": {"const": "Started"},
    "parameters": OBJ,
    "statistics": obj({"connections": INT, "total_connections": INT, "route_master": INT,
                       "route_slave": INT, "reconnections": INT, "replayed_transactions": INT,
                       "replay_failures": INT}),
    "router_diagnostics": obj({"route_reasons": COUNTS, "route_servers": COUNTS,
                               "closed_by": COUNTS}),
    "users": obj({"loaded": BOOL, "accounts": INT, "source": nullable(STR)}),
}), ("servers", "listeners", "monitors"))

LISTENER = resource("listeners", obj({
    "state": {"type": "string", "enum": ["Running", "Stopped"]},
    "parameters": obj({"service": STR, "port": INT, "address": STR, "protocol": STR,
                       "ssl": BOOL}),
    "statistics": obj({"connections": INT}),
}), ("services",))

SERVER_INFO = obj({
    "name": STR, "state": STR, "gtid_current_pos": nullable(STR),
    "gtid_binlog_pos": nullable(STR), "read_only": nullable(BOOL), "server_id": nullable(INT),
    "failures": INT, "note": STR, "maintenance": BOOL, "draining": BOOL,
    "slave_connections": array(ref("SlaveConnection")),
})

#: a standing cluster operation (``admin/operation_view.py``); null when none
OPERATION = nullable(obj({
    "kind": nullable(STR), "from": nullable(STR), "to": nullable(STR),
    "plan_id": nullable(STR), "instance": nullable(STR), "steps_done": nullable(INT),
    "steps": nullable(INT), "new_primary_touched": nullable(BOOL), "started": nullable(STR),
    "state": {"type": "string", "enum": ["running", "left", "unknown"]},
    "decision": nullable(obj({"verdict": STR, "text": STR, "reason": STR,
                              "todo": nullable(STR), "judged_by": STR, "by_leader": BOOL})),
    "source": {"type": "string", "enum": ["etcd", "local"]}, "error": nullable(STR),
}))

MONITOR = resource("monitors", obj({
    "module": STR,
    "operation": OPERATION,
    "state": {"type": "string", "enum": ["Running", "Stopped"]},
    "ticks": INT,
    "parameters": OBJ,
    "monitor_diagnostics": obj({
        "primary": nullable(STR), "master": nullable(STR), "primary_reason": nullable(STR),
        "verdict": nullable(STR), "verdict_reason": nullable(STR), "operation_running": BOOL,
        "server_info": array(SERVER_INFO), "warnings": array(STR),
    }),
}), ("servers",))

SESSION = resource("sessions", obj({
    "state": {"type": "string", "enum": ["Started", "Authenticating"]},
    "user": STR, "remote": STR,
    "connected": nullable({"type": "string", "format": "date-time"}),
    "idle": nullable(NUM), "service": STR, "listener": STR, "servers": array(STR),
    "backend_thread_id": INT,
}), ("services", "servers"))

MAXSCALE = resource("maxscale", obj({
    "version": STR, "product": STR,
    "started_at": {"type": "string", "format": "date-time"},
    "uptime": INT, "threads": INT, "pid": INT, "python": STR, "event_loop": STR,
    "config": STR,
    "log": obj({"files": array(STR), "format": STR, "levels": {
        "type": "object", "additionalProperties": BOOL},
        "throttling": obj({"count": INT, "window": NUM, "suppress": NUM})}),
    "parameters": OBJ,
}))

USER = resource("inet", obj({"account": {"type": "string", "enum": ["admin", "basic"]}}))

EVENT = obj({
    "id": {"type": "string", "pattern": "^[0-9]+$"},
    "type": {"const": "events"},
    "attributes": obj({
        "time": {"type": "string", "format": "date-time"},
        "monitor": STR, "server": nullable(STR),
        "kind": {"type": "string", "enum": ["state", "decision", "action", "warning"]},
        "old_state": nullable(STR), "new_state": nullable(STR), "reason": STR, "text": STR,
    }),
})


ADVISOR = resource("advisor", obj({
    "service": STR,
    "sessions": obj({"opened": INT, "closed": INT, "open_now": INT, "closed_by": OBJ}),
    "backends": array(obj({"name": STR, "wait_timeout": nullable(INT),
                           "max_connections": nullable(INT)},
                          required=("name", "wait_timeout", "max_connections"))),
    "recommendations": array(OBJ),
    "warnings": array(STR),
}, required=("service", "sessions", "backends", "recommendations", "warnings")))

CLUSTER_INSTANCE = obj({  # an entry of the instance registry (docs/cluster.md)
    "instance": STR, "admin_url": STR, "listeners": array(STR),
    "started_at": {"type": "string", "format": "date-time"},
    "health": obj({"ok": BOOL, "failed": array(STR)}),
    "config_revision": nullable(INT),
    "leads": array(obj({"monitor": STR, "since": nullable(STR)})),
})

CLUSTER = obj({
    "id": STR, "type": {"const": "cluster"}, "links": ref("Links"),
    "attributes": obj({
        "cluster": {"type": "string", "enum": ["none", "etcd"]},
        "instance": STR, "admin_url": STR, "cut_off": BOOL, "detail": STR,
        "config_revision": nullable(INT),
        "monitors": array(obj({
            "monitor": STR, "this_instance_leads": BOOL,
            "leader": {"type": ["object", "null"], "properties": {
                "instance": STR, "admin_url": STR, "since": STR},
                "required": ["instance", "admin_url", "since"]}})),
        "instances": array(ref("ClusterInstance")),
        "instances_source": {"type": "string", "enum": ["local", "etcd", "cached", "none"]},
        "instances_age": nullable(NUM), "instances_error": nullable(STR),
    }),
})


def one(schema: str) -> dict[str, Any]:
    return obj({"links": ref("Links"), "data": ref(schema)})


def many(schema: str) -> dict[str, Any]:
    return obj({"links": ref("Links"), "data": array(ref(schema))})


SCHEMAS: dict[str, dict[str, Any]] = {
    "Links": LINKS, "Relationship": RELATIONSHIP, "Errors": ERRORS,
    "SlaveConnection": SLAVE_CONNECTION, "Server": SERVER, "Service": SERVICE,
    "Listener": LISTENER, "Monitor": MONITOR, "Session": SESSION, "MaxScale": MAXSCALE,
    "User": USER, "Event": EVENT, "Advisor": ADVISOR,
    "ClusterInstance": CLUSTER_INSTANCE, "Cluster": CLUSTER,
    "Root": obj({"links": ref("Links"), "meta": obj({"version": STR})}),
    "Token": obj({"meta": obj({"token": STR, "max_age": NUM,
                               "account": {"type": "string", "enum": ["admin", "basic"]}})}),
}

# -- responses per route ------------------------------------------------------------------------

#: (method, path) -> {status: (description, schema name or None for no body)}
RESPONSES: dict[tuple[str, str], dict[str, tuple[str, str | None]]] = {
    ("GET", "/v1/"): {"200": ("the admin listener answers", "Root")},
    ("GET", "/v1/auth"): {"200": ("a token", "Token"),
                          "204": ("persist=yes: the token is in a cookie", None)},
    ("GET", "/v1/servers"): {"200": ("all servers", "@many:Server")},
    ("GET", "/v1/servers/{name}"): {"200": ("the server", "@one:Server")},
    ("GET", "/v1/services"): {"200": ("all services", "@many:Service")},
    ("GET", "/v1/services/{name}"): {"200": ("the service", "@one:Service")},
    ("GET", "/v1/services/{name}/listeners"): {"200": ("its listeners", "@many:Listener")},
    ("GET", "/v1/listeners"): {"200": ("all listeners", "@many:Listener")},
    ("GET", "/v1/listeners/{name}"): {"200": ("the listener", "@one:Listener")},
    ("GET", "/v1/monitors"): {"200": ("all monitors", "@many:Monitor")},
    ("GET", "/v1/monitors/{name}"): {"200": ("the monitor", "@one:Monitor")},
    ("GET", "/v1/sessions"): {"200": ("all sessions", "@many:Session")},
    ("GET", "/v1/sessions/{id}"): {"200": ("the session", "@one:Session")},
    ("GET", "/v1/maxscale"): {"200": ("the proxy process", "@one:MaxScale")},
    ("GET", "/v1/users"): {"200": ("all users", "@many:User")},
    ("GET", "/v1/users/inet"): {"200": ("all users", "@many:User")},
    ("GET", "/v1/users/inet/{name}"): {"200": ("the user", "@one:User")},
    ("GET", "/v1/events"): {"200": ("monitor events, oldest first", "@many:Event"),
                            "404": ("monitor=NAME: no such monitor", "Errors")},
    ("POST", "/v1/users"): {"204": ("created", None), "409": ("the user exists", "Errors")},
    ("POST", "/v1/users/inet"): {"204": ("created", None),
                                 "409": ("the user exists", "Errors")},
    ("DELETE", "/v1/users/inet/{name}"): {"204": ("removed", None),
                                          "403": ("the last admin user", "Errors")},
    ("DELETE", "/v1/sessions/{id}"): {"204": ("killed", None)},
    ("POST", "/v1/services/{name}/reload"): {
        "204": ("the accounts were loaded", None),
        "502": ("the accounts could not be loaded from the primary", "Errors")},
    ("POST", "/v1/maxscale/logs/rotate"): {"204": ("the log file was reopened", None)},
    ("POST", "/v1/maxscale/logs/flush"): {"204": ("the log file was reopened", None)},
    ("PUT", "/v1/servers/{name}/set"): {"204": ("set", None),
                                        "403": ("not allowed on this server", "Errors")},
    ("PUT", "/v1/servers/{name}/clear"): {"204": ("cleared", None),
                                          "403": ("not allowed on this server", "Errors")},
    ("POST", "/v1/maxscale/modules/mariadbmon/{command}"): {
        "204": ("the operation succeeded", None),
        "409": ("the monitor refused it; nothing was done (the text says why)", "Errors"),
        "501": ("the command is not available in this build", "Errors"),
        "502": ("a step failed on a server (the text names the step and the error)",
                "Errors")},
    ("GET", "/v1/openapi.json"): {"200": ("this document", "@any")},
    ("GET", "/v1/health"): {"200": ("this instance can serve (meta.checks)", "@any"),
                            "503": ("it cannot: one error per failed check", "@any")},
    ("GET", "/v1/cluster"): {"200": ("this instance's view of its cluster", "@one:Cluster")},
    ("GET", "/v1/advisor"): {"200": ("the advisor's report per service", "@many:Advisor")},
    ("GET", "/v1/advisor/{service}"): {"200": ("the advisor's report for one service",
                                               "@one:Advisor")},
}

#: query parameters whose values have a known form
QUERY_SCHEMAS: dict[str, dict[str, Any]] = {
    "since": {"type": "integer", "minimum": 0},
    "max-age": {"type": "number", "exclusiveMinimum": 0},
    "state": {"type": "string", "enum": ["maintenance", "drain"]},
    "force": {"type": "string", "enum": ["yes", "no", "true", "false", "1", "0"]},
    "persist": {"type": "string", "enum": ["yes", "no", "true", "false", "1", "0"]},
    "histograms": {"type": "string", "enum": ["yes", "no", "true", "false", "1", "0"]},
}

#: query parameters a route cannot do without (the handler answers 400 without them)
REQUIRED_QUERY = frozenset({"state"})

COMMAND_HELP = (
    "Arguments go in the query string by position, as maxctrl sends them: the monitor first. "
    "`switchover?MON[&new[&old]]` (or new_primary=, old_primary=, timeout=SECONDS), "
    "`failover?MON[&new]`, `rejoin?MON&SERVER[&force=yes]`, `reset-replication?MON[&primary]`."
    " The request waits for the operation to end.")

_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


def _content(schema: str | None) -> dict[str, Any] | None:
    if schema is None:
        return None
    if schema == "@any":
        return {"application/json": {"schema": OBJ}}
    if schema.startswith("@many:"):
        return {"application/json": {"schema": many(schema[6:])}}
    if schema.startswith("@one:"):
        return {"application/json": {"schema": one(schema[5:])}}
    return {"application/json": {"schema": ref(schema)}}


def _response(description: str, schema: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {"description": description}
    content = _content(schema)
    if content is not None:
        found["content"] = content
    return found


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _path_parameter(route: Route, name: str, examples: dict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "in": "path", "required": True, "schema": STR}
    prefix = route.path[:route.path.index("{" + name)]
    if prefix in examples:
        found["example"] = examples[prefix]
    return found


def live_examples(ctx: AdminContext) -> dict[str, str]:
    """An existing object per collection (path prefix -> name), as the parameters' examples:
    a client (and the fuzzer) sees what a valid name looks like on this proxy."""
    proxy = ctx.proxy
    found: dict[str, str] = {}
    names: dict[str, list[str]] = {
        "/v1/servers/": list(proxy.config.servers),
        "/v1/services/": list(proxy.config.services),
        "/v1/listeners/": list(proxy.config.listeners),
        "/v1/monitors/": list(proxy.monitors),
        "/v1/users/inet/": list(ctx.users.names()),
        "/v1/sessions/": [str(c.session_id) for c in proxy.registry.values()],
    }
    for prefix, objects in names.items():
        first = next(iter(objects), None)
        if first is not None:
            found[prefix] = first
    return found


def operation(route: Route, examples: dict[str, str] | None = None) -> dict[str, Any]:
    path_params = _PARAM.findall(route.path)
    op: dict[str, Any] = {
        "summary": route.summary,
        "operationId": f"{route.method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', route.path)}",
        "parameters": [_path_parameter(route, name, examples or {})
                       for name in path_params] + [
            {"name": name, "in": "query", "required": name in REQUIRED_QUERY,
             "schema": QUERY_SCHEMAS.get(name, STR)} for name in route.query],
    }
    if route.body is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": route.body}}}
    known = RESPONSES.get((route.method, route.path))
    if known is not None:
        responses = {status: _response(*answer) for status, answer in known.items()}
    else:  # a route whose module documents no schema: the status classes only
        responses = {"2XX": {"description": route.summary}}
    if route.query or route.body is not None or "{command}" in route.path:
        responses.setdefault("400", _response("bad parameters or body", "Errors"))
    if path_params:
        responses.setdefault("404", _response("no such object", "Errors"))
    if _public(route.path):
        op["security"] = []
    else:
        responses.setdefault("401", _response("no or bad credentials", "Errors"))
        if route.method not in ("GET", "HEAD"):
            responses.setdefault("403", _response("a read-only (basic) account", "Errors"))
    op["responses"] = responses
    if "{command}" in route.path:
        op["description"] = COMMAND_HELP
        op["parameters"][0]["schema"] = {
            "type": "string", "enum": ["switchover", "failover", "rejoin", "reset-replication"]}
    return op


def build_document(routes: tuple[Route, ...], examples: dict[str, str] | None = None
                   ) -> JsonObject:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        path = _PARAM.sub(r"{\1}", route.path)
        paths.setdefault(path, {})[route.method.lower()] = operation(route, examples)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Interlock REST API", "version": __version__,
                 "description": "MaxScale-compatible admin API of Interlock (JSON:API "
                                "documents). Requests other than GET need an admin account."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic"},
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
        "security": [{"basicAuth": []}, {"bearerAuth": []}],
    }


async def openapi_document(ctx: AdminContext, request: web.Request) -> JsonObject:
    return build_document(all_routes(), live_examples(ctx))


ROUTES = (
    Route("GET", "/v1/openapi.json", openapi_document, "this API as an OpenAPI 3.1 document"),
)
