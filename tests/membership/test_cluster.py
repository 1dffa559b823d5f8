"""Integration: real SerfMembership nodes on loopback converge, detect, leave, and keep out."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from roost.errors import ConfigError
from roost.membership import MemberStatus, SerfAgent, SerfMembership, SerfRPC, rpc_token
from roost.membership.keys import gossip_key

from .conftest import SECRET, SERF_BIN, Watch, free_port, status_of

pytestmark = [pytest.mark.serf, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]
DETECT = 25.0  # LAN profile: probe 1 s + suspicion (4..24 s for 3 nodes, shortened by Lifeguard)
Make = Callable[..., SerfMembership]


def active(n: int) -> Callable[[object], bool]:
    return lambda view: len(view.active_ids()) == n  # type: ignore[attr-defined]


async def three_active(cluster: Make) -> tuple[list[SerfMembership], list[Watch]]:
    first_port = free_port()
    seed = f"127.0.0.1:{first_port}"
    nodes = [
        cluster("n1", (seed,), port=first_port),
        cluster("n2", (seed,)),
        cluster("n3", (seed,)),
    ]
    watches = [Watch(n) for n in nodes]
    await asyncio.gather(*(n.start() for n in nodes))
    for node in nodes:
        await node.set_status(MemberStatus.ACTIVE)
    await asyncio.gather(*(w.until(active(3), 15) for w in watches))
    return nodes, watches


async def test_three_nodes_converge_to_three_active(cluster: Make) -> None:
    nodes, watches = await three_active(cluster)
    for node, watch in zip(nodes, watches, strict=True):
        view = node.view
        assert view.active_ids() == ["n1", "n2", "n3"]
        assert watch.versions == sorted(set(watch.versions))  # strictly increasing
        n2 = view.get("n2")
        assert n2 is not None and n2.http == nodes[1].settings.http_advertise
        assert n2.gossip == nodes[1].settings.gossip_bind and n2.protocol == 1
    assert all(n.restarts == 0 and n.connected for n in nodes)


async def test_status_tag_update_propagates(cluster: Make) -> None:
    nodes, watches = await three_active(cluster)
    await nodes[2].set_status(MemberStatus.DRAINING)
    for watch in watches[:2]:
        view = await watch.until(lambda v: status_of(v, "n3") == "draining", 10)
        assert view.active_ids() == ["n1", "n2"]


async def test_graceful_leave_is_seen_as_left(cluster: Make) -> None:
    nodes, watches = await three_active(cluster)
    t0 = time.monotonic()
    await nodes[1].leave()
    assert status_of(nodes[1].view, "n2") == "left"
    await nodes[1].stop()
    for watch in (watches[0], watches[2]):
        await watch.until(lambda v: status_of(v, "n2") == "left", 10)
    assert time.monotonic() - t0 < 10


async def test_kill_9_of_a_node_is_seen_as_failed(cluster: Make) -> None:
    port = free_port()
    seed = f"127.0.0.1:{port}"
    first = cluster("n1", (seed,), port=port)
    watch = Watch(first)
    await first.start()
    await first.set_status(MemberStatus.ACTIVE)
    victim = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.membership.node_child",
        "victim",
        str(free_port()),
        seed,
        SERF_BIN,
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "ROOST_CLUSTER_SECRET": SECRET},
    )
    try:
        assert victim.stdout is not None
        async with asyncio.timeout(20):
            assert (await victim.stdout.readline()).strip() == b"ready"
        await watch.until(lambda v: status_of(v, "victim") == "active", 10)
        victim.send_signal(signal.SIGKILL)  # its serf child dies with it (pdeathsig)
        t0 = time.monotonic()
        view = await watch.until(lambda v: status_of(v, "victim") == "failed", DETECT)
        print(f"kill -9 detected in {time.monotonic() - t0:.1f}s")
        assert view.active_ids() == ["n1"]
    finally:
        if victim.returncode is None:
            victim.kill()
        await victim.wait()


async def test_wrong_secret_cannot_join(cluster: Make) -> None:
    port = free_port()
    seed = f"127.0.0.1:{port}"
    good = cluster("n1", (seed,), port=port)
    await good.start()
    intruder = cluster("intruder", (seed,), secret="some-other-secret-0123456789", join_timeout=2)
    await intruder.start()  # gives up joining after join_timeout and runs alone
    assert set(intruder.view.members) == {"intruder"}
    assert good.client is not None
    assert [m.name for m in await good.client.members()] == ["n1"]
    assert set(good.view.members) == {"n1"}


async def test_node_that_seeds_only_itself_starts_alone_at_once(cluster: Make) -> None:
    node = cluster("solo", join_timeout=30)
    t0 = time.monotonic()
    await node.start()
    assert time.monotonic() - t0 < 5
    assert set(node.view.members) == {"solo"}


async def test_unanswered_seeds_start_alone_then_merge_later(cluster: Make) -> None:
    later_port = free_port()
    early = cluster("early", (f"127.0.0.1:{later_port}",), join_timeout=1, rejoin_interval=0.5)
    watch = Watch(early)
    await early.start()
    assert set(early.view.members) == {"early"}
    late = cluster("late", port=later_port)
    await late.start()
    await watch.until(lambda v: status_of(v, "late") == "joining", 10)


async def test_agent_crash_is_survived(cluster: Make) -> None:
    nodes, watches = await three_active(cluster)
    agent = nodes[2].agent
    assert agent is not None and agent.pid is not None
    generation = agent.generation
    os.kill(agent.pid, signal.SIGKILL)
    # Published while the agent is down or just back: it must still reach everyone.
    await nodes[2].set_status(MemberStatus.DRAINING)
    async with asyncio.timeout(15):
        await agent.wait_launched(generation)
    assert nodes[2].restarts == 1
    for watch in watches:  # n3's own view changes only once it has reconnected
        await watch.until(lambda v: status_of(v, "n3") == "draining", 15)
    assert nodes[2].connected
    assert watches[0].membership.view.active_ids() == ["n1", "n2"]


def loopback_port_free_on(hosts: list[str]) -> int:
    import socket

    for _ in range(50):
        port = free_port()
        try:
            for host in hosts:
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    with socket.socket(socket.AF_INET, kind) as s:
                        s.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free on every loopback address")


async def test_dns_seeds_from_a_test_resolver(cluster: Make) -> None:
    from .dns_server import TestDnsServer

    hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    port = loopback_port_free_on(hosts)
    name = "roost-headless.test.svc"
    dns = await TestDnsServer({}).start()
    try:
        seeds = (f"dns:{name}:{port}",)
        nodes = [
            cluster(f"pod-{i}", seeds, gossip_bind=f"{h}:{port}", dns_server=dns.address)
            for i, h in enumerate(hosts)
        ]
        watches = [Watch(n) for n in nodes]
        for i, node in enumerate(nodes):
            # A StatefulSet starts pods in order; the headless Service lists those that exist.
            dns.records[name] = hosts[: i + 1]
            t0 = time.monotonic()
            await node.start()
            assert time.monotonic() - t0 < 5  # pod-0 sees only itself: no join timeout
            await node.set_status(MemberStatus.ACTIVE)
        await asyncio.gather(*(w.until(active(3), 15) for w in watches))
        assert name in dns.queries
    finally:
        await dns.close()


async def test_mdns_between_two_nodes_on_loopback(cluster: Make) -> None:
    options = {"mdns_interfaces": ("127.0.0.1",), "rejoin_interval": 1.0, "mdns_browse_time": 1.0}
    a = cluster("mdns-a", ("mdns",), **options)
    b = cluster("mdns-b", ("mdns",), **options)
    wa, wb = Watch(a), Watch(b)
    await a.start()
    await b.start()
    await a.set_status(MemberStatus.ACTIVE)
    await b.set_status(MemberStatus.ACTIVE)
    await asyncio.gather(wa.until(active(2), 15), wb.until(active(2), 15))


async def test_attach_to_an_agent_we_did_not_start(cluster: Make, tmp_path: Path) -> None:
    from roost.membership import SerfSettings

    port = free_port()
    sidecar = SerfAgent(
        SerfSettings(node_id="side", gossip_bind=f"127.0.0.1:{port}", serf_bin=SERF_BIN),
        tmp_path / "side",
        rpc_token=rpc_token(SECRET),
        keys=[gossip_key(SECRET)],
        tags=dict,
    )
    await sidecar.start()
    try:
        wrong = cluster("not-side", (f"127.0.0.1:{port}",), serf_rpc=sidecar.rpc_addr)
        with pytest.raises(ConfigError, match="named 'side'"):
            await wrong.start()
        node = cluster("side", (f"127.0.0.1:{port}",), serf_rpc=sidecar.rpc_addr)
        await node.start()
        await node.set_status(MemberStatus.ACTIVE)
        assert node.view.active_ids() == ["side"]
        assert node.agent is None and node.restarts == 0
        await node.stop()
        assert sidecar.pid is not None  # stop() leaves an agent it did not start running
        client = await SerfRPC.connect(sidecar.rpc_addr, rpc_token(SECRET))
        try:
            (me,) = await client.members()
            assert me.tags["status"] == "active" and me.tags["proto"] == "1"
        finally:
            await client.close()
    finally:
        await sidecar.stop()
