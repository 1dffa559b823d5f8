"""Systems running in this process, so `roost.invoke` can reach them without HTTP.

This is the one piece of process-wide state in Roost, and it exists because the public
`roost.invoke(...)` has no object to hang it on. Systems add themselves while running and
remove themselves on exit; nothing is read from it at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from roost.sdk.context import ActorId

if TYPE_CHECKING:
    from roost.node.core import Core


class LocalSystem(Protocol):
    @property
    def default_system(self) -> str: ...

    @property
    def core(self) -> Core: ...  # for scheduled calls (`roost.invoke(..., delay_ms=...)`)

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
ANY = "*"  # a node registers under this name: it can route calls to any system


def register(name: str, system: LocalSystem) -> None:
    _RUNNING[name] = system


def unregister(name: str, system: LocalSystem) -> None:
    if _RUNNING.get(name) is system:
        del _RUNNING[name]


def find(name: str | None) -> LocalSystem | None:
    """The running system called `name` (or a node, which routes any system); with no name, the
    only one running, if exactly one is (a system hosting several is registered under each)."""
    if name is None:
        running = {id(s): s for s in _RUNNING.values()}
        return next(iter(running.values())) if len(running) == 1 else None
    return _RUNNING.get(name) or _RUNNING.get(ANY)
