"""Metric labels stay bounded whatever a request names: types and actions the system defines,
`unknown` for anything else, and never an actor instance."""

from __future__ import annotations

from examples.counters import Counter, Incrementor
from roost.runtime import SystemTypes
from roost.runtime.labels import UNKNOWN, invocation_labels
from roost.sdk.actor import ActorType

SYSTEMS = {
    "sys": SystemTypes.build(
        "sys", [ActorType.from_class(Incrementor), ActorType.from_class(Counter)]
    )
}


def test_named_actor_is_its_own_type() -> None:
    assert invocation_labels(SYSTEMS, "sys", "incrementor", "add") == ("sys", "incrementor", "add")


def test_instance_names_never_become_labels() -> None:
    assert invocation_labels(SYSTEMS, "sys", "user-4711", "add", parent="counter") == (
        "sys",
        "counter",
        "add",
    )
    assert (
        invocation_labels(SYSTEMS, "sys", "user-4711", "add", type_name="counter")[1] == "counter"
    )
    # a spawned instance called without ?parent: its type needs the store; the action is known
    assert invocation_labels(SYSTEMS, "sys", "user-4711", "add") == ("sys", UNKNOWN, "add")


def test_made_up_names_collapse_to_unknown() -> None:
    assert invocation_labels(SYSTEMS, "sys", "incrementor", "x" * 200) == (
        "sys",
        "incrementor",
        UNKNOWN,
    )
    assert invocation_labels(SYSTEMS, "nope", "a", "b") == (UNKNOWN, UNKNOWN, UNKNOWN)
    assert invocation_labels(SYSTEMS, "sys", "whoever", "whatever") == ("sys", UNKNOWN, UNKNOWN)


def test_built_in_get_state_is_an_action_of_every_type() -> None:
    assert invocation_labels(SYSTEMS, "sys", "incrementor", "get_state")[2] == "get_state"
