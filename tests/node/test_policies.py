"""ACL policies: matching and the decision (pure), loading a directory (every malformed file is
a `ConfigError` naming file and field), then a real node checking HTTP, the Spawn protocol port
and calls between actors."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from examples.counters import Counter
from roost import Actor, Channel, Context, Value, action
from roost.errors import ConfigError, Forbidden
from roost.node import policies
from roost.node.config import NodeConfig
from roost.node.node import Node
from roost.node.policies import PolicySet, parse_document, parse_policy
from roost.node.spawnproto import actor_pb2
from roost.node.spawnproto import protocol_pb2 as P
from roost.sdk.context import ActorId
from tests.conftest import free_port
from tests.node.spawnproto.test_node import invoke as proto_invoke
from tests.node.test_http import A, call, code

S = "spawn-system"
TELLER = ActorId("teller", S)


def rules(*docs: dict[str, Any]) -> PolicySet:
    return policies.build(parse_document(list(docs), "test.yaml", "test"))


# --- matching and the decision ------------------------------------------------------------------


def test_no_policy_file_means_the_node_has_no_policy_set(tmp_path: Path, key: str) -> None:
    cfg = NodeConfig(statestore=f"sqlite:///{tmp_path}/r.db", statestore_key=key)
    assert Node(cfg, actor_classes=[Counter]).policies is None


def test_deny_wins_over_allow() -> None:
    ps = rules(
        {"name": "everything", "type": "allow"},
        {"name": "no-reset", "type": "deny", "actions": ["reset"]},
    )
    assert ps.refusal(S, "counter-1", "add") is None
    with pytest.raises(Forbidden) as err:
        ps.check(S, "counter-1", "reset")
    assert err.value.message == (
        "spawn-system/counter-1.reset is denied by policy 'no-reset' (test.yaml)"
    )


def test_only_deny_policies_allow_everything_else() -> None:
    ps = rules({"name": "d", "type": "deny", "actors": ["vault"], "systems": ["bank"]})
    assert ps.refusal("bank", "vault", "open") is not None
    assert ps.refusal("bank", "till", "open") is None
    assert ps.refusal("other", "vault", "open") is None


def test_with_allow_policies_a_call_must_match_one() -> None:
    ps = rules(
        {"name": "reads", "type": "allow", "actions": ["get_state", "get"]},
        {"name": "counters", "type": "allow", "actors": ["counter-*"]},
    )
    assert ps.refusal(S, "anything", "get") is None
    assert ps.refusal(S, "counter-7", "add") is None
    reason = ps.refusal(S, "vault", "open")
    assert reason == (
        "spawn-system/vault.open matches no allow policy (allow policies: 'reads', 'counters')"
    )


def test_globs_and_exclusions() -> None:
    ps = rules({"name": "d", "type": "deny", "actors": ["admin-*", "!admin-readonly"]})
    assert ps.refusal(S, "admin-1", "x") is not None
    assert ps.refusal(S, "admin-readonly", "x") is None
    assert ps.refusal(S, "user-1", "x") is None
    only_not = rules({"name": "d", "type": "deny", "actions": ["!get_state"]})
    assert ps.refusal(S, "a", "get_state") is None and only_not.refusal(S, "a", "add")


def test_matching_is_case_sensitive_and_whole_name() -> None:
    ps = rules({"name": "d", "type": "deny", "actors": ["vault"]})
    assert ps.refusal(S, "Vault", "x") is None
    assert ps.refusal(S, "vault2", "x") is None
    assert ps.refusal(S, "my-vault", "x") is None


def test_from_matches_the_calling_actor() -> None:
    ps = rules(
        {"name": "tellers-only", "type": "deny", "actors": ["vault"], "from": ["!teller"]},
    )
    assert ps.refusal(S, "vault", "open", TELLER) is None
    assert ps.refusal("other", "vault", "open", ActorId("teller", "bank")) is None  # any system
    assert ps.refusal(S, "vault", "open", ActorId("intern", S)) is not None
    assert ps.refusal(S, "vault", "open", None) is not None  # external: not a teller
    reason = ps.refusal(S, "vault", "open", ActorId("intern", S))
    assert reason is not None and "from spawn-system/intern" in reason


def test_from_star_means_actors_and_not_star_means_external_callers() -> None:
    actors_only = rules({"name": "a", "type": "allow", "from": ["*"]})
    assert actors_only.refusal(S, "x", "y", TELLER) is None
    assert actors_only.refusal(S, "x", "y", None) is not None
    external_only = rules({"name": "e", "type": "allow", "from": ["!*"]})
    assert external_only.refusal(S, "x", "y", None) is None
    assert external_only.refusal(S, "x", "y", TELLER) is not None


def test_from_with_a_system() -> None:
    ps = rules({"name": "a", "type": "allow", "from": ["shop/*"]})
    assert ps.refusal("billing", "ledger", "charge", ActorId("cart-1", "shop")) is None
    assert ps.refusal("billing", "ledger", "charge", ActorId("cart-1", "outlet")) is not None


def test_a_policy_without_from_matches_every_caller() -> None:
    ps = rules({"name": "d", "type": "deny", "actors": ["vault"]})
    assert ps.refusal(S, "vault", "open", None) is not None
    assert ps.refusal(S, "vault", "open", TELLER) is not None


def test_spawns_spelling_of_systems_and_string_values() -> None:
    p = parse_policy(
        {"type": "DENY", "actor_systems": ["bank"], "actors": "vault"}, "spawn.yaml", "spawn"
    )
    assert (p.name, p.type) == ("spawn", "deny")
    assert p.matches("bank", "vault", "open", None)
    assert not p.matches("shop", "vault", "open", None)


def test_a_deny_of_get_state_covers_its_other_spellings() -> None:
    ps = rules({"name": "d", "type": "deny", "actions": ["get_state"]})
    for alias in ("get_state", "getState", "GetState", "get", "Get"):
        assert ps.refusal(S, "vault", alias) is not None, alias
    assert ps.refusal(S, "vault", "open") is None
    allow = rules({"name": "a", "type": "allow", "actions": ["get_state"]})
    assert allow.refusal(S, "vault", "get_state") is None
    assert allow.refusal(S, "vault", "get") is not None  # may be an action of its own


def test_decisions_are_the_same_when_remembered() -> None:
    ps = rules({"name": "d", "type": "deny", "actions": ["reset"]})
    for _ in range(3):
        assert ps.refusal(S, "c", "reset") is not None
        assert ps.refusal(S, "c", "add") is None


# --- loading ------------------------------------------------------------------------------------


def test_a_directory_of_yaml_and_json_files(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text("type: deny\nactors: [vault]\n")
    (tmp_path / "many.yml").write_text(
        "- {name: reads, type: allow, actions: [get_state]}\n- {type: allow, actors: ['c-*']}\n"
    )
    (tmp_path / "x.json").write_text(json.dumps({"name": "j", "type": "allow", "from": ["*"]}))
    (tmp_path / "README.md").write_text("not a policy")
    (tmp_path / ".hidden.yaml").write_text("this: is not read")
    ps = policies.load(tmp_path)
    assert sorted(p.name for p in ps.policies) == ["j", "many#2", "one", "reads"]
    assert ps.refusal(S, "vault", "get_state") == (
        "spawn-system/vault.get_state is denied by policy 'one' (one.yaml)"
    )


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.yaml", "type: alow\n", r"a\.yaml, policy 'a': field 'type' must be allow or deny"),
        ("a.yaml", "actors: [x]\n", r"a\.yaml, policy 'a': field 'type'"),
        ("a.yaml", "type: deny\naction: [x]\n", r"a\.yaml: unknown field 'action'"),
        ("a.yaml", "type: deny\nactors: []\n", r"a\.yaml, policy 'a': field 'actors' must be"),
        ("a.yaml", "type: deny\nactors: [1]\n", r"field 'actors' has 1"),
        ("a.yaml", "type: deny\nfrom: ['!']\n", r"field 'from' has '!'"),
        ("a.yaml", "type: deny\nactions: {a: 1}\n", r"field 'actions' must be"),
        ("a.yaml", "type: deny\nsystems: [a]\nactor_systems: [b]\n", "not both"),
        ("a.yaml", "name: ''\ntype: deny\n", r"a\.yaml: field 'name'"),
        ("a.yaml", "", r"a\.yaml: the file is empty"),
        ("a.yaml", "[]", r"a\.yaml: the list of policies is empty"),
        ("a.yaml", "- type: deny\n- just a string\n", r"a\.yaml: a policy must be a mapping"),
        ("a.yaml", "type: [deny\n", r"a\.yaml: not valid YAML"),
        ("a.json", '{"type": "deny",}', r"a\.json: not valid JSON"),
    ],
)
def test_malformed_files_are_config_errors(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=message):
        policies.load(tmp_path)


def test_the_directory_itself_must_make_sense(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a directory"):
        policies.load(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"no \*\.yaml"):
        policies.load(tmp_path)
    (tmp_path / "a.yaml").write_text("{name: same, type: deny}")
    (tmp_path / "b.yaml").write_text("{name: same, type: allow}")
    with pytest.raises(ConfigError, match=r"'same' is used twice \(a\.yaml and b\.yaml\)"):
        policies.load(tmp_path)


def test_spawn_policy_files_are_refused_not_ignored(tmp_path: Path) -> None:
    (tmp_path / "robert.policy").write_text("type: allow\nactors: robert\n")
    with pytest.raises(ConfigError, match=r"robert\.policy is in Spawn's \.policy format"):
        policies.load(tmp_path)


def test_a_malformed_file_stops_the_node(tmp_path: Path, key: str) -> None:
    pdir = tmp_path / "policies"
    pdir.mkdir()
    (pdir / "bad.yaml").write_text("type: maybe\n")
    cfg = NodeConfig(
        statestore=f"sqlite:///{tmp_path}/r.db", statestore_key=key, policies=str(pdir)
    )
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        Node(cfg, actor_classes=[Counter])


# --- on a node ----------------------------------------------------------------------------------


class Vault(Actor):
    name = "vault"

    @action
    async def open(self, payload: Any, ctx: Context) -> Value:
        opened = (ctx.state or {}).get("opened", 0) + 1
        by = None if ctx.caller is None else str(ctx.caller)
        return Value().state({"opened": opened}).response({"opened": opened, "by": by})


class Teller(Actor):
    """Calls the vault from its turn (`ctx.invoke`) or after it (a pipe)."""

    name = "teller"

    @action
    async def call_vault(self, ctx: Context) -> Value:
        return Value().response(await ctx.invoke("vault", "open"))

    @action
    async def pipe_vault(self, ctx: Context) -> Value:
        return Value().response({}).pipe("vault", "open")


class Intern(Teller):
    name = "intern"


POLICIES = """
- name: tellers-open-the-vault
  type: deny
  actors: [vault]
  actions: [open]
  from: ["!teller"]
