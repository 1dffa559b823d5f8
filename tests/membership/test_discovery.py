"""Seed resolution and the join decision: fake resolvers, and a real DNS server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from roost.membership.discovery import Discovery, Resolution, parse_seeds, plan_join
from roost.membership.dnsclient import DnsError, nameserver_resolver

from .dns_server import TestDnsServer


class FakeResolver:
    """Answers from a dict; names missing (or mapped to an exception) fail like DNS would."""

    def __init__(self, table: dict[str, Sequence[str] | Exception]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def __call__(self, name: str) -> Sequence[str]:
        self.asked.append(name)
        answer = self.table.get(name, OSError(f"{name}: not found"))
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeBrowser:
    def __init__(self, found: Sequence[str]) -> None:
        self.found = list(found)

    async def peers(self) -> Sequence[str]:
        return self.found


async def test_static_and_dns_seeds_resolve_every_a_record() -> None:
    resolver = FakeResolver({"svc": ["10.0.0.1", "10.0.0.2", "10.0.0.3"], "seed": ["10.0.1.1"]})
    d = Discovery(parse_seeds(["10.9.9.9:7000", "dns:svc", "seed:7001"]), resolver)
    r = await d.resolve()
    assert r.addresses == (
        "10.9.9.9:7000",
        "10.0.0.1:7946",
        "10.0.0.2:7946",
        "10.0.0.3:7946",
        "10.0.1.1:7001",
    )
    assert r.complete
    assert resolver.asked == ["svc", "seed"]  # an IP literal needs no lookup


async def test_dns_is_asked_again_on_every_attempt() -> None:
    resolver = FakeResolver({})
    d = Discovery(parse_seeds(["dns:svc"]), resolver)
    first = await d.resolve()
    assert not first.complete and first.addresses == ()
    resolver.table["svc"] = ["10.0.0.7"]
    second = await d.resolve()
    assert second.complete and second.addresses == ("10.0.0.7:7946",)
    assert resolver.asked == ["svc", "svc"]


async def test_empty_mdns_browse_is_an_answer() -> None:
    d = Discovery(parse_seeds(["mdns"]), FakeResolver({}), FakeBrowser([]))
    r = await d.resolve()
    assert r.complete and r.addresses == ()


def test_plan_join() -> None:
    me = {"10.0.0.1:7946"}
    only_me = Resolution(("10.0.0.1:7946",), ())
    assert plan_join(only_me, me).alone
    others = Resolution(("10.0.0.1:7946", "10.0.0.2:7946"), ())
    plan = plan_join(others, me)
    assert plan.targets == ("10.0.0.2:7946",) and not plan.alone
    pending = Resolution(("10.0.0.1:7946",), ("dns:svc: timeout",))
    plan = plan_join(pending, me)
    assert plan.targets == () and not plan.alone  # retry: some seed has not answered yet


@pytest.fixture
async def dns() -> AsyncIterator[TestDnsServer]:
    server = await TestDnsServer(
        {"roost-headless.test.svc": ["127.0.0.11", "127.0.0.12", "127.0.0.13"]}
    ).start()
    yield server
    await server.close()


async def test_nameserver_resolver_returns_all_a_records(dns: TestDnsServer) -> None:
    resolve = nameserver_resolver(dns.address)
    assert list(await resolve("roost-headless.test.svc")) == [
        "127.0.0.11",
        "127.0.0.12",
        "127.0.0.13",
    ]
    assert list(await resolve("nobody.test.svc")) == []  # NXDOMAIN: no addresses


async def test_nameserver_resolver_falls_back_to_tcp_when_truncated() -> None:
    many = [f"127.0.1.{i}" for i in range(1, 60)]
    server = await TestDnsServer({"big.svc": many}, truncate_udp=True).start()
    try:
        assert list(await nameserver_resolver(server.address)("big.svc")) == many
    finally:
        await server.close()


async def test_nameserver_resolver_reports_a_dead_server() -> None:
    server = await TestDnsServer({}).start()
    address = server.address
    await server.close()
    with pytest.raises(DnsError):
        await nameserver_resolver(address, attempts=2, wait=0.2)("x.svc")


async def test_dns_seed_through_real_resolver(dns: TestDnsServer) -> None:
    d = Discovery(
        parse_seeds(["dns:roost-headless.test.svc:17946"]), nameserver_resolver(dns.address)
    )
    r = await d.resolve()
    assert r.addresses == ("127.0.0.11:17946", "127.0.0.12:17946", "127.0.0.13:17946")
