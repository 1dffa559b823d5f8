"""The `StateStore` contract, run against every store: memory, SQLite, PostgreSQL, MariaDB."""

from __future__ import annotations

import pytest

from roost.errors import BadRequest
from roost.statestore import ActorKey, Row, WriteItem
from roost.statestore.keys import MAX_ACTOR_BYTES
from tests.statestore.harness import LONG, Harness


async def test_round_trip(h: Harness) -> None:
    k = h.key("counter")
    assert await h.store.acquire(k, "n1", LONG) == Row(None, 0, None, "n1")
    assert await h.store.write("n1", [WriteItem(k, b"state-1", 0)], LONG) == [1]
    assert await h.store.read(k) == Row(b"state-1", 1, None, "n1")
    assert await h.store.write("n1", [WriteItem(k, b"state-2", 1)], LONG) == [2]
    assert await h.store.acquire(k, "n1", LONG) == Row(b"state-2", 2, None, "n1")


async def test_read_of_unknown_actor_is_none(h: Harness) -> None:
    assert await h.store.read(h.key("nobody")) is None


async def test_write_at_wrong_revision_changes_nothing(h: Harness) -> None:
    k = h.key("a")
    await h.store.acquire(k, "n1", LONG)
    assert await h.store.write("n1", [WriteItem(k, b"one", 0)], LONG) == [1]
    assert await h.store.write("n1", [WriteItem(k, b"stale", 0)], LONG) == [None]
    assert await h.store.write("n1", [WriteItem(k, b"future", 7)], LONG) == [None]
    assert await h.store.read(k) == Row(b"one", 1, None, "n1")


async def test_write_by_non_owner_changes_nothing(h: Harness) -> None:
    k = h.key("a")
    await h.store.acquire(k, "n1", LONG)
    await h.store.write("n1", [WriteItem(k, b"mine", 0)], LONG)
    other = await h.another()
    assert await other.write("n2", [WriteItem(k, b"theirs", 1)], LONG) == [None]
    assert await h.store.read(k) == Row(b"mine", 1, None, "n1")


async def test_write_to_row_never_acquired_fails(h: Harness) -> None:
    k = h.key("ghost")
    assert await h.store.write("n1", [WriteItem(k, b"x", 0)], LONG) == [None]
    assert await h.store.read(k) is None


async def test_batch_reports_each_item(h: Harness) -> None:
    ok, stale, foreign, missing = (h.key(n) for n in ("ok", "stale", "foreign", "missing"))
    for k in (ok, stale):
        await h.store.acquire(k, "n1", LONG)
    await h.store.write("n1", [WriteItem(stale, b"s1", 0)], LONG)
    await h.store.acquire(foreign, "n2", LONG)
    items = [
        WriteItem(ok, b"ok", 0),
        WriteItem(stale, b"s-old", 0),
        WriteItem(foreign, b"f", 0),
        WriteItem(missing, b"m", 0),
    ]
    assert await h.store.write("n1", items, LONG) == [1, None, None, None]
    assert (await h.store.read(ok)) == Row(b"ok", 1, None, "n1")
    assert (await h.store.read(stale)) == Row(b"s1", 1, None, "n1")
    assert (await h.store.read(foreign)) == Row(None, 0, None, "n2")
    assert await h.store.read(missing) is None


async def test_key_repeated_in_one_batch_applies_in_order(h: Harness) -> None:
    k = h.key("twice")
    await h.store.acquire(k, "n1", LONG)
    items = [WriteItem(k, b"a", 0), WriteItem(k, b"b", 1), WriteItem(k, b"c", 0)]
    assert await h.store.write("n1", items, LONG) == [1, 2, None]
    assert await h.store.read(k) == Row(b"b", 2, None, "n1")


async def test_empty_calls_are_no_ops(h: Harness) -> None:
    assert await h.store.write("n1", [], LONG) == []
    assert await h.store.renew("n1", [], LONG) == set()
    await h.store.release("n1", [])


async def test_write_with_release_hands_the_row_over(h: Harness) -> None:
    k = h.key("handoff")
    await h.store.acquire(k, "n1", LONG)
    assert await h.store.write("n1", [WriteItem(k, b"final", 0, release=True)], LONG) == [1]
    assert await h.store.read(k) == Row(b"final", 1, None, None)
    other = await h.another()
    assert await other.acquire(k, "n2", LONG) == Row(b"final", 1, None, "n2")
    assert await h.store.write("n1", [WriteItem(k, b"late", 1)], LONG) == [None]


async def test_register_records_parent_once(h: Harness) -> None:
    k = h.key("instance-1")
    await h.store.register(k, "template")
    assert await h.store.read(k) == Row(None, 0, "template", None)
    await h.store.register(k, "another-template")
    assert (await h.store.read(k)) == Row(None, 0, "template", None)
    assert await h.store.acquire(k, "n1", LONG, parent="ignored") == Row(None, 0, "template", "n1")


async def test_acquire_records_parent_on_rows_without_one(h: Harness) -> None:
    fresh, plain = h.key("fresh"), h.key("plain")
    assert (await h.store.acquire(fresh, "n1", LONG, parent="t")).parent == "t"
    await h.store.acquire(plain, "n1", LONG)
    assert (await h.store.acquire(plain, "n1", LONG, parent="t2")).parent == "t2"
    assert (await h.store.read(plain)) == Row(None, 0, "t2", "n1")


