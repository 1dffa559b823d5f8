"""Ownership leases: exclusivity, expiry by the store's clock, stealing, renew and release."""

from __future__ import annotations

import asyncio
import time

import pytest

from roost.errors import LeaseHeld
from roost.statestore import ActorKey, Row, WriteItem
from tests.statestore.harness import LONG, SHORT, Harness


async def test_lease_is_exclusive_while_it_runs(h: Harness) -> None:
    k = h.key("a")
    await h.store.acquire(k, "n1", LONG)
    other = await h.another()
    with pytest.raises(LeaseHeld) as info:
        await other.acquire(k, "n2", LONG)
    assert info.value.holder == "n1"
    assert 0 < info.value.expires_in <= LONG
    assert (await h.store.read(k)) == Row(None, 0, None, "n1")
    assert (await h.store.acquire(k, "n1", LONG)).owner == "n1"


async def test_refused_acquire_records_no_parent(h: Harness) -> None:
    k = h.key("a")
    await h.store.acquire(k, "n1", LONG)
    with pytest.raises(LeaseHeld):
        await h.store.acquire(k, "n2", LONG, parent="t")
    assert (await h.store.read(k)) == Row(None, 0, None, "n1")


async def test_expired_lease_can_be_taken_and_fences_the_old_owner(h: Harness) -> None:
    k = h.key("a")
    await h.store.acquire(k, "n1", LONG)
    await h.store.write("n1", [WriteItem(k, b"n1-state", 0)], LONG)
    # Shorten the lease through renew, so the "still held" check above never races the clock.
    assert await h.store.renew("n1", [k], SHORT) == set()
    await h.expire(k)
    other = await h.another()
    assert await other.acquire(k, "n2", LONG) == Row(b"n1-state", 1, None, "n2")
    assert await h.store.write("n1", [WriteItem(k, b"zombie", 1)], LONG) == [None]
    assert await h.store.renew("n1", [k], LONG) == {k}
    assert (await h.store.read(k)) == Row(b"n1-state", 1, None, "n2")


async def test_lapsed_lease_nobody_took_still_fences_for_its_owner(h: Harness) -> None:
    k = h.key("a")
    await h.store.acquire(k, "n1", SHORT)
    await h.expire(k)
    assert (await h.store.read(k)) == Row(None, 0, None, None)
    # Nobody else took it, so the revision/owner fence still names n1: its write is safe, and it
    # gets a fresh lease.
    assert await h.store.write("n1", [WriteItem(k, b"late-but-safe", 0)], LONG) == [1]
    with pytest.raises(LeaseHeld) as info:
        await h.store.acquire(k, "n2", LONG)
    assert info.value.expires_in > LONG / 2


async def test_lease_of_a_failed_member_can_be_stolen(h: Harness) -> None:
    k = h.key("a")
    await h.store.acquire(k, "n1", LONG)
    other = await h.another()
    with pytest.raises(LeaseHeld):
        await other.acquire(k, "n2", LONG, steal_from={"n3"})
    assert (await other.acquire(k, "n2", LONG, steal_from={"n3", "n1"})).owner == "n2"
    assert await h.store.write("n1", [WriteItem(k, b"cut-off", 0)], LONG) == [None]
    assert await other.write("n2", [WriteItem(k, b"new-owner", 0)], LONG) == [1]


async def test_renew_extends_held_leases_and_names_lost_ones(h: Harness) -> None:
    mine = [h.key(f"mine-{i}") for i in range(3)]
    theirs, released, missing = h.key("theirs"), h.key("released"), h.key("missing")
    for k in [*mine, released]:
        await h.store.acquire(k, "n1", SHORT)
    await h.store.acquire(theirs, "n2", LONG)
    await h.store.release("n1", [released])
    lost = await h.store.renew("n1", [*mine, theirs, released, missing], LONG)
    assert lost == {theirs, released, missing}
    for k in mine:
        with pytest.raises(LeaseHeld) as info:
            await h.store.acquire(k, "n2", LONG)
        assert info.value.expires_in > LONG / 2


async def test_renew_handles_thousands_of_keys(h: Harness) -> None:
    keys = [h.key(f"k{i}") for i in range(6000)]
    for k in keys[:10]:
        await h.store.acquire(k, "n1", LONG)
    assert await h.store.renew("n1", keys, LONG) == set(keys[10:])


async def test_release_frees_only_own_leases(h: Harness) -> None:
    a, b, c = h.key("a"), h.key("b"), h.key("c")
    await h.store.acquire(a, "n1", LONG)
    await h.store.acquire(b, "n1", LONG)
    await h.store.acquire(c, "n2", LONG)
    await h.store.release("n1", [a, b, c, h.key("missing")])
    assert (await h.store.read(a)) == Row(None, 0, None, None)
    assert (await h.store.read(c)) == Row(None, 0, None, "n2")
    assert (await h.store.acquire(a, "n3", LONG)).owner == "n3"
    with pytest.raises(LeaseHeld):
        await h.store.acquire(c, "n3", LONG)


async def test_concurrent_acquires_have_one_winner(h: Harness) -> None:
    stores = [await h.another() for _ in range(4)]

    async def attempt(k: ActorKey, i: int) -> str | None:
        try:
            return (await stores[i % 4].acquire(k, f"n{i}", LONG)).owner
        except LeaseHeld:
            return None

    for round_ in range(5):
        k = h.key(f"contended-{round_}")
        winners = [w for w in await asyncio.gather(*(attempt(k, i) for i in range(12))) if w]
        assert len(winners) == 1
        assert (await h.store.read(k)) == Row(None, 0, None, winners[0])


async def test_network_stores_judge_leases_by_the_server_clock(
    sql_h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = sql_h
    k = h.key("skewed")
    real = time.time
    # This node's wall clock runs an hour fast; a lease judged by it would look expired to
    # itself and to every node behind it.
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    await h.store.acquire(k, "n1", LONG)
    other = await h.another()
    with pytest.raises(LeaseHeld) as info:
        await other.acquire(k, "n2", LONG)
    assert LONG / 2 < info.value.expires_in <= LONG
