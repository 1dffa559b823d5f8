"""Status conditions of the operator's resources, as Kubernetes conventions spell them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ACCEPTED = "Accepted"
IGNORED = "Ignored"
READY = "Ready"


@dataclass(frozen=True, slots=True)
class Condition:
    """One condition: `type` is True or False for `reason`, explained by `message`."""

    type: str
    status: bool
    reason: str
    message: str

    def to_dict(self, now: str, generation: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "status": "True" if self.status else "False",
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": now,
        }
        if generation is not None:
            out["observedGeneration"] = generation
        return out


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a resource is refused: a CamelCase reason and a message naming the field to fix."""

    reason: str
    message: str


def refused(problems: Iterable[Problem]) -> Condition:
    """Accepted=False for every problem found, so that one edit can fix them all."""
    found = list(problems)
    reason = found[0].reason if len(found) == 1 else "Invalid"
    return Condition(ACCEPTED, False, reason, "; ".join(p.message for p in found))


def ignored(fields: Iterable[str]) -> Condition:
    """Fields Roost accepts but does not act on, each with why: never silently dropped."""
    found = list(fields)
    if not found:
        return Condition(IGNORED, False, "NothingIgnored", "every field given is in effect")
    return Condition(IGNORED, True, "NotUsedByRoost", "; ".join(found))


def merged(
    old: Iterable[Mapping[str, Any]],
    new: Iterable[Condition],
    now: str,
    generation: int | None,
) -> list[dict[str, Any]]:
    """`new` as dicts, keeping each type's lastTransitionTime while its status is unchanged."""
    before = {c.get("type"): c for c in old}
    out = []
    for cond in new:
        item = cond.to_dict(now, generation)
        prev = before.get(cond.type)
        if prev is not None and prev.get("status") == item["status"]:
            item["lastTransitionTime"] = prev.get("lastTransitionTime", now)
        out.append(item)
    return out
