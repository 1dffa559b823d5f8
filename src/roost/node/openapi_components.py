"""The `components` of the OpenAPI document (roost.node.openapi): the error responses, one per
status with the codes errors.py sends under it, the parameters, and the bodies' schemas.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from roost.node.core import MAX_DELAY_MS

Schema = dict[str, Any]

# The wire codes each error status carries (errors.py, plus the router's own 404 and 405).
ERROR_CODES: Mapping[int, tuple[str, ...]] = MappingProxyType(
    {
        400: ("bad_request",),
        401: ("unauthorized",),
        403: ("forbidden",),
        404: ("not_found", "system_not_found", "actor_not_found", "action_not_found"),
        405: ("method_not_allowed",),
        409: ("state_conflict",),
        413: ("payload_too_large",),
        415: ("unsupported_media_type",),
        429: ("overloaded",),
        500: ("action_failed", "internal", "state_unreadable"),
        503: ("unavailable", "not_placed"),  # not_placed: node-to-node, should not leak
        504: ("timeout",),
    }
)
_ERROR_TEXT = {
    400: "malformed input: JSON, names, headers, query parameters, or the action said so",
    401: "no or an unknown bearer token (only when the node is started with ROOST_API_TOKENS)",
    403: "an ACL policy (--policies) does not allow this caller this call",
    404: "no such system, actor (type or instance), action, or route",
    405: "the route exists for another method (`Allow` lists them)",
    409: "a fenced state write lost its race; safe to retry",
    413: "the body is over --max-body (1 MiB by default)",
    415: "the Content-Type is neither JSON nor protobuf",
    429: "the actor's mailbox (or the node) is full; retry after `Retry-After` seconds",
    500: "`action_failed`: the actor raised and its state was rolled back; `internal`: a bug or "
    "unreadable stored state. Never caused by bad input",
    503: "starting, draining, or the owner or store is unreachable; retry after `Retry-After`",
    504: "no reply before the deadline (X-Roost-Timeout-Ms or --request-timeout)",
}
_RETRY = (429, 503)
PROTOBUF = ("application/protobuf", "application/x-protobuf")


def any_json() -> Schema:
    return {"description": "any JSON value"}


def name_schema(example: str) -> Schema:
    """A system, actor, action or template name: what `roost.sdk.actor.valid_name` accepts
    (1-255 characters, no '/', no control characters, no surrounding whitespace)."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": r"^[^\s/\x00-\x1f\x7f]([^/\x00-\x1f\x7f]*[^\s/\x00-\x1f\x7f])?$",
        "example": example,
    }


def components() -> dict[str, Any]:
    """The document's `components`: error responses, parameters, schemas, security."""
    return {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "Only when the node is started with ROOST_API_TOKENS; "
                "without it no credentials are needed.",
            }
        },
        "headers": {
            "X-Request-Id": {
                "description": "the caller's request id when it is a sane token, else a "
                "new one; it stamps the node's log lines for this call",
                "schema": {"type": "string"},
            },
            "X-Roost-Ring-Version": {
                "description": "the version of the ring the node routed this call with (as in "
                "GET /v1/cluster/ring): an owner-aware client holding another version fetches "
                "the ring again",
                "schema": {"type": "string"},
            },
            "Retry-After": {
                "description": "seconds to wait before retrying",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            },
        },
        "parameters": _parameters(),
        "schemas": _schemas(),
        "responses": {f"E{status}": _error_response(status) for status in sorted(ERROR_CODES)},
    }


def _error_response(status: int) -> Schema:
    codes = ERROR_CODES[status]
    headers: Schema = {
        "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"},
        "X-Roost-Ring-Version": {"$ref": "#/components/headers/X-Roost-Ring-Version"},
    }
    if status in _RETRY:
        headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
    if status == 401:
        headers["WWW-Authenticate"] = {
            "description": "the bearer challenge",
            "required": True,
            "schema": {"type": "string"},
        }
    return {
        "description": f"{' / '.join(f'`{c}`' for c in codes)}: {_ERROR_TEXT[status]}",
        "headers": headers,
        "content": {
            "application/json": {
                "schema": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Error"},
                        {
                            "type": "object",
                            "properties": {
                                "error": {
                                    "type": "object",
                                    "properties": {"code": {"type": "string", "enum": list(codes)}},
                                }
                            },
                        },
                    ]
                }
            }
        },
    }


