"""What actor authors import: `Actor`, `action`, `Context`, `Value`, the state codecs, and the
typed pieces (shapes of dataclass / pydantic state and payloads, typed references)."""

from roost.errors import BadRequest
from roost.sdk.actions import ActionCall, ActionCall0, ActionDef, RefCall, RefCall0
from roost.sdk.actor import (
    ActionSpec,
    Actor,
    ActorDefinitionError,
    ActorType,
    action,
)
from roost.sdk.context import ActorId, Context
from roost.sdk.refs import ActorRef, Ref
from roost.sdk.shapes import Shape, ShapeError
from roost.sdk.state import JsonCodec, ProtobufCodec, StateCodec, TypedCodec
from roost.sdk.value import Value
from roost.sdk.workflow import Broadcast, Channel, Effect, Forward, Pipe, Timer

__all__ = [
    "ActionCall",
    "ActionCall0",
    "ActionDef",
    "ActionSpec",
    "Actor",
    "ActorDefinitionError",
    "ActorId",
    "ActorRef",
    "ActorType",
    "BadRequest",
    "Broadcast",
    "Channel",
    "Context",
    "Effect",
    "Forward",
    "JsonCodec",
    "Pipe",
    "ProtobufCodec",
    "Ref",
    "RefCall",
    "RefCall0",
    "Shape",
    "ShapeError",
    "StateCodec",
    "Timer",
    "TypedCodec",
    "Value",
    "action",
]
