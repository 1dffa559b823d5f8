"""Keys derived from the cluster secret: Serf's gossip keyring and its RPC token.

One secret (ROOST_CLUSTER_SECRET) yields two independent keys with HKDF-SHA256, each under its
own label, so learning one (e.g. the RPC token from a sidecar's config) reveals nothing about the
other or the secret:

- the gossip key: 32 bytes, base64, Serf's encryption key (AES-256-GCM on every gossip packet);
- the RPC token: Serf's `rpc_auth`, which every RPC client must present after the handshake.

Rotation needs no RPC: the agent's keyring is the key of the current secret (primary: Serf
encrypts with it) followed by the keys of ROOST_CLUSTER_OLD_SECRETS (decrypt only), and it is
rewritten from the configuration at every start. Three rolling restarts rotate the secret; see
docs/membership.md, "Rotating the cluster secret".
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SALT = b"roost/cluster-secret/v1"
_GOSSIP_INFO = b"roost serf gossip encryption key"
_RPC_INFO = b"roost serf rpc auth token"


def _derive(secret: str, info: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=info)
    return hkdf.derive(secret.encode("utf-8"))


def gossip_key(secret: str) -> str:
    """The base64 32-byte Serf encryption key for this secret (deterministic)."""
    return base64.b64encode(_derive(secret, _GOSSIP_INFO)).decode("ascii")


def gossip_keyring(secret: str, old_secrets: Iterable[str] = ()) -> list[str]:
    """Serf's keyring: the key of `secret` first (the one Serf encrypts with), then the keys of
    `old_secrets` (still decrypted), without duplicates."""
    keys = [gossip_key(secret)] + [gossip_key(s) for s in old_secrets]
    return list(dict.fromkeys(keys))


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
