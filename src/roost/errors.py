"""Every error Roost raises, in one tree.

    RoostError                      base; `code` is the wire code, `status` the HTTP status
    ├── BadRequest                  400 bad_request: malformed input (actions may raise it too)
    ├── Unauthorized                401 unauthorized
    ├── Forbidden                   403 forbidden
    ├── NotFound                    404
    │   ├── SystemNotFound              system_not_found
    │   ├── ActorNotFound               actor_not_found
    │   └── ActionNotFound              action_not_found
    ├── PayloadTooLarge             413 payload_too_large
    ├── UnsupportedMediaType        415 unsupported_media_type
    ├── Overloaded                  429 overloaded (retryable)
    ├── ActionFailed                500 action_failed: the actor's code raised
    ├── Internal                    500 internal: a bug or unreadable stored state
    │   └── DecryptionError             stored state cannot be decrypted with any known key
    ├── Unavailable                 503 unavailable (retryable): draining, not ready, owner gone
    │   ├── StoreUnavailable            the statestore cannot be reached
    │   ├── NotOwner                    this node does not own the actor (internal routing)
    │   ├── NotPlaced                   not_placed: a forwarded call found no node; nothing ran
    │   ├── LeaseHeld                   another node holds the actor's ownership lease
    │   └── HostUnavailable             an external actor host (Spawn protocol) is down
    ├── StateConflict               409 state_conflict (retryable): a fenced write lost its race
    ├── Timeout                     504 timeout
    └── ConfigError                 bad configuration at start-up (never sent over HTTP)

Foreign exceptions (driver errors, aiohttp errors) are translated at the edge that meets them,
with ``raise ... from exc``; nothing outside this tree crosses a module boundary on purpose.
"""

from __future__ import annotations

from typing import Any, ClassVar

# Seconds a refused caller is told to wait (Retry-After) when nothing ran and trying again soon is
# right: a mailbox drains at the actor's turn rate (turns take milliseconds) and a view settles in
# well under a second, so what is refused now is usually gone within one; HTTP's Retry-After counts
# whole seconds and 1 is its smallest useful value. Clients add their own jitter.
RETRY_AFTER = 1.0


class RoostError(Exception):
    """Base of every Roost error. `code` and `status` are what the HTTP API sends."""

    code: ClassVar[str] = "internal"
    status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = details

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class BadRequest(RoostError):
    """The request (or an action's input) is malformed. Actions raise it to answer 400."""

    code = "bad_request"
    status = 400


class Unauthorized(RoostError):
    code = "unauthorized"
    status = 401


class Forbidden(RoostError):
    code = "forbidden"
    status = 403


class NotFound(RoostError):
    code = "not_found"
    status = 404


class SystemNotFound(NotFound):
    code = "system_not_found"


class ActorNotFound(NotFound):
    code = "actor_not_found"


class ActionNotFound(NotFound):
    code = "action_not_found"


class PayloadTooLarge(RoostError):
    code = "payload_too_large"
    status = 413


class UnsupportedMediaType(RoostError):
    code = "unsupported_media_type"
    status = 415


class Overloaded(RoostError):
    code = "overloaded"
    status = 429
    retryable = True

    def __init__(self, message: str = "", retry_after: float = 1.0, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class ActionFailed(RoostError):
    """The actor's own code raised; its state was rolled back to before the turn."""

    code = "action_failed"
    status = 500


class Internal(RoostError):
    code = "internal"
    status = 500


class DecryptionError(Internal):
    """Stored state failed authentication: wrong key, tampering, or a row moved elsewhere."""

    code = "state_unreadable"


class Unavailable(RoostError):
    """Try again later (the `Retry-After` seconds are a hint)."""

    code = "unavailable"
    status = 503
    retryable = True

    def __init__(self, message: str = "", retry_after: float = 1.0, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class StoreUnavailable(Unavailable):
    """The statestore did not answer; nothing was written."""


class NotOwner(Unavailable):
    """This node is not (or no longer) the owner; `owner` names who is, when known."""

    def __init__(self, message: str = "", owner: str | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.owner = owner


class NotPlaced(Unavailable):
    """Internal routing: a forwarded call could not be placed (hop limit, owner unreachable) and
    nothing ran. Its own code lets it cross the internal API, so the node where the call entered
    backs off and places it again, instead of every hop waiting (and forwarding) on its own."""

    code = "not_placed"


class LeaseHeld(Unavailable):
    """Another node holds the ownership lease of the actor."""

    def __init__(
        self, message: str = "", holder: str = "", expires_in: float = 0.0, **details: Any
    ) -> None:
        super().__init__(message, **details)
        self.holder = holder
        self.expires_in = expires_in


class HostUnavailable(Unavailable):
    """The actor host that runs an actor's code (a Spawn SDK process) cannot be reached; the turn
    changed nothing, so the caller may retry."""


class StateConflict(RoostError):
    """A compare-and-set write found another revision or owner: the writer must step down."""

    code = "state_conflict"
    status = 409
    retryable = True


class Timeout(RoostError):
    code = "timeout"
    status = 504


class ConfigError(RoostError):
    """Configuration that cannot work; raised at start-up with a message that says how to fix it."""

    code = "config_error"
    status = 500


def _all_subclasses(cls: type[RoostError]) -> list[type[RoostError]]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


# The most general class for each wire code (a subclass that only refines meaning, like
# StoreUnavailable, shares its parent's code and must not shadow it).
_BY_CODE: dict[str, type[RoostError]] = {}
for _cls in _all_subclasses(RoostError):
    _BY_CODE.setdefault(_cls.code, _cls)


def error_from_code(code: str, message: str, status: int | None = None) -> RoostError:
    """Rebuild the error a peer or a node sent as JSON, so it can be raised again here."""
    cls = _BY_CODE.get(code)
    if cls is None:
        if status is not None and 400 <= status < 500:
            return BadRequest(message)
        return Internal(f"{code}: {message}")
    return cls(message)


def error_from_body(status: int, body: bytes) -> RoostError:
    """The error a peer answered with, from its JSON error body."""
    import json

    try:
        err = json.loads(body)["error"]
        return error_from_code(str(err["code"]), str(err["message"]), status)
    except (ValueError, KeyError, TypeError):
        if status == 401:
            return Unauthorized("peer refused the cluster credentials")
        return Internal(f"peer answered HTTP {status}: {body[:200]!r}")
