"""Shapes: typed classes (stdlib dataclasses, pydantic v2 models) as actor state and payloads.

A `Shape` turns a JSON value into an instance of its class, checking it on the way and naming the
first field that does not fit (``items[2].qty: expected int, got str``), and says what the class
looks like as a JSON schema. Dataclasses are checked by a converter compiled once per class (no
third-party code); pydantic models by pydantic itself, imported only when a class is one.

`strict` loading (payloads) refuses fields the class does not have; lenient loading (stored state)
ignores them, so state written by an older version of a class (a field since removed) still loads.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

# (value, depth, strict) -> converted value; raises ShapeError with the path below this value
# (the path is built only on the way out of a failure, so a payload that fits costs no strings)
Convert = Callable[[Any, int, bool], Any]

MAX_DEPTH = 64  # nesting a payload may have inside typed fields; deeper is refused, not recursed


class ShapeError(ValueError):
    """A value does not fit a shape: `path` says where (``.items[2].qty``), `reason` why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path.lstrip('.') or '(top)'}: {reason}")
        self.path = path
        self.reason = reason


def is_pydantic_model(tp: object) -> bool:
    """True for a pydantic (v2) model class, decided without importing pydantic."""
    return isinstance(tp, type) and any(
        c.__name__ == "BaseModel" and str(getattr(c, "__module__", "")).startswith("pydantic")
        for c in tp.__mro__
    )


def is_typed_class(tp: object) -> bool:
    """A class a `Shape` can be made for: a dataclass or a pydantic model."""
    return isinstance(tp, type) and (dataclasses.is_dataclass(tp) or is_pydantic_model(tp))


class Shape:
    """A typed class as JSON: `load` a JSON value into it, `schema` of it for documents."""

    def __init__(self, cls: type) -> None:
        if not is_typed_class(cls):
            raise TypeError(f"{cls!r} is neither a dataclass nor a pydantic model")
        self.cls = cls
        self.name = f"{cls.__module__}.{cls.__qualname__}"
        self._convert: Convert | None = None
        self._pydantic = is_pydantic_model(cls)

    def load(self, data: Any, *, strict: bool) -> Any:
        """The instance `data` describes; `ShapeError` naming the field when it does not fit."""
        if self._pydantic:
            from roost.sdk.pydantic_shape import load_model

            return load_model(self.cls, data, strict=strict)
        try:
            return self.converter()(data, 0, strict)
        except RecursionError:
            raise ShapeError("", "nested too deeply") from None

    def converter(self) -> Convert:
        """The compiled converter of a dataclass shape (for the hot path of payload checks)."""
        if self._convert is None:  # compiled on first use: type hints may be forward references
            self._convert = _compile(self.cls, {})
        return self._convert

    def coerce(self, value: Any, *, strict: bool = True) -> Any:
        """`value` if it already is an instance, else what `load` makes of its JSON form."""
        if type(value) is self.cls or isinstance(value, self.cls):
            return value
        if is_typed_class(type(value)):  # another typed class: go through its JSON form
            from roost.sdk.state import to_jsonable

            value = to_jsonable(value)
        return self.load(value, strict=strict)

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        """A `$ref` to this class's JSON schema (OpenAPI 3.0), which is added to `defs`."""
        if self._pydantic:
            from roost.sdk.pydantic_shape import model_schema

            return model_schema(self.cls, defs)
        from roost.sdk.shape_schema import schema_of

        return schema_of(self.cls, defs)

    def __repr__(self) -> str:
        return f"Shape({self.name})"


# --- the dataclass converter ---------------------------------------------------------------------


def _tname(value: Any) -> str:
    if value is None:
        return "null"
    return _JSON_NAMES.get(type(value), type(value).__name__)


_JSON_NAMES: dict[Any, str] = {
    dict: "object", list: "array", tuple: "array", str: "string", bool: "boolean",
    int: "integer", float: "number", type(None): "null",
}  # fmt: skip


def _label(tp: Any) -> str:
    """A type as an error message names it: JSON's words for JSON's types."""
    origin = typing.get_origin(tp)
    if origin is not None:
        return _JSON_NAMES.get(origin, getattr(origin, "__name__", str(origin)))
    return _JSON_NAMES.get(tp, getattr(tp, "__name__", str(tp)))


