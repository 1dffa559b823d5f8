"""How typed classes are named in a document (`component_names`): by their own name unless another
class of the document, or one of its fixed schemas, has it; never by the order they come in."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from roost.sdk.shape_schema import class_key, component_names, named, named_defs, schema_of


def test_a_shared_name_is_qualified_by_module_for_every_holder_whatever_the_order() -> None:
    keys = ["shop.models.Item:1", "bank.Item:2", "shop.models.Cart:3", "t.f.<locals>.Box:4"]
    want = {
        "shop.models.Item:1": "shop.models.Item",
        "bank.Item:2": "bank.Item",
        "shop.models.Cart:3": "Cart",
        "t.f.<locals>.Box:4": "Box",
    }
    for order in itertools.permutations(keys):
        assert component_names(order) == want


def test_reserved_names_and_twins_of_one_module() -> None:
    assert component_names(["app.Error:1", "app.Ok:2"], reserved={"Error"}) == {
        "app.Error:1": "app.Error",
        "app.Ok:2": "Ok",
    }
    # two distinct classes made under one module and name (a class factory): told apart
    assert component_names(["app.make.<locals>.C:7", "app.make.<locals>.C:9"]) == {
        "app.make.<locals>.C:7": "app.make._locals_.C-1",
        "app.make.<locals>.C:9": "app.make._locals_.C-2",
    }
    generic = "app.Box:1[builtins.int:2]"  # pydantic's key of Box[int]
    assert component_names([generic]) == {generic: "Box_int_"}


@dataclass
class Leaf:
    n: int


@dataclass
class Pair:
    left: Leaf
    right: Leaf | None = None


def test_named_rewrites_refs_to_class_keys_only() -> None:
    defs: dict[str, object] = {}
    top = schema_of(Pair, defs)
    assert set(defs) == {class_key(Pair), class_key(Leaf)}
    names = component_names(defs)
    assert named(top, names) == {"$ref": "#/components/schemas/Pair"}
    out = named_defs(defs, names)
    assert out["Pair"]["properties"]["left"] == {"$ref": "#/components/schemas/Leaf"}
    assert named({"$ref": "#/components/parameters/x"}, names) == {
        "$ref": "#/components/parameters/x"
    }
