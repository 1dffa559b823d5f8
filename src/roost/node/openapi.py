"""The OpenAPI 3.0 document of the node's public JSON API, served at `GET /openapi.json`.

Built as a dict on demand (the version is the package's; nothing to ship beside the code). It
describes every route of `HttpApi.routes()` except the signed `/internal/...` ones. Kept true by
tests: tests/node/test_openapi.py checks it against the router and the error tree and validates
it; tests/node/test_openapi_fuzz.py runs schemathesis against a live node with it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

import roost
from roost.node.openapi_components import (
    ERROR_CODES,
    PROTOBUF,
    Schema,
    any_json,
    components,
    name_schema,
    obj,
)
from roost.node.request import Request
from roost.node.responses import Reply

if TYPE_CHECKING:
    from roost.runtime.types import SystemTypes

OPENAPI_PATH = "/openapi.json"
__all__ = ["ERROR_CODES", "OPENAPI_PATH", "document", "handler"]


def document(systems: Mapping[str, SystemTypes] | None = None) -> dict[str, Any]:
    """The whole OpenAPI document (a new dict each call); with `systems`, also an operation for
    each of their typed actions, with its request and response schemas."""
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "Roost node API",
            "version": roost.__version__,
            "description": (
                "The public JSON API of a Roost node (any node of a cluster answers for the "
                'whole cluster). Errors are `{"error": {"code", "message"}}`; bad input '
                "always gets a 4xx, never a 5xx. Node-to-node calls travel over the peer link "
                "(`--link`); the routes under `/internal/` that remain for tools and older "
                "peers are signed with the cluster secret and are not part of this API. HTTP/1.1 "
                "with keep-alive and pipelining; `Expect: 100-continue` is answered once the call "
                "passed its checks, and a call refused with 429 is refused from its request "
                "line and headers, before its body is read."
            ),
            "license": {"name": "Apache-2.0"},
        },
        "tags": [
            {"name": "actors", "description": "invoke, spawn and read actors"},
            {"name": "cluster", "description": "members, ownership, systems, status"},
            {"name": "operations", "description": "probes, metrics, the cluster page, this"},
        ],
        "security": [{}, {"bearerAuth": []}],
        "paths": _paths(),
        "components": components(),
    }
    if systems:
        from roost.node.openapi_typed import typed_paths

        generic = doc["paths"]["/v1/systems/{system}/actors/{actor}/actions/{action}"]["post"]
        paths, schemas = typed_paths(systems, _op, generic)
        if paths:
            doc["tags"].append({"name": "typed actions", "description": "typed actions' schemas"})
            doc["paths"].update(paths)
            doc["components"]["schemas"].update(schemas)
    return doc


def handler(
    systems: Callable[[], Mapping[str, SystemTypes]] | None = None,
) -> Callable[[Request], Awaitable[Reply]]:
    """The `GET /openapi.json` handler. The document is serialised once, and again only when
    the hosted systems change (actor hosts registering), which `systems` returns."""
    cache: dict[str, Any] = {}

    async def openapi(request: Request) -> Reply:
        current = dict(systems()) if systems is not None else {}
        key = sorted((name, id(types)) for name, types in current.items())
        if cache.get("key") != key:
            # (`held` keeps the types alive, so that their ids cannot be reused meanwhile)
            cache["key"], cache["held"] = key, current
            cache["body"] = orjson.dumps(document(current))
        return Reply(200, cache["body"])

    return openapi


# --- building blocks ----------------------------------------------------------------------------


def _ok(description: str, schema: Schema | str, media: str = "application/json") -> Schema:
    body = {"$ref": f"#/components/schemas/{schema}"} if isinstance(schema, str) else schema
    return {
        "description": description,
        "headers": {
            "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"},
            "X-Roost-Ring-Version": {"$ref": "#/components/headers/X-Roost-Ring-Version"},
        },
        "content": {media: {"schema": body}},
    }


def _errors(*statuses: int) -> dict[str, Schema]:
    return {str(s): {"$ref": f"#/components/responses/E{s}"} for s in statuses}


def _p(name: str) -> Schema:
    return {"$ref": f"#/components/parameters/{name}"}


def _op(
    op_id: str,
    tag: str,
    summary: str,
    responses: dict[str, Schema],
    *,
    parameters: list[Schema] | None = None,
    body: Schema | None = None,
    public: bool = False,
) -> Schema:
    op: Schema = {"operationId": op_id, "tags": [tag], "summary": summary}
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = body
    if public:
        op["security"] = []  # probes and this document never need a token
    else:
        responses = {**responses, **_errors(401, 403)}
    op["responses"] = dict(sorted(responses.items()))
    return op


def _paths() -> dict[str, Schema]:
    return {**_actor_paths(), **_cluster_paths(), **_operations_paths()}


def _actor_paths() -> dict[str, Schema]:
    base = "/v1/systems/{system}/actors/{actor}"
    named = [_p("system"), _p("actor")]
    actor_errors = _errors(400, 404, 409, 429, 500, 503, 504)
    binary: Schema = {"schema": {"type": "string", "format": "binary"}}
    reply = _ok("the action's reply (`null` for none)", any_json())
    reply["content"].update(dict.fromkeys(PROTOBUF, binary))
    return {
        base + "/actions/{action}": {
            "post": _op(
                "invoke",
                "actors",
                "Invoke an action of an actor",
                {
                    "200": reply,
                    "202": _ok(
                        "`?async=true`: accepted; `?delay_ms` / `?scheduled_to`: scheduled",
                        {
                            "oneOf": [
                                {"$ref": "#/components/schemas/Accepted"},
                                {"$ref": "#/components/schemas/Scheduled"},
                            ]
                        },
                    ),
                    **actor_errors,
                    **_errors(413, 415),
                },
                parameters=[
                    *named,
                    _p("action"),
                    _p("async"),
                    _p("parent"),
                    _p("delay_ms"),
                    _p("scheduled_to"),
                    _p("X-Roost-Metadata"),
                    _p("X-Roost-Timeout-Ms"),
                    _p("X-Roost-Type"),
                    _p("X-Request-Id"),
                    _p("traceparent"),
                    _p("tracestate"),
                ],
                body={
                    "required": False,
                    "description": "the payload: any JSON (an empty body is no payload), or a "
                    "protobuf message named by X-Roost-Type",
                    "content": {
                        "application/json": {"schema": any_json(), "example": {"value": 1}},
                        **dict.fromkeys(PROTOBUF, binary),
                    },
                },
            )
        },
        base + "/spawn": {
            "post": _op(
                "spawn",
                "actors",
                "Register an unnamed instance of a template",
                {"200": _ok("registered", "Spawned"), **actor_errors, **_errors(413, 415)},
                parameters=[*named, _p("X-Request-Id")],
                body={
                    "required": True,
                    "content": {
                        "application/json": {"schema": obj({"parent": name_schema("counter")})}
                    },
                },
            )
        },
        base + "/state": {
            "get": _op(
                "get_state",
                "actors",
                "The actor's state (the built-in `get_state`)",
                {"200": _ok("the state (`null` before the first)", any_json()), **actor_errors},
                parameters=[*named, _p("parent"), _p("X-Request-Id")],
            )
        },
    }


def _cluster_paths() -> dict[str, Schema]:
    return {
        "/v1/systems": {
            "get": _op(
                "systems",
                "cluster",
                "The systems: who hosts each, their actor types, actors active here, remotes",
                {"200": _ok("the systems", "Systems")},
            )
        },
        "/v1/cluster/members": {
            "get": _op(
                "members",
                "cluster",
                "The cluster's members as this node sees them",
                {"200": _ok("the member view", "Members")},
            )
        },
        "/v1/cluster/owner": {
            "get": _op(
                "owner",
                "cluster",
                "Which node owns an actor now",
                {"200": _ok("the owner", "Owner"), **_errors(400, 404, 503)},
                parameters=[
                    {
                        "name": "system",
                        "in": "query",
                        "required": False,
                        "description": "the system (default: the node's first)",
                        "schema": name_schema("spawn-system"),
                    },
                    {
                        "name": "actor",
                        "in": "query",
                        "required": True,
                        "schema": name_schema("c-1"),
                    },
                ],
            )
        },
        "/v1/cluster/ring": {
            "get": _op(
                "ring",
                "cluster",
                "The hash ring, for clients that send each call to its owner (see "
                "docs/placement.md): members, their addresses and systems, vnodes, hash, version",
                {"200": _ok("the ring this node routes with", "Ring")},
            )
        },
        "/v1/cluster/status": {
            "get": _op(
                "cluster_status",
                "cluster",
                "Members, ring and every live node's figures (what /ui draws; cached 1 s)",
                {"200": _ok("the cluster's status", "ClusterStatus")},
            )
        },
    }


def _operations_paths() -> dict[str, Schema]:
    ui = {
        "description": "the cluster page",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
    return {
        "/healthz": {
            "get": _op(
                "healthz",
                "operations",
                "Liveness: 200 while the process serves (also on the `--probe-http` port)",
                {"200": _ok("alive", "Health")},
                public=True,
            )
        },
        "/readyz": {
            "get": _op(
                "readyz",
                "operations",
                "Readiness: 200 once joined and the statestore answers (also on the "
                "`--probe-http` port)",
                {"200": _ok("ready", "Ready"), **_errors(503)},
                public=True,
            )
        },
        "/metrics": {
            "get": _op(
                "metrics",
                "operations",
                "Prometheus metrics",
                {"200": _ok("Prometheus text format", {"type": "string"}, "text/plain")},
            )
        },
        "/ui": {"get": _op("ui", "operations", "The cluster page", {"200": ui})},
        "/ui/": {
            "get": _op(
                "ui_slash",
                "operations",
                "Redirects to /ui (the page's links are relative to it)",
                {
                    "301": {
                        "description": "to ../ui",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                    },
                    "200": ui,  # where a client follows the redirect
                },
            )
        },
        "/ui/{name}": {
            "get": _op(
                "ui_asset",
                "operations",
                "An asset of the cluster page",
                {
                    "200": {
                        "description": "the asset",
                        "content": {
                            t: {"schema": {"type": "string"}}
                            for t in ("text/html", "text/javascript", "text/css")
                        },
                    },
                    **_errors(404),
                },
                parameters=[
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": ["index.html", "app.js", "app.css"]},
                    }
                ],
            )
        },
        OPENAPI_PATH: {
            "get": _op(
                "openapi",
                "operations",
                "This document",
                {"200": _ok("the OpenAPI document", {"type": "object"})},
                public=True,
            )
        },
    }
