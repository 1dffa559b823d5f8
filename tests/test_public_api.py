"""The public names are exactly what each package's `__all__` promises."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "roost",
    "roost.sdk",
    "roost.runtime",
    "roost.statestore",
    "roost.membership",
    "roost.placement",
    "roost.metrics",
    "roost.node",
    "roost.testing",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist(name: str) -> None:
    mod = importlib.import_module(name)
    assert mod.__all__, f"{name} declares no public names"
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"


def test_seed_names_are_importable_from_roost() -> None:
    import roost

    for n in ("Actor", "action", "Context", "Value", "ActorSystem", "invoke", "BadRequest"):
        assert n in roost.__all__


def test_typed_pieces_are_public() -> None:
    import roost
    import roost.sdk
    import roost.testing

    assert {"ref", "Ref"} <= set(roost.__all__)
    assert {"Ref", "ActorRef", "ActionDef", "ActionCall", "RefCall", "Shape", "TypedCodec"} <= set(
        roost.sdk.__all__
    )
    assert {"TestSystem", "Calls", "Call", "FaultyStore"} <= set(roost.testing.__all__)


def test_pydantic_is_imported_only_for_pydantic_classes() -> None:
    """Importing Roost and running dataclass actors must not need pydantic (an optional extra)."""
    import subprocess
    import sys

    code = (
        "import sys, asyncio, roost, roost.testing\n"
        "from dataclasses import dataclass\n"
        "from roost.sdk.actor import ActorType\n"
        "@dataclass\n"
        "class S:\n    n: int = 0\n"
        "class A(roost.Actor):\n    name = 'a'; state_type = S\n"
        "    @roost.action\n"
        "    async def add(self, s: S, ctx: roost.Context) -> roost.Value[S]:\n"
        "        return roost.Value().state(s).response(s)\n"
        "ActorType.from_class(A).describe()\n"
        "assert 'pydantic' not in sys.modules, 'pydantic was imported'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
