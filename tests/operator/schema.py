"""A CRD's OpenAPI v3 schema as the API server applies it, turned into a JSON Schema.

Structural schemas prune unknown fields and `kubectl apply` (strict field validation, the
default since Kubernetes 1.27) refuses them, so every object with `properties` and no
`x-kubernetes-preserve-unknown-fields` refuses extra keys here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema

Schema = dict[str, Any]


def to_json_schema(node: Mapping[str, Any]) -> Schema:
    out: Schema = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            out[key] = to_json_schema(value)
        elif key == "x-kubernetes-int-or-string":
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        elif key == "nullable" or key.startswith("x-kubernetes"):
            continue
        else:
            out[key] = value
    if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def structural_problems(node: Mapping[str, Any], path: str = "") -> list[str]:
    """Where a schema breaks the structural rules (the API server refuses such a CRD)."""
    problems = []
    if "x-kubernetes-int-or-string" in node:
        if "type" in node:
            problems.append(f"{path}: int-or-string must not have a type")
    elif "type" not in node and path and not node.get("x-kubernetes-preserve-unknown-fields"):
        problems.append(f"{path}: no type")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: properties and additionalProperties together")
    if node.get("type") == "array" and "items" not in node:
        problems.append(f"{path}: array without items")
    for name, sub in (node.get("properties") or {}).items():
        problems += structural_problems(sub, f"{path}/{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), Mapping):
            problems += structural_problems(node[key], f"{path}/{key}")
    return problems


def validator(crd: Mapping[str, Any]) -> jsonschema.Draft7Validator:
    version = crd["spec"]["versions"][0]
    return jsonschema.Draft7Validator(to_json_schema(version["schema"]["openAPIV3Schema"]))


def errors(crd: Mapping[str, Any], resource: Mapping[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(crd).iter_errors(resource)
    ]