def _parameters() -> dict[str, Schema]:
    def path(name: str, what: str, example: str) -> Schema:
        return {
            "name": name,
            "in": "path",
            "required": True,
            "description": what,
            "schema": name_schema(example),
        }

    def query(name: str, what: str, schema: Schema) -> Schema:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": what,
            "schema": schema,
        }

    def header(name: str, what: str, schema: Schema) -> Schema:
        return {
            "name": name,
            "in": "header",
            "required": False,
            "description": what,
            "schema": schema,
        }

    return {
        "system": path("system", "the actor system", "spawn-system"),
        "actor": path("actor", "the actor's name (a named type, or an unnamed instance)", "c-1"),
        "action": path("action", "the action to invoke", "add"),
        "parent": query(
            "parent",
            "the unnamed template to create the instance from, if it does not exist yet",
            name_schema("counter"),
        ),
        "async": query(
            "async",
            "answer 202 at once and run the call in the background",
            {"type": "boolean", "default": False},
        ),
        "delay_ms": query(
            "delay_ms",
            "persist the call and run it this many milliseconds from now (202)",
            {"type": "integer", "minimum": 0, "maximum": MAX_DELAY_MS},
        ),
        "scheduled_to": query(
            "scheduled_to",
            "persist the call and run it at this unix time in milliseconds (202)",
            {"type": "integer", "minimum": 0},
        ),
        "X-Roost-Metadata": header(
            "X-Roost-Metadata",
            "a JSON object of strings, given to the action as `ctx.metadata`",
            {"type": "string", "example": '{"user": "alice"}'},
        ),
        "X-Roost-Timeout-Ms": header(
            "X-Roost-Timeout-Ms",
            "the deadline of this call in milliseconds (default --request-timeout)",
            {"type": "integer", "minimum": 1, "maximum": 600_000},
        ),
        "X-Roost-Type": header(
            "X-Roost-Type",
            "the full name of the protobuf message in an `application/protobuf` body",
            {"type": "string", "example": "roost.examples.Add"},
        ),
        "X-Request-Id": header(
            "X-Request-Id",
            "a request id to follow the call through the logs (`[A-Za-z0-9._:@/+=-]{1,128}`; "
            "anything else is replaced by a new id); echoed in the response",
            {"type": "string"},
        ),
        "traceparent": header(
            "traceparent",
            "W3C trace context: with tracing on (docs/observability.md) the call continues this "
            "trace, and the response's `traceparent` header names the trace and this request's "
            "span; ignored when malformed or when tracing is off",
            {"type": "string", "example": f"00-{'4bf92f3577b34da6' * 2}-00f067aa0ba902b7-01"},
        ),
        "tracestate": header(
            "tracestate",
            "W3C trace context: vendor entries carried with `traceparent`",
            {"type": "string"},
        ),
    }


