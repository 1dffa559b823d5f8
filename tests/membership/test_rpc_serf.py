"""The RPC client against real serf agents (started with our supervisor)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from roost.membership import SerfAgent, SerfRPC, SerfSettings, gossip_key, rpc_token
from roost.membership.errors import SerfAuthError, SerfCommandError, SerfConnectionError
from roost.membership.protocol import MemberEvent, QueryEvent, UserEvent

from .conftest import SECRET, SERF_BIN, free_port

pytestmark = [pytest.mark.serf, pytest.mark.integration]
TOKEN = rpc_token(SECRET)

StartAgent = Callable[..., Awaitable[SerfAgent]]


@pytest.fixture
async def start_agent(tmp_path: Path) -> AsyncIterator[StartAgent]:
    agents: list[SerfAgent] = []

    async def start(name: str, secret: str = SECRET, **tags: str) -> SerfAgent:
        settings = SerfSettings(
            node_id=name,
            gossip_bind=f"127.0.0.1:{free_port()}",
            serf_bin=SERF_BIN,
            secret=secret,
            log_level="warn",
        )
        agent = SerfAgent(
            settings,
            tmp_path / name,
            rpc_token=rpc_token(secret),
            keys=[gossip_key(secret)],
            tags=lambda: dict(tags),
        )
        agents.append(agent)
        await agent.start()
        return agent

    yield start
    await asyncio.gather(*(a.stop() for a in agents))


async def connect(agent: SerfAgent) -> SerfRPC:
    return await SerfRPC.connect(agent.rpc_addr, TOKEN)


def gossip_of(agent: SerfAgent) -> str:
    return agent.settings.gossip_bind


async def next_event(sub: AsyncIterator[object], kind: type, within: float = 10.0) -> object:
    async with asyncio.timeout(within):
        async for event in sub:
            if isinstance(event, kind):
                return event
    raise AssertionError("stream ended")


async def test_auth_is_required_and_checked(start_agent: StartAgent) -> None:
    agent = await start_agent("a1")
    with pytest.raises(SerfAuthError):
        await SerfRPC.connect(agent.rpc_addr, "not-the-token")
    unauthenticated = await SerfRPC.connect(agent.rpc_addr)
    try:
        with pytest.raises(SerfAuthError):
            await unauthenticated.members()
    finally:
        await unauthenticated.close()


async def test_members_join_filter_tags_and_stream(start_agent: StartAgent) -> None:
    a1 = await start_agent("a1", http="127.0.0.1:1", status="joining")
    a2 = await start_agent("a2", http="127.0.0.1:2", status="joining")
    c1 = await connect(a1)
    try:
        sub = await c1.stream("member-join,member-update")
        assert [m.name for m in await c1.members()] == ["a1"]
        assert await c1.join([gossip_of(a2)]) == 1
        joined = await next_event(sub, MemberEvent)
        assert isinstance(joined, MemberEvent)
        assert {m.name for m in await c1.members()} == {"a1", "a2"}
        only = await c1.members_filtered(name="a2")
        assert [(m.name, m.tags["http"], m.status) for m in only] == [
            ("a2", "127.0.0.1:2", "alive")
        ]
        assert await c1.members_filtered(tags={"status": "act.*"}) == ()

        c2 = await connect(a2)
        try:
            await c2.set_tags({"status": "active"}, delete=["http"])
        finally:
            await c2.close()
        while True:
            event = await next_event(sub, MemberEvent)
            assert isinstance(event, MemberEvent)
            if any(m.name == "a2" and m.tags.get("status") == "active" for m in event.members):
                break
        (a2_seen,) = await c1.members_filtered(name="a2")
        assert "http" not in a2_seen.tags
        await sub.stop()
    finally:
        await c1.close()


async def test_join_nowhere_is_an_error(start_agent: StartAgent) -> None:
    client = await connect(await start_agent("a1"))
    try:
        with pytest.raises(SerfCommandError, match="join"):
            await client.join([f"127.0.0.1:{free_port()}"])
    finally:
        await client.close()


async def test_user_event_query_and_respond(start_agent: StartAgent) -> None:
    a1, a2 = await start_agent("a1"), await start_agent("a2")
    c1, c2 = await connect(a1), await connect(a2)
    try:
        await c1.join([gossip_of(a2)])
        sub2 = await c2.stream("user:deploy,query:ping")
        await c1.user_event("deploy", b"\x00v2\xff", coalesce=False)
        user = await next_event(sub2, UserEvent)
        assert isinstance(user, UserEvent) and user.payload == b"\x00v2\xff"

        answers = await c1.query("ping", b"hi", filter_nodes=["a2"], query_timeout=1.5)
        query = await next_event(sub2, QueryEvent)
        assert isinstance(query, QueryEvent) and query.payload == b"hi"
        await c2.respond(query.id, b"pong from a2")
        records = [r async for r in answers]
        assert [(r.kind, r.source, r.payload) for r in records] == [
            ("response", "a2", b"pong from a2"),
            ("done", "", b""),
        ]
    finally:
        await c1.close()
        await c2.close()


async def test_keyring_rotation(start_agent: StartAgent) -> None:
    a1, a2 = await start_agent("a1"), await start_agent("a2")
    client = await connect(a1)
    try:
        await client.join([gossip_of(a2)])
        old, new = gossip_key(SECRET), gossip_key("the next cluster secret, rotated")
        assert dict((await client.list_keys()).keys) == {old: 2}
        installed = await client.install_key(new)
        assert installed.ok and installed.num_nodes == 2
        assert (await client.use_key(new)).ok
        with pytest.raises(SerfCommandError):
            await client.remove_key(new)  # the primary key cannot be removed
        assert (await client.remove_key(old)).ok
        assert dict((await client.list_keys()).keys) == {new: 2}
        # Gossip still flows under the new key: a tag change reaches the other node.
        updates = await client.stream("member-update")
        c2 = await connect(a2)
        try:
            await c2.set_tags({"rotated": "yes"})
        finally:
            await c2.close()
        while True:
            event = await next_event(updates, MemberEvent)
            assert isinstance(event, MemberEvent)
            if any(m.tags.get("rotated") == "yes" for m in event.members):
                break
    finally:
        await client.close()


async def test_stats_and_monitor(start_agent: StartAgent) -> None:
    client = await connect(await start_agent("a1"))
    try:
        stats = await client.stats()
        assert (stats.agent_name, stats.members, stats.encrypted) == ("a1", 1, True)
        logs = await client.monitor("DEBUG")
        await client.user_event("noise", b"")
        async with asyncio.timeout(10):
            line = await anext(logs)
        assert "[" in line
    finally:
        await client.close()


async def test_dead_agent_fails_calls_with_a_clear_error(start_agent: StartAgent) -> None:
    agent = await start_agent("a1")
    client = await connect(agent)
    sub = await client.stream("*")
    await agent.stop()
    with pytest.raises(SerfConnectionError):
        await anext(sub)
    with pytest.raises(SerfConnectionError):
        await client.members()
    await client.close()
    with pytest.raises(SerfConnectionError):
        await SerfRPC.connect(agent.rpc_addr, TOKEN, call_timeout=1)
