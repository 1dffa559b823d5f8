"""JSON schemas (OpenAPI 3.0 flavour) of the types a dataclass shape is made of: for the OpenAPI
document and `/v1/systems`. Classes become `$ref`s into `defs` (``#/components/schemas/<Name>``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from roost.sdk.shapes import Shape, hints_of, is_pydantic_model, is_typed_class, required


def schema_of(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return schema_of(args[0], defs)
    if origin in (typing.Union, types.UnionType):
        alts = [a for a in args if a is not type(None)]
        if len(alts) == 1:
            one = schema_of(alts[0], defs)
        else:
            one = {"anyOf": [schema_of(a, defs) for a in alts]}
        if len(alts) < len(args):
            one = {"allOf": [one], "nullable": True} if "$ref" in one else {**one, "nullable": True}
        return one
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (list, Sequence, set, frozenset, tuple) or tp in (list, set, frozenset, tuple):
        item = args[0] if args and (origin is not tuple or args[-1] is Ellipsis) else Any
        return {"type": "array", "items": schema_of(item, defs)}
    if origin in (dict, Mapping) or tp is dict:
        value = schema_of(args[1] if args else Any, defs)
        return {"type": "object", "additionalProperties": value}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if tp in simple:
        return {"type": simple[tp]}
    formats = {dt.datetime: "date-time", dt.date: "date", uuid.UUID: "uuid", Decimal: "decimal"}
    if tp in formats:
        return {"type": "string", "format": formats[tp]}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    if isinstance(tp, type) and is_typed_class(tp):
        name = tp.__name__
        if name not in defs:
            if is_pydantic_model(tp):
                return Shape(tp).schema(defs)
            defs[name] = {}  # placeholder: a recursive class refers to itself
            hints = hints_of(tp)
            fields = [f for f in dataclasses.fields(tp) if f.init]
            defs[name] = {
                "type": "object",
                "title": name,
                "properties": {f.name: schema_of(hints.get(f.name, Any), defs) for f in fields},
                "required": [f.name for f in fields if required(f)],
                "additionalProperties": False,
            }
            if not defs[name]["required"]:
                del defs[name]["required"]
        return {"$ref": f"#/components/schemas/{name}"}
    return {}
