"""Errors of the Serf edge, all under `roost.errors.Unavailable`: a node cannot gossip, retry.

    Unavailable
    └── SerfError                    anything that went wrong talking to or running Serf
        ├── SerfConnectionError          the agent cannot be reached or the connection dropped
        ├── SerfCommandError             the agent answered a command with an error string
        ├── SerfProtocolError            the bytes on the wire are not what Serf's RPC promises
        ├── SerfAuthError                the RPC auth key was refused (not retryable)
        └── SerfAgentError               the `serf agent` child could not be started

Nothing from `asyncio`, `msgpack` or `OSError` leaves this package: the RPC client and the agent
supervisor translate them here, with ``raise ... from exc``.
"""

from __future__ import annotations

from roost.errors import RoostError, Unavailable


class SerfError(Unavailable):
    """Serf could not do what was asked; membership is degraded until it can."""


class SerfConnectionError(SerfError):
    """The agent's RPC port refused us, or the connection to it dropped."""


class SerfCommandError(SerfError):
    """The agent ran the command and reported an error (e.g. a join that reached no node)."""

    def __init__(self, message: str = "", command: str = "") -> None:
        super().__init__(message, command=command)
        self.command = command


class SerfProtocolError(SerfError):
    """The agent speaks another RPC version, or sent something we cannot decode."""

    retryable = False


class SerfAuthError(SerfError):
    """The agent refused our RPC auth key: the cluster secret differs from the agent's."""

    retryable = False


class SerfAgentError(SerfError):
    """The `serf agent` child exited during start-up; the message carries its last log lines."""


def first_error(error: BaseException) -> BaseException:
    """The first RoostError inside (nested) exception groups, else the first leaf."""
    leaves: list[BaseException] = []
    stack = [error]
    while stack:
        e = stack.pop(0)
        if isinstance(e, BaseExceptionGroup):
            stack[:0] = list(e.exceptions)
        else:
            leaves.append(e)
    for leaf in leaves:
        if isinstance(leaf, RoostError):
            return leaf
    return leaves[0] if leaves else error
