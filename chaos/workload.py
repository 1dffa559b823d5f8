"""The workload: asyncio clients invoking the chaos actors with unique ops, recording each
request's start, end and outcome; and the reads done after healing.

One request in ten is a read (`get` / `read`), which must see every op acknowledged before it
was sent. Each client sticks to a home node (as a client behind a per-node load balancer
would) and moves to a random other node for its next request after a connection-level failure.
Clients never retry an op: every request is a new op with a new id, so the history is exactly
what was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from chaos.cluster import SYSTEM
from chaos.history import TEMPLATES, Op, Outcome, Template, classify_http

REQUEST_TIMEOUT_MS = 10_000  # the node's deadline for one invocation
CLIENT_TIMEOUT = 15.0  # the client gives up (outcome unknown) a little after that


@dataclass(frozen=True, slots=True)
class Target:
    actor: str
    template: Template


def actors(per_template: int) -> list[Target]:
    return [Target(f"{t.name}-{j}", t) for t in TEMPLATES for j in range(per_template)]


def invoke_url(base: str, actor: str, action: str, parent: str) -> str:
    return f"{base}/v1/systems/{SYSTEM}/actors/{actor}/actions/{action}?parent={parent}"


def reply_value(t: Template, body: Any) -> Any:
    return body["total"] if t.model == "total" else body["ops"]


class Workload:
    def __init__(
        self,
        urls: Sequence[str],
        targets: Sequence[Target],
        *,
        clients_per_node: int,
        seed: int,
        t0: float,
        think: float = 0.02,
        read_ratio: float = 0.1,
        max_ops: int = 200_000,
    ) -> None:
        self.urls = list(urls)
        self.targets = list(targets)
        self.clients_per_node = clients_per_node
        self.rng = random.Random(f"workload/{seed}")
        self.t0 = t0
        self.think = think
        self.read_ratio = read_ratio
        self.max_ops = max_ops
        self.ops: list[Op] = []
        self._ids = itertools.count(1)
        self._stop = asyncio.Event()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        clients = [
            self._client(home, random.Random(self.rng.random()))
            for home in range(len(self.urls))
            for _ in range(self.clients_per_node)
        ]
        await asyncio.gather(*clients)

    async def _client(self, home: int, rng: random.Random) -> None:
        node = home
        timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT, connect=2.0)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self._stop.is_set():
                op_id = next(self._ids)
                if op_id > self.max_ops:
                    return
                target = rng.choice(self.targets)
                read = rng.random() < self.read_ratio
                op = await self._one(session, node, target, op_id, read)
                self.ops.append(op)
                if op.outcome == "ok":
                    pause = rng.uniform(0, self.think)
                else:
                    pause = 0.3
                    if op.error in ("refused", "connect-timeout", "disconnected", "client-timeout"):
                        node = rng.choice([i for i in range(len(self.urls)) if i != node] or [node])
                if pause:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), pause)

    async def _one(
        self, session: aiohttp.ClientSession, node: int, target: Target, op_id: int, read: bool
    ) -> Op:
        t = target.template
        payload: Any = None if read else {"value": 1} if t.model == "total" else {"op": op_id}
        action = t.read_action if read else t.action
        url = invoke_url(self.urls[node], target.actor, action, t.name)
        start = self.now()

        def done(
            outcome: Outcome,
            value: Any = None,
            error: str = "",
            definite: bool = False,
            message: str | None = None,
        ) -> Op:
            return Op(
                op_id,
                target.actor,
                t.name,
                f"n{node + 1}",
                start,
                self.now(),
                outcome,
                value,
                error or None,
                definite,
                "read" if read else "write",
                message,
            )

        try:
            async with session.post(
                url, json=payload, headers={"X-Roost-Timeout-Ms": str(REQUEST_TIMEOUT_MS)}
            ) as r:
                body = await r.json(content_type=None)
                status = r.status
        except aiohttp.ClientConnectorError:
            return done("fail", error="refused", definite=True)
        except aiohttp.ConnectionTimeoutError:
            return done("fail", error="connect-timeout", definite=True)
        except (TimeoutError, aiohttp.ServerTimeoutError):
            return done("unknown", error="client-timeout")
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            return done("unknown", error="disconnected")
        except (aiohttp.ClientError, ValueError) as exc:
            return done("unknown", error=f"client:{type(exc).__name__}")
        if status == 200:
            try:
                return done("ok", reply_value(t, body))
            except (KeyError, TypeError):
                return done("fail", error="200 malformed-reply")
        err = body.get("error", {}) if isinstance(body, dict) else {}
        outcome, kind, definite = classify_http(status, str(err.get("code", "")))
        return done(outcome, error=kind, definite=definite, message=str(err.get("message"))[:300])


async def read_finals(
    urls: Sequence[str], targets: Sequence[Target], timeout: float = 60.0
) -> dict[str, Any]:
    """Every actor's value after healing, read through the nodes in turn; None if it never
    answered before `timeout`."""
    deadline = time.monotonic() + timeout
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:

        async def read(k: int, target: Target) -> None:
            t = target.template
            attempt = 0
            while time.monotonic() < deadline:
                url = invoke_url(
                    urls[(k + attempt) % len(urls)], target.actor, t.read_action, t.name
                )
                attempt += 1
                try:
                    async with session.post(url) as r:
                        if r.status == 200:
                            out[target.actor] = reply_value(t, await r.json(content_type=None))
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.5)  # the cluster is still settling; poll again
            out[target.actor] = None

        await asyncio.gather(*(read(k, t) for k, t in enumerate(targets)))
    return out
