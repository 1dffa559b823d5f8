"""What one forwarded call costs, in one process (bench/PROFILE.md, "Peer link framing").

    .venv/bin/python -m bench.linkcost

Two real `Node`s in one event loop (uvloop), sharing a SQLite statestore, their membership a
shared in-memory table instead of gossip; everything else is real (sockets, admission, routing,
the actors). 64 concurrent callers invoke `tally` actors on node A through `Node.invoke` (the
public HTTP API left out): actors A owns (no forwarding), actors B owns forwarded over the peer
link, and the same forwarded over the internal HTTP routes (`--link off` on B). Wall time per
call here is the CPU of both nodes together, since they share one thread. Interleaved rounds,
median of 3.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from examples.counters import Tally
from roost.membership.base import Member, MemberStatus, MemberView, ViewListener
from roost.node.config import NodeConfig
from roost.node.node import Node
from roost.payload import RawPayload
from roost.placement.ring import Ring
from roost.statestore.crypto import generate_key

SYSTEM = "spawn-system"
CALLERS, PER_CALLER = 64, 100


class _Hub:
    """The members of every node of this process; listeners hear each change at once."""

    def __init__(self) -> None:
        self.view = MemberView({}, 0)
        self.listeners: list[ViewListener] = []

    def put(self, m: Member) -> None:
        self.view = MemberView({**self.view.members, m.id: m}, self.view.version + 1)
        for listener in list(self.listeners):
            listener(self.view)


class _Membership:
    def __init__(self, hub: _Hub, node_id: str, http: str) -> None:
        self.hub, self.me = hub, Member(node_id, http, "", MemberStatus.JOINING)

    @property
    def view(self) -> MemberView:
        return self.hub.view

    def subscribe(self, listener: ViewListener) -> None:
        self.hub.listeners.append(listener)

    async def start(self) -> None:
        self.hub.put(self.me)

    async def set_status(self, status: MemberStatus) -> None:
        self.me = Member(self.me.id, self.me.http, "", status, tags=self.me.tags)
        self.hub.put(self.me)

    async def leave(self) -> None:
        await self.set_status(MemberStatus.LEFT)

    async def stop(self) -> None:
        return None


def _owned(node_id: str, prefix: str) -> list[str]:
    ring = Ring(["a", "b", "c"])
    names = (f"{prefix}{i}" for i in range(100_000))
    return [n for n in names if ring.owner(SYSTEM, n) == node_id][:CALLERS]


async def _nodes(tmp: Path, key: str) -> list[Node]:
    from bench.common import free_port

    hub, nodes = _Hub(), []
    for node_id, link in (("a", None), ("b", None), ("c", "off")):
        http = f"127.0.0.1:{free_port()}"
        cfg = NodeConfig(
            node_id=node_id, http=http, seeds=("127.0.0.1:1",), statestore_key=key,
            statestore=f"sqlite:///{tmp}/linkcost.db", proxy_http="off",
            cluster_secret="linkcost-secret", link=link, log_level="warning",
        )  # fmt: skip
        membership = _Membership(hub, node_id, http)
        node = Node(cfg, actor_classes=[Tally], membership=membership)  # type: ignore[arg-type]
        membership.me = Member(node_id, http, "", MemberStatus.JOINING, tags=node.gossip_tags)
        await node.start()
        nodes.append(node)
    return nodes


async def _round(node: Node, names: list[str]) -> float:
    async def caller(name: str) -> None:
        for _ in range(PER_CALLER):
            await node.invoke(name, "add", RawPayload(b'{"value": 1}'), system=SYSTEM,
                              parent="tally")  # fmt: skip

    t0 = time.perf_counter()
    await asyncio.gather(*(caller(n) for n in names))
    return (time.perf_counter() - t0) / (len(names) * PER_CALLER) * 1e6


async def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        nodes = await _nodes(Path(d), generate_key())
        a = nodes[0]
        cases: dict[str, Callable[[], Awaitable[float]]] = {
            "A owns the actor (no forwarding)": lambda: _round(a, _owned("a", "own-")),
            "B owns it: forwarded over the peer link": lambda: _round(a, _owned("b", "link-")),
            "C owns it: forwarded over internal HTTP (C has --link off)": lambda: _round(
                a, _owned("c", "http-")
            ),
        }
        try:
            for run in cases.values():  # activate every actor first
                await run()
            samples: dict[str, list[float]] = {k: [] for k in cases}
            for _ in range(3):
                for name, run in cases.items():
                    samples[name].append(await run())
        finally:
            for node in reversed(nodes):
                await node.drain()
    out = {k: statistics.median(v) for k, v in samples.items()}
    print("| call | us per call (both nodes, median of 3) |\n|---|---|")
    for k, v in out.items():
        print(f"| {k} | {v:.0f} |")
    return out


if __name__ == "__main__":
    import logging

    import uvloop

    logging.disable(logging.WARNING)
    uvloop.run(main())