- name: no-locked-spawns
  type: deny
  actors: ["locked-*"]
  actions: [spawn]
"""


@pytest.fixture
async def node(tmp_path: Path, key: str) -> AsyncIterator[Node]:
    pdir = tmp_path / "policies"
    pdir.mkdir()
    (pdir / "bank.yaml").write_text(POLICIES)
    cfg = NodeConfig(
        node_id="acl-test",
        http=f"127.0.0.1:{free_port()}",
        proxy_http=f"127.0.0.1:{free_port()}",
        statestore=f"sqlite:///{tmp_path}/roost.db",
        statestore_key=key,
        policies=str(pdir),
    )
    n = Node(cfg, actor_classes=[Vault, Teller, Intern, Counter])
    await n.start()
    yield n
    await n.drain()


@pytest.fixture
async def http(node: Node) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=f"http://{node.config.http}") as s:
        yield s


async def opened(node: Node) -> int:
    state = await node.invoke("vault", "get_state", system=S, caller=TELLER)
    return int((state or {}).get("opened", 0))


async def test_http_calls_are_checked(http: aiohttp.ClientSession, node: Node) -> None:
    st, data, _ = await call(http, "POST", f"{A}/vault/actions/open")
    assert (st, code(data)) == (403, "forbidden")
    assert data["error"]["message"] == (
        "spawn-system/vault.open is denied by policy 'tellers-open-the-vault' (bank.yaml)"
    )
    for query in ("?async=true", "?delay_ms=10"):  # refused at once, not accepted then dropped
        st, data, _ = await call(http, "POST", f"{A}/vault/actions/open{query}")
        assert (st, code(data)) == (403, "forbidden"), query
    assert await opened(node) == 0
    assert (await call(http, "GET", f"{A}/vault/state"))[0] == 200  # other actions: allowed


async def test_calls_between_actors_are_checked(http: aiohttp.ClientSession, node: Node) -> None:
    st, data, _ = await call(http, "POST", f"{A}/teller/actions/call_vault")
    assert (st, data) == (200, {"opened": 1, "by": "spawn-system/teller"})
    st, data, _ = await call(http, "POST", f"{A}/teller/actions/pipe_vault")
    assert (st, data) == (200, {"opened": 2, "by": "spawn-system/teller"})
    st, data, _ = await call(http, "POST", f"{A}/intern/actions/pipe_vault")
    assert (st, code(data)) == (403, "forbidden")
    assert "from spawn-system/intern" in data["error"]["message"]
    st, data, _ = await call(http, "POST", f"{A}/intern/actions/call_vault")
    # a denied ctx.invoke fails the calling action (it may have made other calls that ran)
    assert (st, code(data)) == (500, "action_failed")
    assert "tellers-open-the-vault" in data["error"]["message"]
    assert await opened(node) == 2


async def test_spawn_is_checked(http: aiohttp.ClientSession) -> None:
    st, data, _ = await call(http, "POST", f"{A}/locked-1/spawn", {"parent": "counter"})
    assert (st, code(data)) == (403, "forbidden")
    assert "locked-1.spawn is denied by policy 'no-locked-spawns'" in data["error"]["message"]
    st, _, _ = await call(http, "POST", f"{A}/open-1/spawn", {"parent": "counter"})
    assert st == 200


async def test_the_spawn_protocol_port_is_checked(node: Node) -> None:
    status, out, _ = await proto_invoke(node, "vault", "open")
    assert (status, out.status.status) == (403, P.ERROR)
    assert "tellers-open-the-vault" in out.status.message
    status, out, _ = await proto_invoke(node, "vault", "open", **{"async": True})
    assert status == 403
    teller = actor_pb2.ActorId(name="teller", system=S)
    status, out, _ = await proto_invoke(node, "vault", "open", caller=teller)
    assert (status, out.status.status) == (200, P.OK)
    assert await opened(node) == 1


def test_the_readme_example_means_what_the_readme_says() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("# policies/bank.yaml", 1)[1].split("\n", 1)[1].split("```", 1)[0]
    ps = policies.build(policies.parse_text(textwrap.dedent(block), "bank.yaml"))
    assert ps.refusal(S, "vault", "open", TELLER) is None
    assert ps.refusal(S, "vault", "open", ActorId("intern", S)) is not None
    assert ps.refusal(S, "vault", "open", None) is not None
    assert ps.refusal(S, "counter-1", "reset", None) is not None  # from outside: refused
    assert ps.refusal(S, "counter-1", "reset", TELLER) is None  # from an actor: allowed
    assert ps.refusal(S, "counter-1", "add", None) is None


class Listener(Actor):
    name = "listener"
    kind = "unnamed"
    channels = (Channel("news", action="hear"),)

    @action(init=True)
    async def init(self, ctx: Context) -> Value:
        return Value().state(ctx.state or {"heard": 0})

    @action
    async def hear(self, payload: Any, ctx: Context) -> Value:
        return Value().state({"heard": ctx.state["heard"] + 1})


class Crier(Actor):
    name = "crier"

    @action
    async def shout(self, ctx: Context) -> Value:
        return Value().response("ok").broadcast("news", {"n": 1})


async def test_broadcast_deliveries_are_checked_per_subscriber(tmp_path: Path, key: str) -> None:
    pdir = tmp_path / "p"
    pdir.mkdir()
    (pdir / "p.yaml").write_text(
        "- {name: muted, type: deny, actors: [muted-*], actions: [hear]}\n"
    )
    cfg = NodeConfig(
        node_id="acl-bcast", http=f"127.0.0.1:{free_port()}", proxy_http="off",
        statestore=f"sqlite:///{tmp_path}/r.db", statestore_key=key, policies=str(pdir),
    )  # fmt: skip
    node = Node(cfg, actor_classes=[Listener, Crier])
    await node.start()
    try:
        for name in ("open-1", "muted-1"):  # activate both subscribers
            await node.invoke(name, "get_state", system=S, parent="listener")
        assert await node.invoke("crier", "shout", system=S) == "ok"
        for _ in range(200):  # delivery runs after the reply
            heard = await node.invoke("open-1", "get_state", system=S, parent="listener")
            if heard["heard"]:
                break
            await asyncio.sleep(0.01)
        assert heard == {"heard": 1}
        muted = await node.invoke("muted-1", "get_state", system=S, parent="listener")
        assert muted == {"heard": 0}  # the policy kept the broadcaster's action from it
    finally:
        await node.drain()