def _schemas() -> dict[str, Schema]:
    string_list: Schema = {"type": "array", "items": {"type": "string"}}
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "description": "stable machine code"},
                        "message": {"type": "string", "description": "what went wrong"},
                    },
                }
            },
        },
        "Accepted": obj({"accepted": {"type": "boolean", "enum": [True]}}),
        "Scheduled": obj({"scheduled": {"type": "string", "description": "the call's id"}}),
        "Spawned": obj(
            {
                "actor": {"type": "string"},
                "parent": {"type": "string"},
                "system": {"type": "string"},
            }
        ),
        "Member": obj(
            {
                "id": {"type": "string"},
                "http": {"type": "string", "description": "host:port of its HTTP API"},
                "gossip": {"type": "string", "description": "host:port of its Serf agent"},
                "status": {
                    "type": "string",
                    "enum": ["joining", "active", "draining", "failed", "left"],
                },
                "protocol": {"type": "integer"},
                "tags": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            required=["id", "http", "gossip", "status", "tags"],
        ),
        "Members": obj(
            {
                "members": {"type": "array", "items": {"$ref": "#/components/schemas/Member"}},
                "version": {"type": "integer", "description": "grows with every change"},
            }
        ),
        "Ring": obj(
            {
                "version": {
                    "type": "string",
                    "description": "digest of the members, their systems and vnodes: equal on "
                    "every node whose view agrees; replies carry it in X-Roost-Ring-Version",
                },
                "vnodes": {"type": "integer", "description": "points per member"},
                "hash": {"type": "string", "enum": ["sha256-48"]},
                "key": {"type": "string", "description": "the key hashed: {system}/{actor}"},
                "members": {
                    "type": "array",
                    "items": obj(
                        {
                            "id": {"type": "string"},
                            "http": {"type": "string", "description": "host:port of its API"},
                            "systems": {
                                **string_list,
                                "nullable": True,
                                "description": "systems it hosts (null: every system)",
                            },
                        }
                    ),
                    "description": "the active members: a system's ring is those that host it",
                },
            }
        ),
        "Owner": obj(
            {
                "owner": {"type": "string", "description": "the owning node's id"},
                "http": {"type": "string", "nullable": True, "description": "its HTTP API"},
            }
        ),
        "ActorType": obj(
            {
                "name": {"type": "string"},
                "kind": {"type": "string", "enum": ["named", "unnamed", "pooled"]},
                "state_type": {"type": "string"},
                "durability": {"type": "string", "enum": ["snapshot", "sync"]},
                "deactivate_timeout_ms": {"type": "integer"},
                "snapshot_timeout_ms": {"type": "integer"},
                "actions": string_list,
                "state_schema": {
                    "type": "object",
                    "description": "a typed state's JSON schema (a $ref into `schemas`)",
                },
                "action_schemas": {
                    "type": "object",
                    "description": "typed actions: their request and response schemas",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {
                            "request": {"type": "object", "nullable": True},
                            "response": {"type": "object", "nullable": True},
                        },
                    },
                },
                "schemas": {
                    "type": "object",
                    "description": (
                        "the classes the $refs above name, by the names the OpenAPI "
                        "document's components give them"
                    ),
                    "additionalProperties": {"type": "object"},
                },
            },
            required=["name", "kind", "actions"],
        ),
        "System": obj(
            {
                "name": {"type": "string"},
                "members": {**string_list, "description": "live members hosting it"},
                "hosted_here": {"type": "boolean"},
                "actor_types": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/ActorType"},
                },
                "active_here": {
                    "type": "object",
                    "description": "activations on the answering node, per actor type",
                    "additionalProperties": {"type": "integer"},
                },
            }
        ),
        "Systems": obj(
            {
                "systems": {"type": "array", "items": {"$ref": "#/components/schemas/System"}},
                "remote": {
                    "type": "array",
                    "items": obj({"name": {"type": "string"}, "url": {"type": "string"}}),
                },
            }
        ),
        "Health": obj({"status": {"type": "string", "enum": ["ok"]}, "node": {"type": "string"}}),
        "Ready": obj({"status": {"type": "string", "enum": ["ready"]}, "node": {"type": "string"}}),
        "ClusterStatus": obj(
            {
                "node": {"type": "string", "description": "the answering node"},
                "at": {"type": "number", "description": "unix time of the gather"},
                "version": {"type": "integer", "description": "the member view's version"},
                "members": {"type": "array", "items": {"$ref": "#/components/schemas/Member"}},
                "ring": obj(
                    {
                        "version": {"type": "integer"},
                        "vnodes": {"type": "integer"},
                        "members": string_list,
                        "shares": {
                            "type": "object",
                            "additionalProperties": {"type": "number"},
                        },
                        "arcs": {
                            "type": "array",
                            "description": "[start, end, owner] in fractions of the ring",
                            "items": {"type": "array", "minItems": 3, "maxItems": 3},
                        },
                    }
                ),
                "nodes": {
                    "type": "object",
                    "description": "each live node's own figures, or `{id, error}` when it "
                    "did not answer",
                    "additionalProperties": {"$ref": "#/components/schemas/NodeStatus"},
                },
            }
        ),
        "NodeStatus": {
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "string"},
                "error": {"type": "string"},
                "ready": {"type": "boolean"},
                "draining": {"type": "boolean"},
                "inflight": {"type": "integer"},
                "active": {"type": "integer"},
                "actors": {"type": "array", "items": {"type": "object"}},
                "invocations": {"type": "object"},
                "handoffs": {"type": "object"},
            },
        },
    }


def obj(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    return {
        "type": "object",
        "required": list(properties) if required is None else required,
        "properties": properties,
    }
