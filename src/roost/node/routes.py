"""The route table of the HTTP API: method + path pattern (`{name}` segments) -> handler.

Matching splits the path once and compares segment by segment within the patterns of the same
length, so the invoke route costs a dict lookup and a short loop, not a regex per route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

from roost.node.request import Request
from roost.node.responses import Reply

AsyncHandler = Callable[[Request], Awaitable[Reply]]
# A check run from the request line and headers alone, before the body is read: a Reply refuses
# the request there (a 429 costs no body read and no task), None lets the handler run.
Gate = Callable[[Request], Reply | None]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: str  # the canonical form, e.g. /v1/systems/{system}/actors/{actor}/state
    handler: AsyncHandler
    gate: Gate | None
    parts: tuple[str | None, ...]  # literal segments, None where a parameter goes
    names: tuple[str, ...]


class Routes:
    """The routes, grouped by segment count. HEAD is answered by the GET route of a path."""

    def __init__(self) -> None:
        self._by_len: dict[int, list[Route]] = {}
        self._all: list[Route] = []

    def add(
        self, method: str, pattern: str, handler: AsyncHandler, gate: Gate | None = None
    ) -> None:
        segs = pattern.split("/")
        parts = tuple(None if s.startswith("{") and s.endswith("}") else s for s in segs)
        names = tuple(s[1:-1] for s in segs if s.startswith("{") and s.endswith("}"))
        route = Route(method, pattern, handler, gate, parts, names)
        self._by_len.setdefault(len(segs), []).append(route)
        self._all.append(route)

    def get(self, pattern: str, handler: AsyncHandler, gate: Gate | None = None) -> None:
        self.add("GET", pattern, handler, gate)

    def post(self, pattern: str, handler: AsyncHandler, gate: Gate | None = None) -> None:
        self.add("POST", pattern, handler, gate)

    def routes(self) -> list[tuple[str, str]]:
        """(method, pattern) of every route, in the order added."""
        return [(r.method, r.pattern) for r in self._all]

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """The route for `method` on `path` (raw, percent-encoded) and its decoded parameters;
        with no route, the methods the path allows (empty: no such path)."""
        segs = path.split("/")
        allowed: list[str] = []
        want = "GET" if method == "HEAD" else method
        for route in self._by_len.get(len(segs), ()):
            params = _params(route, segs)
            if params is None:
                continue
            if route.method == want:
                return route, params, allowed
            allowed.append(route.method)
        return None, {}, allowed


def _params(route: Route, segs: list[str]) -> dict[str, str] | None:
    values: list[str] = []
    for lit, seg in zip(route.parts, segs, strict=True):
        if lit is None:
            if not seg:
                return None  # an empty parameter matches no route (as aiohttp's router)
            values.append(unquote(seg) if "%" in seg else seg)
        elif lit != seg:
            return None
    return dict(zip(route.names, values, strict=True))
