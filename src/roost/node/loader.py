"""Load actor classes named `module:Class` (``--actors``) and build each system's types."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Sequence

from roost.errors import ConfigError
from roost.runtime.types import SystemTypes
from roost.sdk.actor import ActorDefinitionError, ActorType


def load_class(spec: str) -> type:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"--actors entry {spec!r} must look like package.module:ClassName")
    cwd = os.getcwd()
    if cwd not in sys.path:  # like `python -m`: modules next to where the node is started
        sys.path.append(cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import actor module {module_name!r}: {exc}") from exc
    try:
        cls = getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"module {module_name!r} has no class {attr!r}") from None
    if not isinstance(cls, type):
        raise ConfigError(f"{spec} is not a class")
    return cls


def build_types(classes: Iterable[type]) -> list[ActorType]:
    try:
        return [ActorType.from_class(c) for c in classes]
    except ActorDefinitionError as exc:
        raise ConfigError(str(exc)) from exc


def build_systems(systems: Sequence[str], types: Sequence[ActorType]) -> dict[str, SystemTypes]:
    """The systems a node hosts: those it is told (`--system`), which get every actor type that
    names no system, plus every system an actor type names (which gets just its own types)."""
    names = list(dict.fromkeys([*systems, *(t.system for t in types if t.system)]))
    try:
        return {
            name: SystemTypes.build(
                name,
                [t for t in types if t.system == name or (t.system is None and name in systems)],
            )
            for name in names
        }
    except ActorDefinitionError as exc:
        raise ConfigError(str(exc)) from exc
