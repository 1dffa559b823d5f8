"""Roost: a Python actor mesh.

Write actors as plain classes (`Actor`, `@action`, `Context`, `Value`), run them in-process with
`ActorSystem` or on a cluster of nodes (`roost node`), and call them with `invoke` or through
typed references (`ref`, `ActorSystem.ref`, `Context.ref`: a `Ref`, typed as the actor class, or as
`Ref[A]` with the `roost.mypy` plugin); `roost.testing` runs them in tests.
"""

from roost.errors import (
    ActionFailed,
    ActionNotFound,
    ActorNotFound,
    BadRequest,
    DecryptionError,
    RoostError,
    StateConflict,
    Timeout,
    Unavailable,
)
from roost.node.api import invoke, ref
from roost.node.system import ActorSystem
from roost.sdk import ActorId, Channel, Context, Ref, Timer, Value, action
from roost.sdk.actor import Actor

__version__ = "0.1.0"

__all__ = [
    "ActionFailed",
    "ActionNotFound",
    "Actor",
    "ActorId",
    "ActorNotFound",
    "ActorSystem",
    "BadRequest",
    "Channel",
    "Context",
    "DecryptionError",
    "Ref",
    "RoostError",
    "StateConflict",
    "Timeout",
    "Timer",
    "Unavailable",
    "Value",
    "action",
    "invoke",
    "ref",
]
