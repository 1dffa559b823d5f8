"""Workflow steps an action can return in its `Value` (Spawn's semantics).

- `Effect`: an invocation started after the reply is sent; its failure is logged and counted,
  never returned to the caller.
- `Pipe`: the action's reply becomes the payload of another actor's action; the caller receives
  that action's reply instead.
- `Forward`: the action's *input* goes on to another actor's action; the caller receives its reply.
- `Broadcast`: a payload delivered to every actor subscribed to a channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Effect:
    actor: str
    action: str
    payload: Any = None
    system: str | None = None
    parent: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    delay_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Pipe:
    actor: str
    action: str
    system: str | None = None
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class Forward:
    actor: str
    action: str
    system: str | None = None
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class Broadcast:
    channel: str
    payload: Any = None
    action: str | None = None  # None: each subscriber's own action for the channel
    system: str | None = None


@dataclass(frozen=True, slots=True)
class Channel:
    """A subscription, declared on an actor class: ``channels = [Channel("orders")]``."""

    topic: str
    action: str = "receive"


@dataclass(frozen=True, slots=True)
class Timer:
    """A periodic action declared on an actor class: ``timers = [Timer("tick", every_ms=1000)]``"""

    action: str
    every_ms: int
