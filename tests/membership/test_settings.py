"""Settings validation, the secret rule, key derivation, seed parsing, backoff. Pure."""

from __future__ import annotations

import base64
import logging
import random

import pytest

from roost.errors import ConfigError
from roost.membership import (
    Backoff,
    SerfSettings,
    check_security,
    gossip_key,
    gossip_keyring,
    rpc_token,
)
from roost.membership.discovery import Seed, parse_seeds
from roost.membership.keys import valid_gossip_key
from roost.membership.settings import parse_hostport


def test_cluster_mode_without_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="set ROOST_CLUSTER_SECRET or pass --insecure"):
        check_security(SerfSettings(node_id="n1", seeds=("mdns",)))


def test_insecure_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="roost.membership"):
        check_security(SerfSettings(node_id="n1", insecure=True))
    assert "INSECURE" in caplog.text


def test_short_secret_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="roost.membership"):
        check_security(SerfSettings(node_id="n1", secret="short"))
    assert "fewer than" in caplog.text


def test_keys_are_deterministic_distinct_and_serf_sized() -> None:
    secret = "correct horse battery staple 42"
    key = gossip_key(secret)
    assert key == gossip_key(secret)
    assert len(base64.b64decode(key)) == 32 and valid_gossip_key(key)
    assert gossip_key(secret + "!") != key
    token = rpc_token(secret)
    assert token == rpc_token(secret) and token != key
    assert secret not in key and secret not in token
    assert not valid_gossip_key("not base64!") and not valid_gossip_key("YWJj")


@pytest.mark.parametrize(
    ("spec", "default", "expected"),
    [
        ("10.0.0.1:7000", 7946, ("10.0.0.1", 7000)),
        ("host", 7946, ("host", 7946)),
        ("[::1]:7946", None, ("::1", 7946)),
        ("[fd00::2]", 7946, ("fd00::2", 7946)),
    ],
)
def test_parse_hostport(spec: str, default: int | None, expected: tuple[str, int]) -> None:
    assert parse_hostport(spec, default) == expected


@pytest.mark.parametrize("spec", ["host:0", "host:99999", ":7946", "host:x", "[::1", "h"])
def test_parse_hostport_rejects(spec: str) -> None:
    with pytest.raises(ConfigError):
        parse_hostport(spec, None)


def test_settings_validate_on_construction() -> None:
    with pytest.raises(ConfigError):
        SerfSettings(node_id="n", gossip_bind="0.0.0.0:0")
    with pytest.raises(ConfigError):
        SerfSettings(node_id="n", profile="galaxy")
    with pytest.raises(ConfigError):
        SerfSettings(node_id="")


def test_parse_seeds() -> None:
    seeds = parse_seeds(
        ["10.0.0.1:7000", " dns:roost-headless.ns.svc ", "dns:x.local:8000", "mdns", "h", "mdns"]
    )
    assert seeds == (
        Seed("static", "10.0.0.1", 7000),
        Seed("dns", "roost-headless.ns.svc", 7946),
        Seed("dns", "x.local", 8000),
        Seed("mdns"),
        Seed("static", "h", 7946),
    )
    assert [str(s) for s in seeds[:4]] == [
        "10.0.0.1:7000",
        "dns:roost-headless.ns.svc:7946",
        "dns:x.local:8000",
        "mdns",
    ]
    with pytest.raises(ConfigError):
        parse_seeds(["", " "])
    with pytest.raises(ConfigError):
        parse_seeds(["dns:"])


def test_backoff_is_bounded_growing_and_seeded() -> None:
    a = Backoff(initial=0.2, cap=5.0, rng=random.Random(7))
    b = Backoff(initial=0.2, cap=5.0, rng=random.Random(7))
    delays = [a.next() for _ in range(10)]
    assert delays == [b.next() for _ in range(10)]
    assert 0.1 <= delays[0] <= 0.2
    assert all(2.5 <= d <= 5.0 for d in delays[6:])
    a.reset()
    assert a.next() <= 0.2


def test_keyring_puts_the_current_secret_first_then_the_old_ones_once() -> None:
    new, old, older = "the-new-cluster-secret-1", "the-old-cluster-secret-1", "an-older-secret-1"
    assert gossip_keyring(new) == [gossip_key(new)]
    assert gossip_keyring(new, (old, older, new, old)) == [
        gossip_key(new),
        gossip_key(old),
        gossip_key(older),
    ]


def test_old_secrets_without_a_current_secret_are_refused() -> None:
    settings = SerfSettings(node_id="n1", insecure=True, old_secrets=("the-old-cluster-secret",))
    with pytest.raises(ConfigError, match="ROOST_CLUSTER_OLD_SECRETS is set but"):
        check_security(settings)


def test_old_secrets_stay_out_of_the_settings_repr() -> None:
    settings = SerfSettings(node_id="n1", secret="s" * 20, old_secrets=("the-old-cluster-secret",))
    assert "the-old-cluster-secret" not in repr(settings)
