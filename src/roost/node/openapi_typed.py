"""The typed actions of the hosted systems in the OpenAPI document: one operation per action whose
payload or reply is a dataclass or pydantic model, with its request and response schemas.

A named (or pooled) type's action gets its concrete path (``/v1/systems/s/actors/counter/actions/
add``); an unnamed template's keeps ``{actor}`` and fixes nothing else. They are the generic invoke
route, documented per action, so they carry ``x-roost-typed: true`` (the route check skips them).
Schemas are written in OpenAPI 3.0's dialect: pydantic's JSON Schema is translated. A class's
component is named by `schema_names`, as `/v1/systems` names it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from roost.runtime.types import SystemTypes
from roost.sdk.actor import ActionSpec, ActorType
from roost.sdk.shape_schema import component_names, named

Schema = dict[str, Any]
TYPED = "x-roost-typed"


def typed_paths(
    systems: Mapping[str, SystemTypes], op: Callable[..., Schema], base_op: Schema
) -> tuple[dict[str, Schema], dict[str, Schema]]:
    """(paths, component schemas) of every typed action. `base_op` is the generic invoke
    operation, whose parameters and error responses each typed one keeps."""
    paths: dict[str, Schema] = {}
    defs: dict[str, Schema] = {}
    for sname, t in _types(systems):
        for aname in sorted(t.actions):
            spec = t.actions[aname]
            schemas = spec.schemas(defs)
            if schemas is None:
                continue
            path, operation = _operation(sname, t, spec, schemas, base_op)
            paths[path] = {"post": operation}
    names = schema_names(systems)
    return named(paths, names), {names[k]: to_openapi30(named(s, names)) for k, s in defs.items()}


def schema_names(systems: Mapping[str, SystemTypes]) -> dict[str, str]:
    """The component name of each class the hosted types' actions and states are made of, by
    class key: its own name, qualified by its module when another class has that name or when
    it is one of the document's own schemas (`shape_schema.component_names`). The document and
    `/v1/systems` both name classes by this, over the same types."""
    from roost.node.openapi_components import components

    defs: dict[str, Schema] = {}
    for _, t in _types(systems):
        t.schemas(defs)
    return component_names(defs, reserved=components()["schemas"].keys())


def _types(systems: Mapping[str, SystemTypes]) -> list[tuple[str, ActorType]]:
    return [
        (sname, t)
        for sname in sorted(systems)
        for t in sorted(systems[sname].all_types(), key=lambda t: t.name)
    ]


def _operation(
    system: str, t: ActorType, spec: ActionSpec, schemas: Schema, base_op: Schema
) -> tuple[str, Schema]:
    unnamed = t.kind == "unnamed"
    actor = "{actor}" if unnamed else t.name
    path = f"/v1/systems/{system}/actors/{actor}/actions/{spec.name}"
    drop = {"system", "action"} if unnamed else {"system", "actor", "action"}
    params = [p for p in base_op["parameters"] if p["$ref"].rsplit("/", 1)[1] not in drop]
    responses = dict(base_op["responses"])
    reply = schemas["response"] or {}
    responses["200"] = {
        **responses["200"],
        "content": {"application/json": {"schema": to_openapi30(reply)}},
    }
    op: Schema = {
        "operationId": re.sub(r"\W", "_", f"invoke_{system}_{t.name}_{spec.name}"),
        "tags": ["typed actions"],
        "summary": f"{t.name}.{spec.name}" + (" (an instance of the template)" if unnamed else ""),
        "parameters": params,
        "responses": responses,
        TYPED: True,
    }
    if schemas["request"] is not None:
        op["requestBody"] = {
            "required": not _nullable(spec),
            "content": {"application/json": {"schema": to_openapi30(schemas["request"])}},
        }
    return path, op


def _nullable(spec: ActionSpec) -> bool:
    try:
        spec.check(None) if spec.check is not None else None
    except Exception:
        return False
    return True


def to_openapi30(schema: Any) -> Any:
    """JSON Schema (2020-12, as pydantic writes it) in OpenAPI 3.0's dialect: ``{"type":
    "null"}`` alternatives become ``nullable``, `const` an enum, numeric `exclusiveMinimum`
    a boolean beside `minimum`, tuples' `prefixItems` plain `items`."""
    if isinstance(schema, list):
        return [to_openapi30(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: Schema = {}
    for k, v in schema.items():
        if k in ("anyOf", "oneOf") and isinstance(v, list):
            alts = [a for a in v if a != {"type": "null"}]
            if len(alts) < len(v):
                out["nullable"] = True
            if len(alts) == 1:
                inner = to_openapi30(alts[0])
                out.update({"allOf": [inner]} if "$ref" in inner else inner)
                continue
            out[k] = to_openapi30(alts)
        elif k == "properties" and isinstance(v, dict):  # field names, not keywords
            out[k] = {name: to_openapi30(sub) for name, sub in v.items()}
        elif k == "const":
            out["enum"] = [v]
        elif k in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(v, bool):
            out["minimum" if k == "exclusiveMinimum" else "maximum"] = v
            out[k] = True
        elif k == "prefixItems":
            out["items"] = {}
        elif k in ("examples", "$schema", "$defs"):
            continue
        else:
            out[k] = to_openapi30(v)
    if out.get("type") == "null":
        return {"nullable": True}
    return out
