"""External actor types: each actor a host registered becomes an `ActorType` of its system.

The runtime runs these like Python actors (the owning node keeps state, activation, snapshots,
deactivation, leases and handoff); only the body of a turn differs: it sends the current context
to the host (`ActorInvocation`) and takes the host's reply (`ActorInvocationResponse`) as the
turn's `Value`. The state of a host actor is Spawn's `ActorState{tags, state Any}`, stored as its
protobuf bytes, so the host's `Any` comes back to it byte for byte and an unchanged state is never
rewritten.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol

from roost.errors import ActionFailed, HostUnavailable
from roost.node.spawnproto import actor_pb2 as A
from roost.node.spawnproto import protocol_pb2 as P
from roost.node.spawnproto.hostclient import HostClient
from roost.node.spawnproto.registry import HostEntry
from roost.node.spawnproto.wire import any_to_json, to_any
from roost.sdk.actor import GET_STATE_ALIASES, INIT_ALIASES, ActionSpec, ActorType, valid_name
from roost.sdk.context import ActorId, Context
from roost.sdk.state import ProtobufCodec
from roost.sdk.value import Value
from roost.sdk.workflow import Channel, Timer
from roost.tracing import inject

STATE_CODEC = ProtobufCodec(A.ActorState)
_KINDS = {A.UNNAMED: "unnamed", A.POOLED: "pooled"}  # every other kind runs as a named actor
DEFAULT_DEACTIVATE_MS = 30_000
DEFAULT_SNAPSHOT_MS = 10_000


class Hosts(Protocol):
    """Where a host actor's turns go: `HostRegistry`."""

    def pick(self, system: str, actor: str) -> HostEntry: ...

    def mark_down(self, url: str) -> None: ...


@dataclass(frozen=True, slots=True)
class HostActor:
    """One host actor type; the shared 'instance' its actions run on."""

    system: str
    name: str
    stateful: bool
    initial: A.ActorState
    hosts: Hosts
    client: HostClient
    timeout: float

    async def run(self, action: str, payload: Any, ctx: Context) -> Value:
        entry = self.hosts.pick(self.system, self.name)
        state: A.ActorState = ctx.state if ctx.state is not None else self.initial
        inv = P.ActorInvocation(action_name=action)
        inv.actor.CopyFrom(_actor_id(ctx.self))
        cur = inv.current_context
        cur.self.CopyFrom(inv.actor)
        if self.stateful and state.HasField("state"):
            cur.state.CopyFrom(state.state)
        cur.tags.update(state.tags)
        cur.metadata.update(inject(ctx.metadata) or {})  # + the turn's W3C trace context
        if ctx.caller is not None:
            inv.caller.CopyFrom(_actor_id(ctx.caller))
            cur.caller.CopyFrom(inv.caller)
        value = to_any(payload, entry.json_url)
        if value is None:
            inv.noop.SetInParent()
        else:
            inv.value.CopyFrom(value)
        try:
            reply = await self.client.call(entry.url, inv, self.timeout)
        except HostUnavailable:
            self.hosts.mark_down(entry.url)
            raise
        return to_value(reply, state, stateful=self.stateful, where=f"{self.name}.{action}")

    def state_view(self, ctx: Context) -> Value:
        """The built-in get/get_state: the state as JSON (a host's own type stays carried)."""
        state: A.ActorState = ctx.state if ctx.state is not None else self.initial
        if not state.HasField("state") or not state.state.type_url:
            return Value().response(None)
        try:
            return Value().response(any_to_json(state.state))
        except ValueError as exc:
            raise ActionFailed(f"state of {ctx.self} is not valid JSON: {exc}") from exc


def to_value(
    reply: P.ActorInvocationResponse, old: A.ActorState, *, stateful: bool, where: str
) -> Value:
    """The turn's `Value` from a host's reply: new state and tags, reply, workflow, checkpoint."""
    out = Value()
    if stateful:
        new = A.ActorState()
        new.CopyFrom(old)
        if reply.HasField("updated_context"):
            uc = reply.updated_context
            if uc.HasField("state"):
                new.state.CopyFrom(uc.state)
            new.tags.clear()
            new.tags.update(uc.tags)
        out.state(new)
    try:
        if reply.WhichOneof("payload") == "value":
            out.response(any_to_json(reply.value))
        if reply.HasField("workflow"):
            _workflow(out, reply.workflow)
    except ValueError as exc:
        raise ActionFailed(f"{where}: the host's reply holds a malformed JSONType: {exc}") from exc
    if reply.checkpoint:
        out.checkpoint()
    return out


