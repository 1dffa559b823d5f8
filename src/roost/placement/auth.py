"""Node-to-node request signing with the cluster secret (pure: `now` is passed in).

A signed request carries ``X-Roost-Signature: t=<unix seconds>,n=<nonce>,s=<hex>`` where ``s`` is
HMAC-SHA256 over method, path with query, the SHA-256 of the body, ``t`` and ``n``, keyed by a
key derived from ROOST_CLUSTER_SECRET. The verifier accepts a timestamp within `window` seconds of
its own clock and remembers nonces for that window, so a captured request cannot be replayed.
During a secret rotation it also accepts the keys of ROOST_CLUSTER_OLD_SECRETS; a node always
signs with the key of its current secret.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import OrderedDict
from collections.abc import Sequence

from roost.errors import Unauthorized

HEADER = "X-Roost-Signature"
WINDOW = 60.0


def derive_key(secret: str | None, label: str) -> bytes:
    """A purpose-specific key from the cluster secret (HKDF-style extract-and-expand)."""
    prk = hmac.new(b"roost-cluster-v1", (secret or "").encode(), hashlib.sha256).digest()
    return hmac.new(prk, label.encode() + b"\x01", hashlib.sha256).digest()


def _message(method: str, path: str, body: bytes, t: int, nonce: str) -> bytes:
    return b"\n".join(
        [method.upper().encode(), path.encode(), hashlib.sha256(body).hexdigest().encode(),
         str(t).encode(), nonce.encode()]
    )  # fmt: skip


def _mac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(key: bytes, method: str, path: str, body: bytes, now: float) -> str:
    t = int(now)
    nonce = os.urandom(12).hex()
    return f"t={t},n={nonce},s={_mac(key, _message(method, path, body, t, nonce))}"


class Verifier:
    """Checks signatures and remembers recent nonces (bounded memory).

    When more than `max_nonces` signed requests arrive within the window, the oldest nonces are
    forgotten early; the verifier then refuses every timestamp up to the newest one it forgot
    (`_floor`), so a forgotten nonce can never be replayed. A peer's request is signed just
    before it is sent, so only requests delayed by seconds at that rate are refused (and retried).

    A signature made with `key` or with any of `old_keys` is accepted (a rotation in progress);
    every key is compared, in constant time, and all of them share the one nonce memory.
    """

    def __init__(
        self,
        key: bytes,
        window: float = WINDOW,
        max_nonces: int = 200_000,
        *,
        old_keys: Sequence[bytes] = (),
    ) -> None:
        self._keys = tuple(dict.fromkeys((key, *old_keys)))
        self._window = window
        self._max = max_nonces
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._floor = -1  # timestamps at or below this may have had their nonce forgotten

    def verify(self, header: str | None, method: str, path: str, body: bytes, now: float) -> None:
        if not header:
            raise Unauthorized("internal route: missing cluster signature")
        if not header.isascii():  # we sign in ASCII; compare_digest and encode() would raise
            raise Unauthorized("internal route: malformed cluster signature")
        try:
            parts = dict(p.split("=", 1) for p in header.split(","))
            t, nonce, sig = int(parts["t"]), parts["n"], parts["s"]
        except (ValueError, KeyError):
            raise Unauthorized("internal route: malformed cluster signature") from None
        if abs(now - t) > self._window or t <= self._floor:
            raise Unauthorized("internal route: signature timestamp outside the replay window")
        message = _message(method, path, body, t, nonce)
        # every key is tried (no early exit), so the time taken does not tell which one matched
        matches = [hmac.compare_digest(sig, _mac(key, message)) for key in self._keys]
        if not any(matches):
            raise Unauthorized("internal route: bad cluster signature")
        if nonce in self._seen:
            raise Unauthorized("internal route: replayed request")
        self._seen[nonce] = t
        horizon = now - self._window
        while self._seen and next(iter(self._seen.values())) < horizon:
            self._seen.popitem(last=False)  # outside the window: refused by its timestamp anyway
        while len(self._seen) > self._max:
            _, forgotten = self._seen.popitem(last=False)
            self._floor = max(self._floor, forgotten)
