"""Limits on what a store accepts as a key, node id or parent, shared by every adapter.

The SQL adapters index keys as bytes (MySQL VARBINARY) or text that cannot hold NUL (PostgreSQL),
so every adapter refuses the same inputs up front with `BadRequest` instead of letting each
database fail in its own way. Also the batching helpers the SQL adapters share.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

from roost.errors import BadRequest
from roost.statestore.base import ActorKey, WriteItem

MAX_SYSTEM_BYTES = 255
MAX_ACTOR_BYTES = 1024
MAX_NODE_BYTES = 255

T = TypeVar("T")


def _check_text(value: str, what: str, limit: int) -> None:
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise BadRequest(f"{what} {value!r} is not valid Unicode text") from exc
    if size == 0 or size > limit:
        raise BadRequest(f"{what} must be 1 to {limit} bytes of UTF-8, got {size}")
    if "\x00" in value:
        raise BadRequest(f"{what} {value!r} contains a NUL character")


def check_key(key: ActorKey) -> None:
    """Raise `BadRequest` unless every store can keep `key` exactly as given."""
    _check_text(key.system, "system name", MAX_SYSTEM_BYTES)
    _check_text(key.actor, "actor name", MAX_ACTOR_BYTES)


def check_keys(keys: Sequence[ActorKey]) -> None:
    for k in keys:
        check_key(k)


def check_node(node_id: str) -> None:
    _check_text(node_id, "node id", MAX_NODE_BYTES)


def check_parent(parent: str | None) -> None:
    if parent is not None:
        _check_text(parent, "parent", MAX_ACTOR_BYTES)


def rounds(items: Sequence[WriteItem]) -> list[list[tuple[int, WriteItem]]]:
    """Split a batch so no key appears twice in one round, keeping each key's order.

    A set-based UPDATE touches a row once per statement, while the protocol applies repeated keys
    one after another; running the rounds in order gives the sequential result.
    """
    out: list[list[tuple[int, WriteItem]]] = []
    seen: dict[ActorKey, int] = {}
    for i, it in enumerate(items):
        n = seen.get(it.key, 0)
        seen[it.key] = n + 1
        if n == len(out):
            out.append([])
        out[n].append((i, it))
    return out


def chunks(seq: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]
