"""Golden bytes of every protocol message, decoded both ways and in both package spellings.

`golden.json` holds the encoding of each message of `messages.py` with JSON values spelled the
1.x and the 2.x way. The same bytes must come out of messages built from our .proto files
renamed to Spawn's 1.x packages (eigr.functions.protocol) and 2.x packages (spawn): field numbers
are the protocol, package names never reach the wire. The Node SDK's tests read the same file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
)
from google.protobuf.message import Message

from roost.node.spawnproto import actor_pb2 as A
from roost.node.spawnproto import protocol_pb2 as P
from roost.node.spawnproto.wire import (
    JSON_TYPE_1X,
    JSON_TYPE_2X,
    any_to_json,
    is_json_type,
    json_to_any,
    to_any,
)
from tests.node.spawnproto.messages import CUSTOM, SPELLINGS, messages

GOLDEN = json.loads((Path(__file__).parent / "golden.json").read_text())
CASES = [(tag, name) for tag in SPELLINGS for name in GOLDEN[tag]]
PACKAGES = {"1.x": "eigr.functions.protocol", "2.x": "spawn"}


def _renamed_pool(package: str) -> descriptor_pool.DescriptorPool:
    """Our two .proto files with Spawn's package names, in a pool of their own."""
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)
    for mod, pkg in ((A, package + ".actors"), (P, package)):
        fdp = descriptor_pb2.FileDescriptorProto()
        mod.DESCRIPTOR.CopyToProto(fdp)
        text = text_format.MessageToString(fdp)
        text = text.replace("roost.spawnproto.actors", package + ".actors")
        text = text.replace("roost.spawnproto", package)
        renamed = text_format.Parse(text, descriptor_pb2.FileDescriptorProto())
        assert renamed.package == pkg
        pool.Add(renamed)
    return pool


POOLS = {tag: _renamed_pool(pkg) for tag, pkg in PACKAGES.items()}


def _spawn_class(tag: str, name: str) -> type[Message]:
    pkg = PACKAGES[tag]
    pool = POOLS[tag]
    for full in (f"{pkg}.{name}", f"{pkg}.actors.{name}"):
        try:
            return message_factory.GetMessageClass(pool.FindMessageTypeByName(full))
        except KeyError:
            continue
    raise KeyError(name)


@pytest.mark.parametrize(("tag", "name"), CASES)
def test_encoding_is_the_golden_bytes(tag: str, name: str) -> None:
    msg = messages(SPELLINGS[tag])[name]
    assert msg.SerializeToString(deterministic=True).hex() == GOLDEN[tag][name]


@pytest.mark.parametrize(("tag", "name"), CASES)
def test_golden_bytes_decode_to_the_message(tag: str, name: str) -> None:
    msg = messages(SPELLINGS[tag])[name]
    decoded = type(msg)()
    decoded.ParseFromString(bytes.fromhex(GOLDEN[tag][name]))
    assert decoded == msg


@pytest.mark.parametrize(("tag", "name"), CASES)
def test_spawn_packages_read_and_write_the_same_bytes(tag: str, name: str) -> None:
    for spelling in PACKAGES:  # both package spellings read both JSON spellings
        cls = _spawn_class(spelling, name)
        theirs = cls()
        theirs.ParseFromString(bytes.fromhex(GOLDEN[tag][name]))
        again = theirs.SerializeToString(deterministic=True)
        assert again.hex() == GOLDEN[tag][name]
        ours = type(messages(SPELLINGS[tag])[name])()
        ours.ParseFromString(again)
        assert ours == messages(SPELLINGS[tag])[name]


def test_field_numbers_from_the_published_tables() -> None:
    """A few tags checked by hand against SPAWN_PROTOCOL.md, independent of our .proto files."""
    req = P.InvocationRequest()
    req.noop.SetInParent()
    assert req.SerializeToString() == bytes([7 << 3 | 2, 0])  # noop = 7
    req = P.InvocationRequest(scheduled_to=1, register_ref="t")
    assert req.SerializeToString() == bytes([9 << 3, 1, 11 << 3 | 2, 1]) + b"t"
    back = P.ActorInvocationResponse(checkpoint=True)
    back.noop.SetInParent()
    assert back.SerializeToString() == bytes([6 << 3 | 2, 0, 7 << 3, 1])  # noop = 6, checkpoint = 7
    inv = P.ActorInvocation()
    inv.noop.SetInParent()
    inv.caller.name = "c"
    assert inv.SerializeToString() == bytes([5 << 3 | 2, 0, 6 << 3 | 2, 3, 0x0A, 1]) + b"c"
    b = P.Broadcast(channel_group="g")
    b.value.type_url = "u"
    assert b.SerializeToString() == b"\x0a\x01g" + bytes([3 << 3 | 2, 3, 0x0A, 1]) + b"u"
    s = A.ActorSettings(state_type="x")  # 2.x's field 8
    assert s.SerializeToString() == bytes([8 << 3 | 2, 1]) + b"x"


def test_json_values_in_either_spelling() -> None:
    for url in (JSON_TYPE_1X, JSON_TYPE_2X):
        a = json_to_any({"total": 1}, url)
        assert a.type_url == url and is_json_type(url)
        assert any_to_json(a) == {"total": 1}
        assert to_any({"total": 1}, url) == a
    assert not is_json_type(CUSTOM.type_url)
    assert any_to_json(json_to_any(None, JSON_TYPE_1X)) is None


def test_other_types_are_carried_byte_for_byte() -> None:
    carried = any_to_json(CUSTOM)
    assert json.loads(json.dumps(carried)) == carried  # crosses nodes as JSON
    back = to_any(carried, JSON_TYPE_2X)
    assert back is not None
    assert back.type_url == CUSTOM.type_url and back.value == CUSTOM.value


def test_malformed_json_type_is_refused() -> None:
    bad = any_pb2.Any(type_url=JSON_TYPE_1X, value=P.JSONType(content="{nope").SerializeToString())
    with pytest.raises(ValueError):
        any_to_json(bad)
