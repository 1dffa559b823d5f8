"""What actor authors import: `Actor`, `action`, `Context`, `Value`, and the state codecs."""

from roost.errors import BadRequest
from roost.sdk.actor import (
    ActionSpec,
    Actor,
    ActorDefinitionError,
    ActorType,
    action,
)
from roost.sdk.context import ActorId, Context
from roost.sdk.state import JsonCodec, ProtobufCodec, StateCodec
from roost.sdk.value import Value
from roost.sdk.workflow import Broadcast, Channel, Effect, Forward, Pipe, Timer

__all__ = [
    "ActionSpec",
    "Actor",
    "ActorDefinitionError",
    "ActorId",
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
    "StateCodec",
    "Timer",
    "Value",
    "action",
]
