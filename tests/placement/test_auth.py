"""Node-to-node signing: what the verifier refuses (wrong secret, tampering, stale or replayed
requests) and what it accepts. Pure: the clock is an argument."""

from __future__ import annotations

import pytest

from roost.errors import Unauthorized
from roost.placement.auth import WINDOW, Verifier, derive_key, sign

KEY = derive_key("the-cluster-secret", "internal-http")
PATH = "/internal/v1/systems/s/actors/a/actions/add"
BODY = b'{"value": 1}'
NOW = 1_700_000_000.0


def test_a_signed_request_is_accepted_once() -> None:
    v = Verifier(KEY)
    header = sign(KEY, "POST", PATH, BODY, NOW)
    v.verify(header, "POST", PATH, BODY, NOW + 1)
    with pytest.raises(Unauthorized, match="replayed"):
        v.verify(header, "POST", PATH, BODY, NOW + 2)


def test_a_signature_made_with_another_secret_is_refused() -> None:
    other = derive_key("another-secret", "internal-http")
    with pytest.raises(Unauthorized, match="bad cluster signature"):
        Verifier(KEY).verify(sign(other, "POST", PATH, BODY, NOW), "POST", PATH, BODY, NOW)


def test_keys_for_other_purposes_do_not_verify() -> None:
    gossip = derive_key("the-cluster-secret", "gossip")
    assert gossip != KEY
    with pytest.raises(Unauthorized, match="bad cluster signature"):
        Verifier(KEY).verify(sign(gossip, "POST", PATH, BODY, NOW), "POST", PATH, BODY, NOW)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", PATH, b'{"value": 1000}'),  # tampered body
        ("POST", PATH + "?parent=x", BODY),  # tampered query
        ("POST", PATH.replace("/add", "/reset"), BODY),  # another action
        ("PUT", PATH, BODY),  # another method
    ],
)
def test_any_tampering_breaks_the_signature(method: str, path: str, body: bytes) -> None:
    header = sign(KEY, "POST", PATH, BODY, NOW)
    with pytest.raises(Unauthorized, match="bad cluster signature"):
        Verifier(KEY).verify(header, method, path, body, NOW)


def test_a_tampered_timestamp_or_nonce_breaks_the_signature() -> None:
    header = sign(KEY, "POST", PATH, BODY, NOW)
    parts = dict(p.split("=", 1) for p in header.split(","))
    later = f"t={int(NOW) + 5},n={parts['n']},s={parts['s']}"
    other_nonce = f"t={parts['t']},n={'0' * 24},s={parts['s']}"
    for forged in (later, other_nonce):
        with pytest.raises(Unauthorized, match="bad cluster signature"):
            Verifier(KEY).verify(forged, "POST", PATH, BODY, NOW)


@pytest.mark.parametrize("skew", [WINDOW + 1, -(WINDOW + 1)])
def test_a_timestamp_outside_the_window_is_refused(skew: float) -> None:
    header = sign(KEY, "POST", PATH, BODY, NOW)
    with pytest.raises(Unauthorized, match="replay window"):
        Verifier(KEY).verify(header, "POST", PATH, BODY, NOW + skew)


def test_within_the_window_either_side_is_accepted() -> None:
    v = Verifier(KEY)
    v.verify(sign(KEY, "POST", PATH, BODY, NOW), "POST", PATH, BODY, NOW + WINDOW - 1)
    v.verify(sign(KEY, "POST", PATH, BODY, NOW), "POST", PATH, BODY, NOW - WINDOW + 1)


@pytest.mark.parametrize("header", [None, "", "garbage", "t=x,n=1,s=2", "t=1,n=2"])
def test_a_missing_or_malformed_header_is_refused(header: str | None) -> None:
    with pytest.raises(Unauthorized, match=r"missing|malformed"):
        Verifier(KEY).verify(header, "POST", PATH, BODY, NOW)


def test_a_replay_is_refused_even_after_other_traffic() -> None:
    v = Verifier(KEY)
    first = sign(KEY, "POST", PATH, BODY, NOW)
    v.verify(first, "POST", PATH, BODY, NOW)
    for i in range(50):
        v.verify(sign(KEY, "POST", PATH, BODY, NOW + i / 10), "POST", PATH, BODY, NOW + i / 10)
    with pytest.raises(Unauthorized, match="replayed"):
        v.verify(first, "POST", PATH, BODY, NOW + 10)