def _workflow(out: Value, wf: P.Workflow) -> None:
    now_ms = time.time() * 1000
    for fx in wf.effects:
        req = fx.request
        delay = max(0, round(req.scheduled_to - now_ms)) if req.scheduled_to else None
        out.effect(
            req.actor.id.name,
            req.action_name,
            any_to_json(req.value) if req.WhichOneof("payload") == "value" else None,
            system=req.system.name or None,
            parent=req.register_ref or req.actor.id.parent or None,
            metadata=dict(req.metadata),
            delay_ms=delay,
        )
    if wf.HasField("broadcast"):
        b = wf.broadcast
        payload = any_to_json(b.value) if b.WhichOneof("payload") == "value" else None
        out.broadcast(b.channel_group, payload, action=b.action_name or None)
    route = wf.WhichOneof("routing")
    if route == "pipe":
        out.pipe(wf.pipe.actor, wf.pipe.action_name, parent=wf.pipe.register_ref or None)
    elif route == "forward":
        fw = wf.forward
        out.forward(fw.actor, fw.action_name, parent=fw.register_ref or None)


def _actor_id(a: ActorId) -> A.ActorId:
    return A.ActorId(name=a.name, system=a.system, parent=a.parent or "")


def problems(request: P.RegistrationRequest, reserved: Collection[str]) -> list[str]:
    """What makes a registration unusable: bad names, or names of Python actor types."""
    out = []
    system = request.actor_system.name
    if not valid_name(system):
        out.append(f"system name {system!r} is not valid")
    for key, actor in request.actor_system.registry.actors.items():
        name = actor.id.name or key
        if not valid_name(name):
            out.append(f"actor name {name!r} is not valid")
        elif name in reserved:
            out.append(f"actor {name!r} is already a Python actor type of system {system!r}")
        out.extend(
            f"action name {a.name!r} of actor {name!r} is not valid"
            for a in actor.actions
            if not valid_name(a.name)
        )
    return out


def build_types(
    entries: list[HostEntry], *, hosts: Hosts, client: HostClient, timeout: float
) -> list[ActorType]:
    """The actor types that `entries` (one system's, newest first) define; for an actor that
    several hosts registered, the newest definition wins."""
    types: dict[str, ActorType] = {}
    for entry in entries:
        for key, actor in entry.request.actor_system.registry.actors.items():
            name = actor.id.name or key
            if name not in types and valid_name(name):
                types[name] = _actor_type(entry.system, name, actor, hosts, client, timeout)
    return list(types.values())


def _actor_type(
    system: str, name: str, actor: A.Actor, hosts: Hosts, client: HostClient, timeout: float
) -> ActorType:
    s = actor.settings
    host = HostActor(system, name, s.stateful, actor.state, hosts, client, timeout)
    actions: dict[str, ActionSpec] = {
        a.name: ActionSpec(a.name, _action(a.name), takes_payload=True)
        for a in actor.actions
        if valid_name(a.name)
    }
    for alias in GET_STATE_ALIASES - actions.keys():
        actions[alias] = ActionSpec(alias, _get_state, takes_payload=False)
    init = next((actions[a] for a in sorted(INIT_ALIASES) if a in actions), None)
    pool = (max(0, s.min_pool_size), max(1, s.max_pool_size, s.min_pool_size))
    return ActorType(
        name=name,
        kind=_KINDS.get(s.kind, "named"),
        codec=STATE_CODEC,
        deactivate_timeout=_ms(s.deactivation_strategy.timeout.timeout, DEFAULT_DEACTIVATE_MS),
        snapshot_timeout=_ms(s.snapshot_strategy.timeout.timeout, DEFAULT_SNAPSHOT_MS),
        durability="snapshot",
        actions=actions,
        init=init,
        factory=_constant(host),
        timers=tuple(
            Timer(t.action.name, max(1, t.seconds)) for t in actor.timer_actions if t.action.name
        ),
        channels=tuple(
            Channel(c.topic, c.action or "receive") for c in actor.metadata.channel_group
        ),
        min_pool_size=pool[0],
        max_pool_size=pool[1],
        source=f"actor host ({system})",
        extra={"spawn_host": host, "stateful": s.stateful},
    )


def host_actor(t: ActorType | None) -> HostActor | None:
    """The host behind an actor type, or None for a Python type."""
    h = None if t is None else t.extra.get("spawn_host")
    return h if isinstance(h, HostActor) else None


def _ms(value: int, default: int) -> float:
    return (value if 0 < value <= 86_400_000 else default) / 1000.0


def _constant(host: HostActor) -> Callable[[], HostActor]:
    return lambda: host


def _action(name: str) -> Callable[[HostActor, Any, Context], Any]:
    async def run(host: HostActor, payload: Any, ctx: Context) -> Value:
        return await host.run(name, payload, ctx)

    return run


async def _get_state(host: HostActor, ctx: Context) -> Value:
    return host.state_view(ctx)
