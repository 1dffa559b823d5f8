"""Reading the query parameters of a statestore URL (`?pool_size=10&connect_timeout=5`).

Each adapter takes the parameters it knows out of the query and refuses the rest, so a typo in
`ROOST_STATESTORE_URL` stops the node at start-up instead of being silently ignored.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from roost.errors import ConfigError
from roost.statestore.url import redact

DEFAULT_POOL_SIZE = 10
DEFAULT_CONNECT_TIMEOUT = 5.0
# Long enough for a 10k-row flush on a busy server, short enough that a wedged connection turns
# into StoreUnavailable before the node's drain timeout (25 s by default) runs out.
DEFAULT_COMMAND_TIMEOUT = 20.0


class QueryParams:
    """The query of one URL, consumed parameter by parameter."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._left: dict[str, str] = {}
        for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
            if name in self._left:
                raise ConfigError(f"statestore URL {redact(url)!r} repeats ?{name}=")
            self._left[name] = value

    def text(self, name: str) -> str | None:
        return self._left.pop(name, None)

    def number(self, name: str, default: float, *, minimum: float, maximum: float) -> float:
        raw = self._left.pop(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not minimum <= value <= maximum:
            raise ConfigError(
                f"statestore URL {redact(self.url)!r}: {name} must be a number from "
                f"{minimum:g} to {maximum:g}, got {raw!r}"
            )
        return value

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        value = self.number(name, default, minimum=minimum, maximum=maximum)
        if value != int(value):
            raise ConfigError(f"statestore URL {redact(self.url)!r}: {name} must be a whole number")
        return int(value)

    def rest(self) -> dict[str, str]:
        """The parameters nobody consumed."""
        left, self._left = self._left, {}
        return left

    def refuse_rest(self, known: str) -> None:
        left = self.rest()
        if left:
            raise ConfigError(
                f"statestore URL {redact(self.url)!r} has unknown parameter(s) "
                f"{', '.join(sorted(left))}; known: {known}"
            )
