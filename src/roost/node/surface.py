"""What the node's network layers need of the node, as narrow protocols.

The HTTP API, the status page and the Spawn-protocol service are typed against these, not
against `Node`: `node.py` builds and wires every part, and nothing imports `node.py`. A leaf
module (it imports only types), so any layer can depend on it.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from roost.membership.base import Member, MemberView
    from roost.metrics import Metrics
    from roost.node.apiauth import ApiAuth
    from roost.node.config import NodeConfig
    from roost.node.core import Core
    from roost.placement.ring import Ring
    from roost.runtime.types import SystemTypes
    from roost.sdk.context import ActorId
    from roost.sdk.workflow import Broadcast
    from roost.tracing import Tracing


class PeerRequests(Protocol):
    """Signed requests to a peer's internal read-only and push routes (the cluster page's status,
    a registry push): what the HTTP forwarder and the peer link's forwarder both offer."""

    async def get_json(self, member: Member, path: str, timeout: float) -> Any: ...

    async def post_json(self, member: Member, path: str, body: Any, timeout: float) -> Any: ...


class Verifies(Protocol):
    def verify_internal(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str]
    ) -> None:
        """Raise `Unauthorized` unless a peer signed this request with the cluster secret."""


class Background(Protocol):
    def background(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run `coro` as a task the node owns (cancelled at teardown, failure logged)."""


class Invokes(Protocol):
    """Calls from the network: admission first, then the call itself."""

    def admit(self, system: str, actor: str, action: str, parent: str | None) -> None: ...

    def check_invocable(self, system: str, actor: str, action: str, parent: str | None) -> None: ...

    async def invoke(
        self,
        actor: str,
        action: str,
        payload: Any = None,
        *,
        system: str,
        parent: str | None = None,
        metadata: Mapping[str, str] | None = None,
        caller: ActorId | None = None,
        timeout: float | None = None,
        hops: int = 0,
        dedupe: str | None = None,
        admitted: bool = False,
    ) -> Any: ...

    async def schedule(
        self,
        actor: str,
        action: str,
        payload: Any,
        *,
        system: str,
        parent: str | None,
        metadata: Mapping[str, str] | None,
        delay_ms: int | None,
        at_ms: int | None,
    ) -> str: ...

    async def spawn(self, system: str, actor: str, parent: str) -> None: ...


class HttpNode(Invokes, Verifies, Background, Protocol):
    """Everything the public and internal HTTP routes use."""

    @property
    def node_id(self) -> str: ...

    @property
    def default_system(self) -> str: ...

    @property
    def advertise_http(self) -> str:
        """The address clients reach this node's API at (what peers see in its gossip)."""
        ...

    @property
    def max_body(self) -> int: ...

    @property
    def tracing(self) -> Tracing:
        """Off unless configured; `on` is the one attribute the routes read."""
        ...

    @property
    def api_auth(self) -> ApiAuth | None: ...

    @property
    def systems(self) -> Mapping[str, SystemTypes]: ...

    def view(self) -> MemberView: ...

    def ring_version(self) -> str:
        """The version of the ring this node routes with (sent with every reply)."""
        ...

    def ring(self) -> Ring:
        """The ring over every active member (each system's ring is a subset of it)."""
        ...

    def owner(self, system: str, actor: str) -> str | None: ...

    def counts_by_type(self) -> Mapping[tuple[str, str], int]: ...

    def remote_urls(self) -> Mapping[str, str]: ...

    async def check_ready(self) -> None: ...

    def render_metrics(self) -> bytes: ...

    async def deliver_broadcast(
        self,
        system: str,
        step: Broadcast,
        metadata: Mapping[str, str] | None,
        caller: ActorId | None,
        bid: str,
    ) -> int: ...


class StatusNode(Verifies, Protocol):
    """What the cluster page reads."""

    @property
    def node_id(self) -> str: ...

    @property
    def started_at(self) -> float: ...

    @property
    def ready(self) -> bool: ...

    @property
    def draining(self) -> bool: ...

    @property
    def inflight(self) -> int: ...

    @property
    def metrics(self) -> Metrics: ...

    @property
    def forwarder(self) -> PeerRequests | None: ...

    def view(self) -> MemberView: ...

    def ring(self) -> Ring: ...

    def counts_by_type(self) -> Mapping[tuple[str, str], int]: ...

    def last_handoffs(self) -> list[dict[str, object]]: ...


class SpawnNode(Invokes, Verifies, Background, Protocol):
    """What the Spawn-protocol service uses: calls, the settings, the core it installs types in,
    the membership view (who else hosts a system) and the peers' client."""

    @property
    def api_auth(self) -> ApiAuth | None: ...

    @property
    def config(self) -> NodeConfig: ...

    @property
    def core(self) -> Core: ...

    @property
    def forwarder(self) -> PeerRequests | None: ...

    def view(self) -> MemberView: ...
