"""JSON:API documents in MaxScale's REST API shape (pure).

A resource is ``{"id", "type", "attributes", "relationships", "links"}``; a document wraps one
resource or a list of them in ``data`` with ``links.self``; a failure is
``{"errors": [{"detail": ...}]}`` as MaxScale returns it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

JsonObject = dict[str, Any]

#: the base of every link Interlock writes (MaxScale: ``http://host:port/v1/``); relative links
#: are valid JSON:API and stay true behind a reverse proxy or on another port
BASE = "/v1/"


def relationship(kind: str, names: Iterable[str], owner: str, owner_id: str) -> JsonObject:
    """``{"links": {...}, "data": [{"id", "type"}, ...]}`` for a to-many relationship."""
    return {
        "links": {"self": f"{BASE}{owner}/{owner_id}/relationships/{kind}/",
                  "related": f"{BASE}{kind}/"},
        "data": [{"id": name, "type": kind} for name in names],
    }


def resource(kind: str, ident: str, attributes: Mapping[str, Any],
             relationships: Mapping[str, JsonObject] | None = None) -> JsonObject:
    found: JsonObject = {
        "id": ident,
        "type": kind,
        "attributes": dict(attributes),
        "links": {"self": f"{BASE}{kind}/{ident}/"},
    }
    if relationships:
        found["relationships"] = dict(relationships)
    return found


def document(data: JsonObject | list[JsonObject], self_link: str) -> JsonObject:
    return {"links": {"self": self_link}, "data": data}


def errors(*details: str) -> JsonObject:
    return {"errors": [{"detail": detail} for detail in details]}
