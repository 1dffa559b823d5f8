"""Replies of the node's HTTP API: where a `RoostError` becomes a status and a JSON body.

A leaf module: the API routes, the cluster page, the TLS check and the Spawn-protocol service
build `Reply` values with it without importing one another or the server that writes them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson

from roost.errors import Internal, RoostError
from roost.sdk.state import encode_json

log = logging.getLogger("roost.http")

JSON = "application/json"


class Reply:
    """One HTTP response: status, body, media type, extra headers, and whether the connection
    must close after it. The server adds the headers every reply carries (see `server.py`)."""

    __slots__ = ("body", "close", "content_type", "headers", "status")

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        content_type: str | None = JSON,
        headers: Mapping[str, str] | None = None,
        *,
        close: bool = False,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers
        self.close = close


def error_response(exc: RoostError) -> Reply:
    """The one place a `RoostError` becomes an HTTP status and body (plus `Retry-After`)."""
    if exc.status >= 500:  # 503s come in floods during drains and outages: debug only
        log.log(logging.DEBUG if exc.status == 503 else logging.WARNING, "%s", exc.message)
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    challenge = exc.details.get("challenge") if exc.status == 401 else None
    if isinstance(challenge, str):
        headers["WWW-Authenticate"] = challenge
    # details["close"]: the request left the connection unusable (an unreadable body)
    return Reply(
        exc.status,
        orjson.dumps(exc.to_json()),
        headers=headers,
        close=bool(exc.details.get("close")),
    )


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, encode_reply(data), headers=headers)


def error_body(status: int, code: str, message: str) -> Reply:
    """An error the server itself answers (no route, wrong method, unparseable request)."""
    return Reply(status, orjson.dumps({"error": {"code": code, "message": message}}))


def encode_reply(data: Any) -> bytes:
    """An action's reply as JSON bytes (a protobuf message through its JSON mapping)."""
    try:
        return encode_json(data)
    except (TypeError, ValueError):
        pass
    from google.protobuf.json_format import MessageToDict
    from google.protobuf.message import Message

    if isinstance(data, Message):
        return orjson.dumps(MessageToDict(data))
    raise Internal(f"the action's reply is not JSON-serialisable: {type(data).__name__}")
