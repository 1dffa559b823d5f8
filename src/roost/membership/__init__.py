"""Who is in the cluster: members, the view, and the gossip that maintains it."""

from roost.membership.base import (
    PROTOCOL_VERSION,
    LocalMembership,
    Member,
    Membership,
    MemberStatus,
    MemberView,
    ViewListener,
)

__all__ = [
    "PROTOCOL_VERSION",
    "LocalMembership",
    "Member",
    "MemberStatus",
    "MemberView",
    "Membership",
    "ViewListener",
]
