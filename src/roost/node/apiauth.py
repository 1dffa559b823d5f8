"""Bearer tokens for the public HTTP API (``ROOST_API_TOKENS``). Pure: the middleware asks
`ApiAuth.refuse` with the matched route and the ``Authorization`` header.

Only the SHA-256 digests of the tokens are kept. A presented token is hashed and compared with
every configured digest by `hmac.compare_digest`, all of them every time, so the time taken does
not say whether (or which) token came close. Open without a token: ``/healthz``, ``/readyz``,
``/metrics`` (unless ``--metrics-auth``: Prometheus can send a bearer token, most scrape configs
don't), and ``/internal/...``, which the cluster signature guards instead.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from roost.errors import ConfigError, Unauthorized

MIN_TOKEN_LENGTH = 16  # shorter is guessable; `roost keygen` makes 44 characters
# probes, and the API description (it holds no secret; clients read it to learn how to call)
OPEN_ROUTES = frozenset({"/healthz", "/readyz", "/openapi.json"})
METRICS_ROUTE = "/metrics"
INTERNAL_PREFIX = "/internal/"
CHALLENGE = 'Bearer realm="roost"'
INVALID = CHALLENGE + ', error="invalid_token"'


def _digest(token: str) -> bytes:
    # surrogatepass: a header with undecodable bytes is still hashed, never a 500
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class ApiAuth:
    """Which requests need a token, and whether the one presented is valid."""

    __slots__ = ("_digests", "_open")

    def __init__(self, tokens: Sequence[str], *, metrics_open: bool = True) -> None:
        if not tokens:
            raise ConfigError("ROOST_API_TOKENS: no token given")
        for i, t in enumerate(tokens, 1):
            if len(t) < MIN_TOKEN_LENGTH:
                raise ConfigError(
                    f"ROOST_API_TOKENS: token {i} has {len(t)} characters; use at least "
                    f"{MIN_TOKEN_LENGTH} (e.g. `roost keygen`)"
                )
        self._digests = tuple(_digest(t) for t in tokens)
        self._open = OPEN_ROUTES | ({METRICS_ROUTE} if metrics_open else frozenset())

    def valid(self, token: str) -> bool:
        digest = _digest(token)
        ok = False
        for d in self._digests:  # no early exit: every digest is compared
            ok |= hmac.compare_digest(d, digest)
        return ok

    def refuse(self, route: str | None, authorization: str | None) -> Unauthorized | None:
        """None when the request may go on; else the 401 to answer, with its challenge in
        ``details["challenge"]`` (the ``WWW-Authenticate`` value). `route` is the matched
        route's pattern (None when nothing matched: that needs a token too, so a caller without
        one cannot map the routes)."""
        if route is not None and (route in self._open or route.startswith(INTERNAL_PREFIX)):
            return None
        token = bearer(authorization)
        if token is None:
            return Unauthorized(
                "this API needs Authorization: Bearer <token> (one of ROOST_API_TOKENS)",
                challenge=CHALLENGE,
            )
        if not self.valid(token):
            return Unauthorized("the bearer token is not valid", challenge=INVALID)
        return None