def test_nonce_memory_is_bounded_and_a_forgotten_nonce_is_still_too_old() -> None:
    """The verifier forgets nonces past the window; by then their timestamp is refused anyway."""
    v = Verifier(KEY, max_nonces=3)
    old = sign(KEY, "POST", PATH, BODY, NOW)
    v.verify(old, "POST", PATH, BODY, NOW)
    for i in range(1, 6):
        v.verify(sign(KEY, "POST", PATH, BODY, NOW + i), "POST", PATH, BODY, NOW + i)
    with pytest.raises(Unauthorized, match="replay window"):
        v.verify(old, "POST", PATH, BODY, NOW + WINDOW + 1)


def test_a_nonce_forgotten_under_load_cannot_be_replayed() -> None:
    """Past `max_nonces` within the window the oldest nonces are dropped early; their requests
    must still be refused, by timestamp, rather than become replayable."""
    v = Verifier(KEY, max_nonces=3)
    headers = [sign(KEY, "POST", PATH, BODY, NOW + i) for i in range(4)]
    for i, h in enumerate(headers):
        v.verify(h, "POST", PATH, BODY, NOW + i)
    with pytest.raises(Unauthorized, match="replay window"):
        v.verify(headers[0], "POST", PATH, BODY, NOW + 4)  # its nonce was forgotten
    with pytest.raises(Unauthorized, match="replayed"):
        v.verify(headers[3], "POST", PATH, BODY, NOW + 4)  # still remembered
    v.verify(sign(KEY, "POST", PATH, BODY, NOW + 4), "POST", PATH, BODY, NOW + 4)


# -- several keys: a rotation of the cluster secret in progress --------------------------------

NEW = derive_key("the-next-cluster-secret", "internal-http")


def test_a_signature_made_with_an_old_secret_is_accepted() -> None:
    """A peer not yet restarted still signs with the secret this node lists as old."""
    v = Verifier(NEW, old_keys=[KEY])
    v.verify(sign(KEY, "POST", PATH, BODY, NOW), "POST", PATH, BODY, NOW)
    v.verify(sign(NEW, "POST", PATH, BODY, NOW), "POST", PATH, BODY, NOW)


def test_with_old_keys_any_other_secret_is_still_refused() -> None:
    v = Verifier(NEW, old_keys=[KEY])
    third = derive_key("a-third-secret", "internal-http")
    with pytest.raises(Unauthorized, match="bad cluster signature"):
        v.verify(sign(third, "POST", PATH, BODY, NOW), "POST", PATH, BODY, NOW)


def test_an_old_key_signature_is_checked_as_strictly_as_the_primary() -> None:
    v = Verifier(NEW, old_keys=[KEY])
    header = sign(KEY, "POST", PATH, BODY, NOW)
    with pytest.raises(Unauthorized, match="bad cluster signature"):
        v.verify(header, "POST", PATH, b'{"value": 1000}', NOW)
    with pytest.raises(Unauthorized, match="replay window"):
        v.verify(header, "POST", PATH, BODY, NOW + WINDOW + 1)


def test_the_keys_share_one_nonce_memory() -> None:
    """A request signed with an old key is remembered like any other: no replay through it."""
    v = Verifier(NEW, old_keys=[KEY])
    old_signed = sign(KEY, "POST", PATH, BODY, NOW)
    v.verify(old_signed, "POST", PATH, BODY, NOW)
    with pytest.raises(Unauthorized, match="replayed"):
        v.verify(old_signed, "POST", PATH, BODY, NOW + 1)


def test_the_keys_share_one_nonce_bound() -> None:
    """`max_nonces` bounds the whole verifier, not each key: forgetting under load is shared."""
    v = Verifier(NEW, max_nonces=2, old_keys=[KEY])
    first = sign(KEY, "POST", PATH, BODY, NOW)
    v.verify(first, "POST", PATH, BODY, NOW)
    v.verify(sign(NEW, "POST", PATH, BODY, NOW + 1), "POST", PATH, BODY, NOW + 1)
    v.verify(sign(NEW, "POST", PATH, BODY, NOW + 2), "POST", PATH, BODY, NOW + 2)
    with pytest.raises(Unauthorized, match="replay window"):
        v.verify(first, "POST", PATH, BODY, NOW + 2)  # forgotten early, so refused by time


@pytest.mark.parametrize("bad", ["t=1700000000,n=x,s=\u00e9", "t=1700000000,n=\udcff,s=00"])
def test_a_signature_that_is_not_ascii_is_refused_not_an_error(bad: str) -> None:
    with pytest.raises(Unauthorized, match="malformed"):
        Verifier(KEY).verify(bad, "POST", PATH, BODY, NOW)
