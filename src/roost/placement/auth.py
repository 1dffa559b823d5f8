"""Node-to-node request signing with the cluster secret (pure: `now` is passed in).

A signed request carries ``X-Roost-Signature: t=<unix seconds>,n=<nonce>,s=<hex>`` where ``s`` is
HMAC-SHA256 over method, path with query, the SHA-256 of the body, ``t`` and ``n``, keyed by a
key derived from ROOST_CLUSTER_SECRET. The verifier accepts a timestamp within `window` seconds of
its own clock and remembers nonces for that window, so a captured request cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import OrderedDict

from roost.errors import Unauthorized

HEADER = "X-Roost-Signature"
WINDOW = 60.0


def derive_key(secret: str | None, label: str) -> bytes:
    """A purpose-specific key from the cluster secret (HKDF-style extract-and-expand)."""
    prk = hmac.new(b"roost-cluster-v1", (secret or "").encode(), hashlib.sha256).digest()
    return hmac.new(prk, label.encode() + b"\x01", hashlib.sha256).digest()


def _mac(key: bytes, method: str, path: str, body: bytes, t: int, nonce: str) -> str:
    msg = b"\n".join(
        [method.upper().encode(), path.encode(), hashlib.sha256(body).hexdigest().encode(),
         str(t).encode(), nonce.encode()]
    )  # fmt: skip
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def sign(key: bytes, method: str, path: str, body: bytes, now: float) -> str:
    t = int(now)
    nonce = os.urandom(12).hex()
    return f"t={t},n={nonce},s={_mac(key, method, path, body, t, nonce)}"


class Verifier:
    """Checks signatures and remembers recent nonces (bounded memory)."""

    def __init__(self, key: bytes, window: float = WINDOW, max_nonces: int = 200_000) -> None:
        self._key = key
        self._window = window
        self._max = max_nonces
        self._seen: OrderedDict[str, int] = OrderedDict()

    def verify(self, header: str | None, method: str, path: str, body: bytes, now: float) -> None:
        if not header:
            raise Unauthorized("internal route: missing cluster signature")
        try:
            parts = dict(p.split("=", 1) for p in header.split(","))
            t, nonce, sig = int(parts["t"]), parts["n"], parts["s"]
        except (ValueError, KeyError):
            raise Unauthorized("internal route: malformed cluster signature") from None
        if abs(now - t) > self._window:
            raise Unauthorized("internal route: signature timestamp outside the replay window")
        if not hmac.compare_digest(sig, _mac(self._key, method, path, body, t, nonce)):
            raise Unauthorized("internal route: bad cluster signature")
        if nonce in self._seen:
            raise Unauthorized("internal route: replayed request")
        self._seen[nonce] = t
        horizon = now - self._window
        while self._seen and (
            len(self._seen) > self._max or next(iter(self._seen.values())) < horizon
        ):
            self._seen.popitem(last=False)