def hints_of(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except Exception as exc:  # an annotation that does not resolve: say which class
        raise TypeError(f"cannot resolve the type hints of {cls.__qualname__}: {exc}") from exc


def required(f: dataclasses.Field[Any]) -> bool:
    """A dataclass field without a default."""
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _compile(tp: Any, seen: dict[Any, Convert]) -> Convert:
    """A converter for the type `tp`; `seen` ties recursive dataclasses to one converter."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _compile(typing.get_args(tp)[0], seen)
    if tp is Any or tp is object:
        return _any
    if tp is None or tp is type(None):
        return _none
    if origin in (typing.Union, types.UnionType):
        return _union([_compile(a, seen) for a in typing.get_args(tp)], tp)
    if origin is typing.Literal:
        return _literal(typing.get_args(tp))
    if origin in (list, Sequence, set, frozenset) or tp in (list, set, frozenset):
        item = _compile(typing.get_args(tp)[0], seen) if typing.get_args(tp) else _any
        make: Callable[[Any], Any] = (origin or tp) if (origin or tp) is not Sequence else list
        return _seq(item, make)
    if origin is tuple or tp is tuple:
        return _tuple(tp, seen)
    if origin in (dict, Mapping) or tp is dict:
        args = typing.get_args(tp)
        key = _compile(args[0], seen) if args else _any
        value = _compile(args[1], seen) if args else _any
        return _dict(key, value)
    if isinstance(tp, type):
        return _class(tp, seen)
    return _any  # a typing construct we do not check (TypeVar, Callable...): taken as is


def _below(prefix: str, exc: ShapeError) -> ShapeError:
    return ShapeError(prefix + exc.path, exc.reason)


def _too_deep() -> ShapeError:
    return ShapeError("", "nested too deeply")


def _any(v: Any, depth: int, strict: bool) -> Any:
    return v


def _none(v: Any, depth: int, strict: bool) -> Any:
    if v is not None:
        raise ShapeError("", f"expected null, got {_tname(v)}")
    return None


def _union(alts: list[Convert], tp: Any) -> Convert:
    names = " | ".join(_label(a) for a in typing.get_args(tp))

    def convert(v: Any, depth: int, strict: bool) -> Any:
        errors: list[ShapeError] = []
        for alt in alts:
            try:
                return alt(v, depth, strict)
            except ShapeError as exc:
                errors.append(exc)
        deeper = [e for e in errors if e.path]
        if len(deeper) == 1:  # only one alternative got past the top: its error is the useful one
            raise deeper[0]
        raise ShapeError("", f"expected {names}, got {_tname(v)}")

    return convert


def _literal(values: tuple[Any, ...]) -> Convert:
    def convert(v: Any, depth: int, strict: bool) -> Any:
        for allowed in values:
            if v == allowed and type(v) is type(allowed):
                return allowed
        raise ShapeError("", f"expected one of {list(values)!r}, got {v!r}"[:300])

    return convert


def _seq(item: Convert, make: Callable[[Any], Any]) -> Convert:
    def convert(v: Any, depth: int, strict: bool) -> Any:
        if not isinstance(v, list | tuple | set | frozenset):
            raise ShapeError("", f"expected array, got {_tname(v)}")
        if depth > MAX_DEPTH:
            raise _too_deep()
        if item is _any:
            return make(v)
        out = []
        for i, x in enumerate(v):
            try:
                out.append(item(x, depth + 1, strict))
            except ShapeError as exc:
                raise _below(f"[{i}]", exc) from None
        return make(out)

    return convert


def _tuple(tp: Any, seen: dict[Any, Convert]) -> Convert:
    args = typing.get_args(tp)
    if not args or (len(args) == 2 and args[1] is Ellipsis):
        return _seq(_compile(args[0], seen) if args else _any, tuple)
    items = [_compile(a, seen) for a in args]

    def convert(v: Any, depth: int, strict: bool) -> Any:
        if not isinstance(v, list | tuple):
            raise ShapeError("", f"expected array, got {_tname(v)}")
        if len(v) != len(items):
            raise ShapeError("", f"expected {len(items)} items, got {len(v)}")
        if depth > MAX_DEPTH:
            raise _too_deep()
        out = []
        for i, (c, x) in enumerate(zip(items, v, strict=True)):
            try:
                out.append(c(x, depth + 1, strict))
            except ShapeError as exc:
                raise _below(f"[{i}]", exc) from None
        return tuple(out)

    return convert


def _dict(key: Convert, value: Convert) -> Convert:
    def convert(v: Any, depth: int, strict: bool) -> Any:
        if not isinstance(v, dict):
            raise ShapeError("", f"expected object, got {_tname(v)}")
        if depth > MAX_DEPTH:
            raise _too_deep()
        out = {}
        for k, x in v.items():
            try:
                out[key(k, depth + 1, strict)] = value(x, depth + 1, strict)
            except ShapeError as exc:
                raise _below(f".{k}" if isinstance(k, str) else f"[{k!r}]", exc) from None
        return out

    return convert


def _scalar(tp: type) -> Convert | None:
    """Converters of the leaf types JSON can carry (directly, or as strings)."""
    if tp in _EXACT:
        what = _JSON_NAMES[tp]

        def exact(v: Any, depth: int, strict: bool) -> Any:
            if type(v) is not tp and (tp is not str or not isinstance(v, str)):
                raise ShapeError("", f"expected {what}, got {_tname(v)}")
            return v

        return exact
    if tp is float:

        def to_float(v: Any, depth: int, strict: bool) -> Any:
            if type(v) is float or type(v) is int:
                return float(v)
            raise ShapeError("", f"expected number, got {_tname(v)}")

        return to_float
    parse = _PARSERS.get(tp)
    if parse is None:
        return None

    def from_text(v: Any, depth: int, strict: bool) -> Any:
        if isinstance(v, tp):
            return v
        if not isinstance(v, str | int | float) or isinstance(v, bool):
            raise ShapeError("", f"expected {tp.__name__} (as a string), got {_tname(v)}")
        try:
            return parse(v)
        except (ValueError, TypeError, InvalidOperation):
            raise ShapeError("", f"{str(v)[:60]!r} is not a valid {tp.__name__}") from None

    return from_text


_EXACT = (bool, int, str)  # JSON gives these as they are: checked by exact type (True is no int)
_PARSERS: dict[type, Callable[[Any], Any]] = {
    dt.datetime: dt.datetime.fromisoformat,
    dt.date: dt.date.fromisoformat,
    dt.time: dt.time.fromisoformat,
    uuid.UUID: uuid.UUID,
    Decimal: lambda v: Decimal(str(v)),
}


def _class(tp: type, seen: dict[Any, Convert]) -> Convert:
    scalar = _scalar(tp)
    if scalar is not None:
        return scalar
    if issubclass(tp, enum.Enum):
        return _enum(tp)
    if dataclasses.is_dataclass(tp):
        return _dataclass(tp, seen)
    if is_pydantic_model(tp):
        shape = Shape(tp)

        def model(v: Any, depth: int, strict: bool) -> Any:
            return shape.coerce(v, strict=strict)

        return model

    def instance(v: Any, depth: int, strict: bool) -> Any:
        if not isinstance(v, tp):
            raise ShapeError("", f"expected {tp.__name__}, got {_tname(v)}")
        return v

    return instance


def _enum(tp: type[enum.Enum]) -> Convert:
    allowed = [m.value for m in tp]

    def convert(v: Any, depth: int, strict: bool) -> Any:
        if isinstance(v, tp):
            return v
        try:
            return tp(v)
        except (ValueError, TypeError):
            raise ShapeError("", f"expected one of {allowed!r}, got {v!r}"[:300]) from None

    return convert


def _dataclass(cls: type, seen: dict[Any, Convert]) -> Convert:
    if cls in seen:
        return seen[cls]
    # (name, converter, exact type taken as is or None, required)
    fields: list[tuple[str, Convert, type | None, bool]] = []
    names: frozenset[str] = frozenset()

    def convert(v: Any, depth: int, strict: bool) -> Any:
        if type(v) is not dict:
            if isinstance(v, cls):
                return v
            if not isinstance(v, dict):
                raise ShapeError("", f"expected object ({cls.__name__}), got {_tname(v)}")
        if depth > MAX_DEPTH:
            raise _too_deep()
        if strict and not names.issuperset(v):
            k = next(k for k in v if k not in names)
            raise ShapeError(f".{k}", f"unexpected field (not in {cls.__name__})")
        kwargs = {}
        for name, conv, exact, needed in fields:
            if name in v:
                x = v[name]
                if type(x) is exact:  # the common case: no call, no checks beyond this
                    kwargs[name] = x
                    continue
                try:
                    kwargs[name] = conv(x, depth + 1, strict)
                except ShapeError as exc:
                    raise _below(f".{name}", exc) from None
            elif needed:
                raise ShapeError(f".{name}", "field required")
        return cls(**kwargs)

    seen[cls] = convert
    hints = hints_of(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = hints.get(f.name, Any)
        exact = tp if tp in _EXACT else None
        fields.append((f.name, _compile(tp, seen), exact, required(f)))
    names = frozenset(f[0] for f in fields)
    return convert
