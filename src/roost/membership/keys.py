"""Keys derived from the cluster secret, and keyring rotation through the agent's RPC.

One secret (ROOST_CLUSTER_SECRET) yields two independent keys with HKDF-SHA256, each under its
own label, so learning one (e.g. the RPC token from a sidecar's config) reveals nothing about the
other or the secret:

- the gossip key: 32 bytes, base64, Serf's `-encrypt` (AES-256-GCM on every gossip packet);
- the RPC token: Serf's `rpc_auth`, which every RPC client must present after the handshake.

Rotating the secret without downtime: `install_key(new)` on the running cluster, `use_key(new)`,
restart nodes with the new secret (each puts it first in its keyring), then `remove_key(old)`.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from roost.membership.protocol import KeyResponse
    from roost.membership.rpc import SerfRPC

_SALT = b"roost/cluster-secret/v1"
_GOSSIP_INFO = b"roost serf gossip encryption key"
_RPC_INFO = b"roost serf rpc auth token"


def _derive(secret: str, info: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=info)
    return hkdf.derive(secret.encode("utf-8"))


def gossip_key(secret: str) -> str:
    """The base64 32-byte Serf encryption key for this secret (deterministic)."""
    return base64.b64encode(_derive(secret, _GOSSIP_INFO)).decode("ascii")


def rpc_token(secret: str) -> str:
    """The Serf RPC auth token for this secret (deterministic; configure a sidecar with it)."""
    return base64.urlsafe_b64encode(_derive(secret, _RPC_INFO)).decode("ascii").rstrip("=")


def valid_gossip_key(key: str) -> bool:
    """True if `key` is base64 of 16, 24 or 32 bytes, the sizes Serf accepts."""
    try:
        raw = base64.b64decode(key, validate=True)
    except ValueError:
        return False
    return len(raw) in (16, 24, 32)


async def install_key(client: SerfRPC, key: str) -> KeyResponse:
    """Gossip `key` to every member's keyring (still decrypting only; nothing uses it yet)."""
    return await client.install_key(key)


async def use_key(client: SerfRPC, key: str) -> KeyResponse:
    """Make `key` (already installed everywhere) the one every member encrypts with."""
    return await client.use_key(key)


async def remove_key(client: SerfRPC, key: str) -> KeyResponse:
    """Drop `key` from every keyring; members refuse while it is their primary key."""
    return await client.remove_key(key)


async def rotate_secret(client: SerfRPC, new_secret: str) -> KeyResponse:
    """Install and switch the whole cluster to the gossip key of `new_secret`.

    The old key stays installed (so nodes not yet restarted with the new secret keep talking);
    remove it with `remove_key` once every node runs with the new secret.
    """
    key = gossip_key(new_secret)
    await install_key(client, key)
    return await use_key(client, key)
