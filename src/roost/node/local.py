"""Systems running in this process, so `roost.invoke` can reach them without HTTP.

This is the one piece of process-wide state in Roost, and it exists because the public
`roost.invoke(...)` has no object to hang it on. Systems add themselves while running and
remove themselves on exit; nothing is read from it at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from roost.sdk.context import ActorId


class LocalSystem(Protocol):
    async def invoke(
        self,
        actor: str,
        action: str,
        payload: Any = None,
        *,
        system: str,
        parent: str | None = None,
        metadata: Mapping[str, str] | None = None,
        caller: ActorId | None = None,
    ) -> Any: ...


_RUNNING: dict[str, LocalSystem] = {}


def register(name: str, system: LocalSystem) -> None:
    _RUNNING[name] = system


def unregister(name: str, system: LocalSystem) -> None:
    if _RUNNING.get(name) is system:
        del _RUNNING[name]


def find(name: str | None) -> tuple[str, LocalSystem] | None:
    """The running system called `name`; with no name, the only one running, if exactly one."""
    if name is None:
        if len(_RUNNING) == 1:
            return next(iter(_RUNNING.items()))
        return None
    s = _RUNNING.get(name)
    return (name, s) if s is not None else None
