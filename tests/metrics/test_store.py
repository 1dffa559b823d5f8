"""`MeteredStore` counts statestore errors by kind at the one edge every store call crosses."""

from __future__ import annotations

import pytest

from roost.errors import DecryptionError, LeaseHeld, StoreUnavailable
from roost.metrics import MeteredStore, Metrics
from roost.statestore import ActorKey, EncryptedStore, Keyring, MemoryStore, WriteItem, generate_key

K = ActorKey("sys", "a")


def metered(inner: object) -> tuple[MeteredStore, Metrics]:
    m = Metrics(process=False)
    return MeteredStore(inner, m), m  # type: ignore[arg-type]


async def test_outage_counts_once_per_failed_call_of_any_kind() -> None:
    backend = MemoryStore()
    store, m = metered(backend)
    await store.acquire(K, "n1", 10.0)
    backend.down = True
    for call in (
        store.ping(),
        store.acquire(K, "n1", 10.0),
        store.write("n1", [WriteItem(K, b"x", 0)], 10.0),
        store.renew("n1", [K], 10.0),
        store.release("n1", [K]),
        store.read(K),
    ):
        with pytest.raises(StoreUnavailable):
            await call
    assert m.store_errors == {("unavailable",): 6}


async def test_a_held_lease_and_a_lost_cas_are_answers_not_errors() -> None:
    store, m = metered(MemoryStore())
    await store.acquire(K, "n1", 10.0)
    with pytest.raises(LeaseHeld):
        await store.acquire(K, "n2", 10.0)
    assert await store.write("n2", [WriteItem(K, b"x", 0)], 10.0) == [None]
    assert m.store_errors == {}


async def test_unreadable_state_is_a_decrypt_error() -> None:
    backend = MemoryStore()
    other = EncryptedStore(backend, Keyring.from_text(generate_key()))
    await other.acquire(K, "n1", 10.0)
    await other.write("n1", [WriteItem(K, b"{}", 0, release=True)], 10.0)
    store, m = metered(EncryptedStore(backend, Keyring.from_text(generate_key())))
    with pytest.raises(DecryptionError):
        await store.acquire(K, "n2", 10.0)
    assert m.store_errors == {("decrypt",): 1}


def test_handed_off_counts_types_and_times_the_batch() -> None:
    m = Metrics(process=False)
    m.handed_off([("s", "counter"), ("s", "counter"), ("s", "tally")], 0.02)
    assert m.handoffs == {("s", "counter"): 2, ("s", "tally"): 1}
    assert sum(m.handoff_latency.counts) == 1
