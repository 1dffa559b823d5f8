"""The actor types of a system, and how an actor name resolves to one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from roost.sdk.actor import ActorDefinitionError, ActorType, valid_name


@dataclass(frozen=True, slots=True)
class SystemTypes:
    """One system's registered types: `named` (and pooled) by their name, `templates` for
    unnamed instances by template name."""

    name: str
    named: Mapping[str, ActorType]
    templates: Mapping[str, ActorType]

    @classmethod
    def build(cls, name: str, types: Iterable[ActorType]) -> SystemTypes:
        if not valid_name(name):
            raise ActorDefinitionError(f"system name {name!r} is not valid")
        if name.startswith("__"):
            raise ActorDefinitionError(f"system name {name!r}: names starting with __ are Roost's")
        named: dict[str, ActorType] = {}
        templates: dict[str, ActorType] = {}
        for t in types:
            if t.name in named or t.name in templates:
                raise ActorDefinitionError(
                    f"system {name!r}: two actor types named {t.name!r} ({t.source})"
                )
            (templates if t.kind == "unnamed" else named)[t.name] = t
        return cls(name, named, templates)

    def all_types(self) -> list[ActorType]:
        return [*self.named.values(), *self.templates.values()]
