"""JSON schemas (OpenAPI 3.0 flavour) of the types a dataclass shape is made of: for the OpenAPI
document and `/v1/systems`. Classes become `$ref`s into `defs` (``#/components/schemas/<key>``).

Two steps, so that two classes of the same name never share a schema. Gathering keys each class by
`class_key` (module, qualified name and identity, as pydantic keys what it gathers); `named` then
gives each key its name in a document: the class's own name where no other class of the document,
nor one of its fixed schemas, has it, else its module-qualified name (`component_names`), so a
document's set of classes, not the order they were met in, decides the names.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
import types
import typing
import uuid
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from roost.sdk.shapes import Shape, hints_of, is_pydantic_model, is_typed_class, required

REF = "#/components/schemas/"


def class_key(cls: type) -> str:
    """The key `cls`'s schema is gathered under: unique while the class lives, and the key
    pydantic's schemas give it (``module.qualname:id``; see `roost.sdk.pydantic_shape`)."""
    return f"{cls.__module__}.{cls.__qualname__}:{id(cls)}"


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
        if is_pydantic_model(tp):
            return Shape(tp).schema(defs)
        key = class_key(tp)
        if key not in defs:
            defs[key] = {}  # placeholder: a recursive class refers to itself
            hints = hints_of(tp)
            fields = [f for f in dataclasses.fields(tp) if f.init]
            defs[key] = {
                "type": "object",
                "title": tp.__name__,
                "properties": {f.name: schema_of(hints.get(f.name, Any), defs) for f in fields},
                "required": [f.name for f in fields if required(f)],
                "additionalProperties": False,
            }
            if not defs[key]["required"]:
                del defs[key]["required"]
        return {"$ref": REF + key}
    return {}


def component_names(keys: Iterable[str], reserved: Collection[str] = ()) -> dict[str, str]:
    """The name in one document of each class key: the class's own name (``Item``) when no other
    key has it and it is not `reserved`, else the qualified one (``shop.models.Item``), else, for
    distinct classes of one module and name, that with ``-1``, ``-2`` in the order given."""
    keys = list(dict.fromkeys(keys))
    short = {k: _safe(_short(k)) for k in keys}
    full = {k: _safe(_full(k)) for k in keys}
    shorts, fulls = Counter(short.values()), Counter(full.values())
    seen: Counter[str] = Counter()
    names = {}
    for k in keys:
        if shorts[short[k]] == 1 and short[k] not in reserved:
            names[k] = short[k]
        elif fulls[full[k]] == 1 and full[k] not in reserved:
            names[k] = full[k]
        else:
            seen[full[k]] += 1
            names[k] = f"{full[k]}-{seen[full[k]]}"
    return names


def named(value: Any, names: Mapping[str, str]) -> Any:
    """`value` (a schema, the keyed `defs`, a document) with every ``$ref`` to a class key
    pointing at that key's name instead."""
    if isinstance(value, list):
        return [named(v, names) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for k, v in value.items():
        if k == "$ref" and isinstance(v, str) and v.startswith(REF):
            key = v[len(REF) :]
            out[k] = REF + names.get(key, key)
        else:
            out[k] = named(v, names)
    return out


def named_defs(defs: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """The gathered `defs` under their names, their ``$ref``s rewritten alike."""
    return {names[k]: named(s, names) for k, s in defs.items()}


# A key: ``module.qualname:id``, a generic one ``module.qualname:id[arg:id,...]`` (pydantic's).
_PARTS = re.compile(r"([\][,])")
_MODULE = re.compile(r"(?:[^.[\]]+\.)+([^.[\]]+)")


def _full(key: str) -> str:
    return "".join(p.rsplit(":", 1)[0] for p in _PARTS.split(key))


def _short(key: str) -> str:
    return "".join(_MODULE.sub(r"\1", p) for p in _PARTS.split(_full(key)))


def _safe(name: str) -> str:
    """What OpenAPI allows in a component's name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)
