"""Pooled actors (``kind = "pooled"``): stateless workers, any free instance takes the call.

Every node hosts its own pool of each pooled type, so a call always runs on the node it reached
(no ring, no lease, no state). Instances are created on demand up to `max_pool_size`; past that,
calls wait FIFO for a free one. `min_pool_size` instances are created up front.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from typing import Any

from roost.errors import ActionFailed, ActionNotFound, BadRequest
from roost.sdk.actor import ActorType
from roost.sdk.context import EMPTY_METADATA, ActorId, Context, Invoker
from roost.sdk.value import Value


class Pool:
    def __init__(self, system: str, actor_type: ActorType) -> None:
        self.system = system
        self.type = actor_type
        self.actor_id = ActorId(actor_type.name, system)
        self._free: deque[Any] = deque(
            actor_type.factory() for _ in range(actor_type.min_pool_size)
        )
        self.size = len(self._free)
        self._waiters: deque[asyncio.Future[Any]] = deque()

    @property
    def busy(self) -> int:
        return self.size - len(self._free)

    async def _take(self) -> Any:
        if self._free:
            return self._free.popleft()
        if self.size < self.type.max_pool_size:
            self.size += 1
            return self.type.factory()
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._give(fut.result())  # handed an instance as we were cancelled: pass it on
            else:
                self._waiters.remove(fut)
            raise

    def _give(self, instance: Any) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(instance)
                return
        self._free.append(instance)

    async def invoke(
        self,
        action: str,
        payload: Any,
        metadata: Mapping[str, str] | None,
        caller: ActorId | None,
        invoker: Invoker | None,
    ) -> tuple[Any, Value | None]:
        """Run `action` on a free instance; returns the reply and the Value (for workflows)."""
        spec = self.type.actions.get(action)
        if spec is None:
            raise ActionNotFound(f"pooled actor type {self.type.name!r} has no action {action!r}")
        if spec.check is not None:
            payload = spec.check(payload)
        instance = await self._take()
        try:
            ctx = Context(None, self.actor_id, caller, metadata or EMPTY_METADATA, invoker)
            try:
                if spec.takes_payload:
                    result = await spec.fn(instance, payload, ctx)
                else:
                    result = await spec.fn(instance, ctx)
            except (BadRequest, ActionFailed):
                raise
            except Exception as exc:
                raise ActionFailed(
                    f"{self.type.name}.{action} raised {type(exc).__name__}: {exc}"
                ) from exc
        finally:
            self._give(instance)
        if result is None:
            return None, None
        if spec.returns_reply and not isinstance(result, Value):
            return result, None
        if not isinstance(result, Value):
            raise ActionFailed(
                f"{self.type.name}.{action} returned {type(result).__name__}; "
                "actions return a roost.Value (or None)"
            )
        return result.reply, result
