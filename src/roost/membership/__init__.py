"""Who is in the cluster: members, the view, and the Serf gossip that maintains it."""

from roost.membership.agent import SerfAgent
from roost.membership.base import (
    PROTOCOL_VERSION,
    LocalMembership,
    Member,
    Membership,
    MemberStatus,
    MemberView,
    ViewListener,
)
from roost.membership.clock import Backoff, Clock, SystemClock
from roost.membership.discovery import Discovery, Seed, parse_seeds, system_resolver
from roost.membership.dnsclient import Resolver, nameserver_resolver
from roost.membership.errors import (
    SerfAgentError,
    SerfAuthError,
    SerfCommandError,
    SerfConnectionError,
    SerfError,
    SerfProtocolError,
)
from roost.membership.keys import gossip_key, gossip_keyring, rpc_token
from roost.membership.protocol import (
    KeyResponse,
    MemberEvent,
    QueryEvent,
    QueryRecord,
    SerfEvent,
    SerfMember,
    SerfStats,
    UserEvent,
)
from roost.membership.rpc import SerfRPC, Subscription
from roost.membership.serf import SerfMembership, create_membership
from roost.membership.settings import SerfSettings, check_security
from roost.membership.view import MemberTable, ViewChange, diff

__all__ = [
    "PROTOCOL_VERSION",
    "Backoff",
    "Clock",
    "Discovery",
    "KeyResponse",
    "LocalMembership",
    "Member",
    "MemberEvent",
    "MemberStatus",
    "MemberTable",
    "MemberView",
    "Membership",
    "QueryEvent",
    "QueryRecord",
    "Resolver",
    "Seed",
    "SerfAgent",
    "SerfAgentError",
    "SerfAuthError",
    "SerfCommandError",
    "SerfConnectionError",
    "SerfError",
    "SerfEvent",
    "SerfMember",
    "SerfMembership",
    "SerfProtocolError",
    "SerfRPC",
    "SerfSettings",
    "SerfStats",
    "Subscription",
    "SystemClock",
    "UserEvent",
    "ViewChange",
    "ViewListener",
    "check_security",
    "create_membership",
    "diff",
    "gossip_key",
    "gossip_keyring",
    "nameserver_resolver",
    "parse_seeds",
    "rpc_token",
    "system_resolver",
]
