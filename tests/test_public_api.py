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
