"""Spawn's actor-host protocol: actors written with Spawn SDKs (Node, Java, Python, ...) join a
Roost system. `SpawnProtocol` is the node's side; see docs/protocol.md."""

from roost.node.spawnproto.external import HostActor, build_types, host_actor
from roost.node.spawnproto.hostclient import HostClient
from roost.node.spawnproto.registry import HostEntry, HostRegistry
from roost.node.spawnproto.server import ProtocolApi
from roost.node.spawnproto.service import SpawnProtocol
from roost.node.spawnproto.wire import JSON_TYPE_1X, JSON_TYPE_2X, any_to_json, json_to_any, to_any

__all__ = [
    "JSON_TYPE_1X",
    "JSON_TYPE_2X",
    "HostActor",
    "HostClient",
    "HostEntry",
    "HostRegistry",
    "ProtocolApi",
    "SpawnProtocol",
    "any_to_json",
    "build_types",
    "host_actor",
    "json_to_any",
    "to_any",
]
