"""Responses of the node's HTTP layers: where a `RoostError` becomes a status and a JSON body.

A leaf module: the API routes, the TLS check and the Spawn-protocol service use it without
importing one another.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web

from roost.errors import Internal, RoostError
from roost.sdk.state import encode_json

log = logging.getLogger("roost.http")

JSON = "application/json"


def error_response(exc: RoostError) -> web.Response:
    """The one place a `RoostError` becomes an HTTP status and body (plus `Retry-After`)."""
    if exc.status >= 500:  # 503s come in floods during drains and outages: debug only
        log.log(logging.DEBUG if exc.status == 503 else logging.WARNING, "%s", exc.message)
    headers = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    resp = web.Response(
        status=exc.status, body=orjson.dumps(exc.to_json()), content_type=JSON, headers=headers
    )
    if exc.details.get("close"):  # the request left the connection unusable (unreadable body)
        resp.force_close()
    return resp


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=encode_reply(data), content_type=JSON)


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
