"""Pydantic v2 models as shapes. Imported only once a class is known to be a pydantic model, so
pydantic stays an optional dependency (``pip install roost[pydantic]``)."""

from __future__ import annotations

from typing import Any

import pydantic
from pydantic.json_schema import CoreModeRef, DefsRef, GenerateJsonSchema

from roost.sdk.shape_schema import REF, class_key
from roost.sdk.shapes import ShapeError


def _path(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)


def _known_keys(cls: type[pydantic.BaseModel]) -> set[str]:
    keys: set[str] = set()
    for name, f in cls.model_fields.items():
        keys.add(name)
        for alias in (f.alias, f.validation_alias):
            if isinstance(alias, str):
                keys.add(alias)
    return keys


def load_model(cls: type[pydantic.BaseModel], data: Any, *, strict: bool) -> Any:
    """`cls.model_validate(data)`; a strict load also refuses unknown fields unless the model
    says what to do with them (``model_config["extra"]``)."""
    if isinstance(data, cls):
        return data
    if strict and isinstance(data, dict) and cls.model_config.get("extra") is None:
        known = _known_keys(cls)
        for k in data:
            if k not in known:
                raise ShapeError(f".{k}", f"unexpected field (not in {cls.__name__})")
    try:
        return cls.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ShapeError(_path(tuple(first["loc"])), f"{first['msg']}{more}") from None
    except RecursionError:
        raise ShapeError("", "nested too deeply") from None


class _KeyedSchema(GenerateJsonSchema):
    """Pydantic's JSON schema with each class it gathers keyed by its core reference (which is
    our `class_key`), not by a name that pydantic shortens when unique in this one schema: which
    name a class gets is decided over a whole document (`shape_schema.component_names`)."""

    def get_defs_ref(self, core_mode_ref: CoreModeRef) -> DefsRef:
        core_ref, mode = core_mode_ref
        key = DefsRef(core_ref if mode == "validation" else f"{core_ref}-{mode}")
        self._prioritized_defsref_choices[key] = [key]  # the one choice: no shortening
        return key


def model_schema(cls: type[pydantic.BaseModel], defs: dict[str, Any]) -> dict[str, Any]:
    """A `$ref` to the model's JSON schema; it and the classes it uses are added to `defs`."""
    schema = cls.model_json_schema(ref_template=REF + "{model}", schema_generator=_KeyedSchema)
    defs.update(schema.pop("$defs", {}))
    if set(schema) == {"$ref"}:  # a recursive model: pydantic gathered it too
        return schema
    key = class_key(cls)
    defs[key] = schema
    return {"$ref": REF + key}


def dump_model(value: pydantic.BaseModel) -> Any:
    """The model's JSON form (what `encode_json` writes)."""
    return value.model_dump(mode="json")
