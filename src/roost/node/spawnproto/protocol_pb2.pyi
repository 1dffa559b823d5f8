from google.protobuf import any_pb2 as _any_pb2
from roost.node.spawnproto import actor_pb2 as _actor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UNKNOWN: _ClassVar[Status]
    OK: _ClassVar[Status]
    ACTOR_NOT_FOUND: _ClassVar[Status]
    ERROR: _ClassVar[Status]
UNKNOWN: Status
OK: Status
ACTOR_NOT_FOUND: Status
ERROR: Status

class Context(_message.Message):
    __slots__ = ("state", "caller", "self", "metadata", "tags")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    STATE_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    SELF_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    state: _any_pb2.Any
    caller: _actor_pb2.ActorId
    self: _actor_pb2.ActorId
    metadata: _containers.ScalarMap[str, str]
    tags: _containers.ScalarMap[str, str]
    def __init__(self_, state: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., caller: _Optional[_Union[_actor_pb2.ActorId, _Mapping]] = ..., self: _Optional[_Union[_actor_pb2.ActorId, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., tags: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Noop(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class JSONType(_message.Message):
    __slots__ = ("content",)
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    content: str
    def __init__(self, content: _Optional[str] = ...) -> None: ...

class ServiceInfo(_message.Message):
    __slots__ = ("service_name", "service_version", "service_runtime", "support_library_name", "support_library_version", "protocol_major_version", "protocol_minor_version")
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    SERVICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVICE_RUNTIME_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_LIBRARY_NAME_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_LIBRARY_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_MAJOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_MINOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    service_name: str
    service_version: str
    service_runtime: str
    support_library_name: str
    support_library_version: str
    protocol_major_version: int
    protocol_minor_version: int
    def __init__(self, service_name: _Optional[str] = ..., service_version: _Optional[str] = ..., service_runtime: _Optional[str] = ..., support_library_name: _Optional[str] = ..., support_library_version: _Optional[str] = ..., protocol_major_version: _Optional[int] = ..., protocol_minor_version: _Optional[int] = ...) -> None: ...

class RegistrationRequest(_message.Message):
    __slots__ = ("service_info", "actor_system")
    SERVICE_INFO_FIELD_NUMBER: _ClassVar[int]
    ACTOR_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    service_info: ServiceInfo
    actor_system: _actor_pb2.ActorSystem
    def __init__(self, service_info: _Optional[_Union[ServiceInfo, _Mapping]] = ..., actor_system: _Optional[_Union[_actor_pb2.ActorSystem, _Mapping]] = ...) -> None: ...

class ProxyInfo(_message.Message):
    __slots__ = ("protocol_major_version", "protocol_minor_version", "proxy_name", "proxy_version")
    PROTOCOL_MAJOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_MINOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROXY_NAME_FIELD_NUMBER: _ClassVar[int]
    PROXY_VERSION_FIELD_NUMBER: _ClassVar[int]
    protocol_major_version: int
    protocol_minor_version: int
    proxy_name: str
    proxy_version: str
    def __init__(self, protocol_major_version: _Optional[int] = ..., protocol_minor_version: _Optional[int] = ..., proxy_name: _Optional[str] = ..., proxy_version: _Optional[str] = ...) -> None: ...

class RequestStatus(_message.Message):
    __slots__ = ("status", "message")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    status: Status
    message: str
    def __init__(self, status: _Optional[_Union[Status, str]] = ..., message: _Optional[str] = ...) -> None: ...

class RegistrationResponse(_message.Message):
    __slots__ = ("status", "proxy_info")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PROXY_INFO_FIELD_NUMBER: _ClassVar[int]
    status: RequestStatus
    proxy_info: ProxyInfo
    def __init__(self, status: _Optional[_Union[RequestStatus, _Mapping]] = ..., proxy_info: _Optional[_Union[ProxyInfo, _Mapping]] = ...) -> None: ...

class SpawnRequest(_message.Message):
    __slots__ = ("actors",)
    ACTORS_FIELD_NUMBER: _ClassVar[int]
    actors: _containers.RepeatedCompositeFieldContainer[_actor_pb2.ActorId]
    def __init__(self, actors: _Optional[_Iterable[_Union[_actor_pb2.ActorId, _Mapping]]] = ...) -> None: ...

class SpawnResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: RequestStatus
    def __init__(self, status: _Optional[_Union[RequestStatus, _Mapping]] = ...) -> None: ...

class InvocationRequest(_message.Message):
    __slots__ = ("system", "actor", "action_name", "value", "noop", "caller", "metadata", "scheduled_to", "pooled", "register_ref")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    NOOP_FIELD_NUMBER: _ClassVar[int]
    ASYNC_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_TO_FIELD_NUMBER: _ClassVar[int]
    POOLED_FIELD_NUMBER: _ClassVar[int]
    REGISTER_REF_FIELD_NUMBER: _ClassVar[int]
    system: _actor_pb2.ActorSystem
    actor: _actor_pb2.Actor
    action_name: str
    value: _any_pb2.Any
    noop: Noop
    caller: _actor_pb2.ActorId
    metadata: _containers.ScalarMap[str, str]
    scheduled_to: int
    pooled: bool
    register_ref: str
    def __init__(self, system: _Optional[_Union[_actor_pb2.ActorSystem, _Mapping]] = ..., actor: _Optional[_Union[_actor_pb2.Actor, _Mapping]] = ..., action_name: _Optional[str] = ..., value: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., noop: _Optional[_Union[Noop, _Mapping]] = ..., caller: _Optional[_Union[_actor_pb2.ActorId, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., scheduled_to: _Optional[int] = ..., pooled: _Optional[bool] = ..., register_ref: _Optional[str] = ..., **kwargs) -> None: ...

class InvocationResponse(_message.Message):
    __slots__ = ("status", "system", "actor", "value", "noop")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    NOOP_FIELD_NUMBER: _ClassVar[int]
    status: RequestStatus
    system: _actor_pb2.ActorSystem
    actor: _actor_pb2.Actor
    value: _any_pb2.Any
    noop: Noop
    def __init__(self, status: _Optional[_Union[RequestStatus, _Mapping]] = ..., system: _Optional[_Union[_actor_pb2.ActorSystem, _Mapping]] = ..., actor: _Optional[_Union[_actor_pb2.Actor, _Mapping]] = ..., value: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., noop: _Optional[_Union[Noop, _Mapping]] = ...) -> None: ...

class ActorInvocation(_message.Message):
    __slots__ = ("actor", "action_name", "current_context", "value", "noop", "caller")
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_NAME_FIELD_NUMBER: _ClassVar[int]
    CURRENT_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    NOOP_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    actor: _actor_pb2.ActorId
    action_name: str
    current_context: Context
    value: _any_pb2.Any
    noop: Noop
    caller: _actor_pb2.ActorId
    def __init__(self, actor: _Optional[_Union[_actor_pb2.ActorId, _Mapping]] = ..., action_name: _Optional[str] = ..., current_context: _Optional[_Union[Context, _Mapping]] = ..., value: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., noop: _Optional[_Union[Noop, _Mapping]] = ..., caller: _Optional[_Union[_actor_pb2.ActorId, _Mapping]] = ...) -> None: ...

class SideEffect(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: InvocationRequest
    def __init__(self, request: _Optional[_Union[InvocationRequest, _Mapping]] = ...) -> None: ...

class Broadcast(_message.Message):
    __slots__ = ("channel_group", "action_name", "value", "noop")
    CHANNEL_GROUP_FIELD_NUMBER: _ClassVar[int]
    ACTION_NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    NOOP_FIELD_NUMBER: _ClassVar[int]
    channel_group: str
    action_name: str
    value: _any_pb2.Any
    noop: Noop
    def __init__(self, channel_group: _Optional[str] = ..., action_name: _Optional[str] = ..., value: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., noop: _Optional[_Union[Noop, _Mapping]] = ...) -> None: ...

class Pipe(_message.Message):
    __slots__ = ("actor", "action_name", "register_ref")
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_NAME_FIELD_NUMBER: _ClassVar[int]
    REGISTER_REF_FIELD_NUMBER: _ClassVar[int]
    actor: str
    action_name: str
    register_ref: str
    def __init__(self, actor: _Optional[str] = ..., action_name: _Optional[str] = ..., register_ref: _Optional[str] = ...) -> None: ...

class Forward(_message.Message):
    __slots__ = ("actor", "action_name", "register_ref")
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_NAME_FIELD_NUMBER: _ClassVar[int]
    REGISTER_REF_FIELD_NUMBER: _ClassVar[int]
    actor: str
    action_name: str
    register_ref: str
    def __init__(self, actor: _Optional[str] = ..., action_name: _Optional[str] = ..., register_ref: _Optional[str] = ...) -> None: ...

class Workflow(_message.Message):
    __slots__ = ("effects", "broadcast", "pipe", "forward")
    EFFECTS_FIELD_NUMBER: _ClassVar[int]
    BROADCAST_FIELD_NUMBER: _ClassVar[int]
    PIPE_FIELD_NUMBER: _ClassVar[int]
    FORWARD_FIELD_NUMBER: _ClassVar[int]
    effects: _containers.RepeatedCompositeFieldContainer[SideEffect]
    broadcast: Broadcast
    pipe: Pipe
    forward: Forward
    def __init__(self, effects: _Optional[_Iterable[_Union[SideEffect, _Mapping]]] = ..., broadcast: _Optional[_Union[Broadcast, _Mapping]] = ..., pipe: _Optional[_Union[Pipe, _Mapping]] = ..., forward: _Optional[_Union[Forward, _Mapping]] = ...) -> None: ...

class ActorInvocationResponse(_message.Message):
    __slots__ = ("actor_name", "actor_system", "updated_context", "value", "noop", "workflow", "checkpoint")
    ACTOR_NAME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    UPDATED_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    NOOP_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    actor_name: str
    actor_system: str
    updated_context: Context
    value: _any_pb2.Any
    noop: Noop
    workflow: Workflow
    checkpoint: bool
    def __init__(self, actor_name: _Optional[str] = ..., actor_system: _Optional[str] = ..., updated_context: _Optional[_Union[Context, _Mapping]] = ..., value: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., noop: _Optional[_Union[Noop, _Mapping]] = ..., workflow: _Optional[_Union[Workflow, _Mapping]] = ..., checkpoint: _Optional[bool] = ...) -> None: ...
