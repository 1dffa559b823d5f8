"""Metric label values for one invocation, bounded whatever the request names.

Requests name systems, actors and actions freely, and an unknown name must not become a new time
series: a label is a hosted system, a registered actor type and an action that type (or, for an
actor whose type is not known without the store, any type of the system) defines; anything else
is `unknown`. Actor instances never become labels. Called on error and forwarding paths only:
a successful local turn already knows its type.
"""

from __future__ import annotations

from collections.abc import Mapping

from roost.runtime.types import SystemTypes
from roost.sdk.actor import GET_STATE_ALIASES

UNKNOWN = "unknown"


def invocation_labels(
    systems: Mapping[str, SystemTypes],
    system: str,
    actor: str,
    action: str,
    parent: str | None = None,
    type_name: str = "",
) -> tuple[str, str, str]:
    """(system, type, action) label values for a call of `action` on `actor`."""
    types = systems.get(system)
    if types is None:
        return UNKNOWN, UNKNOWN, UNKNOWN
    if type_name:  # known from the activation
        t = types.named.get(type_name) or types.templates.get(type_name)
    else:  # a named actor is its type; an instance's template is known only from `parent`
        t = types.named.get(actor)
        if t is None and parent is not None:
            t = types.templates.get(parent)
    if t is not None:
        return system, t.name, action if t.has_action(action) else UNKNOWN
    known = action in GET_STATE_ALIASES or any(action in x.actions for x in types.all_types())
    return system, UNKNOWN, action if known else UNKNOWN