async def test_scan_pages_in_code_point_order(h: Harness) -> None:
    names = [
        "b",
        "B",
        "a",
        "A",
        "é",
        "e",
        "z",
        "Z",
        "ä",
        "a b",
        "a\u00a0",
        "日本",
        "😀",
        "a-",
        "a_",
    ]
    systems = [f"{h.system}-x", f"{h.system}-Y"]
    written = []
    for system in systems:
        for name in names:
            k = ActorKey(system, name)
            await h.store.acquire(k, "n1", LONG)
            await h.store.write("n1", [WriteItem(k, name.encode(), 0)], LONG)
            written.append(k)
    await h.store.register(ActorKey(systems[0], "no-state-yet"), "t")
    seen: list[ActorKey] = []
    after = None
    while page := await h.store.scan(after, 4):
        assert len(page) <= 4
        seen += [r.key for r in page]
        assert all(r.data == r.key.actor.encode() and r.revision == 1 for r in page)
        after = page[-1].key
    assert seen == sorted(written)
    assert [r.key for r in await h.store.scan(sorted(written)[5], 2)] == sorted(written)[6:8]


async def test_rewrite_is_fenced_on_revision_and_content(h: Harness) -> None:
    k = h.key("rot")
    await h.store.acquire(k, "n1", LONG)
    await h.store.write("n1", [WriteItem(k, b"v1", 0)], LONG)
    assert await h.store.rewrite(k, 1, b"v1", b"v1-resealed") is True
    assert await h.store.read(k) == Row(b"v1-resealed", 1, None, "n1")
    assert await h.store.rewrite(k, 1, b"v1", b"lost-race") is False
    assert await h.store.rewrite(k, 0, b"v1-resealed", b"old-revision") is False
    assert await h.store.rewrite(h.key("missing"), 0, b"", b"x") is False
    assert (await h.store.read(k)) == Row(b"v1-resealed", 1, None, "n1")


async def test_keys_differing_in_case_or_trailing_space_are_distinct(h: Harness) -> None:
    names = ["alice", "Alice", "alice ", "alice  "]
    for i, name in enumerate(names):
        k = h.key(name)
        assert await h.store.acquire(k, f"n{i}", LONG) == Row(None, 0, None, f"n{i}")
        assert await h.store.write(f"n{i}", [WriteItem(k, name.encode(), 0)], LONG) == [1]
    for i, name in enumerate(names):
        assert await h.store.read(h.key(name)) == Row(name.encode(), 1, None, f"n{i}")


@pytest.mark.parametrize(
    "actor",
    ["", "nul\x00inside", "x" * (MAX_ACTOR_BYTES + 1), "é" * (MAX_ACTOR_BYTES // 2 + 1), "\udc80"],
    ids=["empty", "nul", "too-long", "too-long-utf8", "lone-surrogate"],
)
async def test_keys_no_store_can_hold_are_refused(h: Harness, actor: str) -> None:
    k = h.key(actor)
    with pytest.raises(BadRequest):
        await h.store.acquire(k, "n1", LONG)
    with pytest.raises(BadRequest):
        await h.store.register(k, "t")
    assert await h.store.scan(None, 10) == []


async def test_longest_allowed_key_round_trips(h: Harness) -> None:
    k = ActorKey("s" * 255, "é" * (MAX_ACTOR_BYTES // 2))
    await h.store.acquire(k, "n" * 255, LONG)
    assert await h.store.write("n" * 255, [WriteItem(k, b"x", 0)], LONG) == [1]
    assert (await h.store.read(k)) == Row(b"x", 1, None, "n" * 255)


async def test_states_of_any_bytes_and_size_round_trip(h: Harness) -> None:
    every_byte = bytes(range(256)) * 4
    big = bytes((i * 7919) % 256 for i in range(1024 * 1024 + 3))
    states = {
        "empty": b"",
        "every-byte": every_byte,
        "unicode ☃ 名前 🚀": '{"name": "Zoë", "emoji": "🚀"}'.encode(),
        "one-mebibyte": big,
    }
    for name, data in states.items():
        k = h.key(name)
        await h.store.acquire(k, "n1", LONG)
        assert await h.store.write("n1", [WriteItem(k, data, 0)], LONG) == [1]
    for name, data in states.items():
        row = await h.store.read(h.key(name))
        assert row is not None and row.data == data, name
    assert len(await h.store.scan(None, 10)) == len(states)


async def test_delete_removes_only_rows_the_node_holds(h: Harness) -> None:
    mine, theirs, free = h.key("mine"), h.key("theirs"), h.key("free")
    await h.store.acquire(mine, "n1", LONG)
    await h.store.write("n1", [WriteItem(mine, b"x", 0)], LONG)
    await h.store.acquire(theirs, "n2", LONG)
    await h.store.register(free, "tpl")
    await h.store.delete("n1", [mine, theirs, free, h.key("missing")])
    assert await h.store.read(mine) is None
    assert await h.store.read(theirs) == Row(None, 0, None, "n2")
    assert await h.store.read(free) == Row(None, 0, "tpl", None)
    await h.store.delete("n1", [])  # a no-op
