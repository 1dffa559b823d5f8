"""ACL policies: which invocations a node accepts. Pure matching; `load` is the only I/O.

A policy (`--policies DIR`: every ``*.yaml``, ``*.yml`` and ``*.json`` file holds one or a list)::

    name: no-drain-from-outside   # default: the file's stem (with #N for the Nth of a list)
    type: deny                    # allow | deny (required)
    actors: ["vault", "admin-*"]  # the invoked actor's name, glob patterns; default ["*"]
    actions: ["drain"]            # the invoked action; default ["*"]
    systems: ["*"]                # the invoked actor's system (Spawn's `actor_systems` too)
    from: ["!*"]                  # the calling actor, `system/name` or `name`; default: anyone

Patterns are globs (`*`, `?`, `[...]`, case-sensitive); one starting with ``!`` excludes. A list
matches a value that some plain pattern matches (or any value, if it has only exclusions) and no
exclusion matches. An external call (HTTP, a Spawn SDK client) has no calling actor: a `from`
list matches it only if it has only exclusions, so ``from: ["*"]`` means "any actor" and
``from: ["!*"]`` means "external callers only".

Decision: a call is refused if any deny policy matches it; otherwise it is allowed if there are
no allow policies or one of them matches (default allow-all, deny wins). Spawn differs: its
`actors` and `actor_systems` name the *caller*, which here is `from`.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roost.errors import ConfigError, Forbidden
from roost.sdk.actor import GET_STATE_ALIASES
from roost.sdk.context import ActorId

ALLOW, DENY = "allow", "deny"
SPAWN_ACTION = "spawn"  # what `POST .../spawn` is checked as (it runs no action of its own)
SUFFIXES = (".yaml", ".yml", ".json")
FIELDS = ("name", "type", "actors", "actions", "systems", "actor_systems", "from", "description")
CACHE_MAX = 50_000  # decisions remembered per node (a set of unnamed actors can be unbounded)

_Key = tuple[str, str, str, ActorId | None]


def _regex(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


@dataclass(frozen=True, slots=True)
class Patterns:
    """One field's glob list, compiled once: plain patterns include, ``!`` patterns exclude."""

    source: tuple[str, ...]
    include: re.Pattern[str] | None  # None: every value is included
    exclude: re.Pattern[str] | None
    only_exclusions: bool  # no plain pattern: also matches "no value" (an external caller)

    @classmethod
    def of(cls, patterns: Sequence[str]) -> Patterns:
        plain = [p for p in patterns if not p.startswith("!")]
        excluded = [p[1:] for p in patterns if p.startswith("!")]
        return cls(
            tuple(patterns),
            None if not plain or "*" in plain else _regex(plain),
            _regex(excluded),
            not plain,
        )

    def matches(self, value: str | None) -> bool:
        if value is None:
            return self.only_exclusions
        if self.include is not None and self.include.match(value) is None:
            return False
        return self.exclude is None or self.exclude.match(value) is None


ANY = Patterns.of(["*"])


@dataclass(frozen=True, slots=True)
class Policy:
    """One rule. `callers` is None when the policy has no `from`: it matches any caller."""

    name: str
    type: str  # ALLOW | DENY
    actors: Patterns = ANY
    actions: Patterns = ANY
    systems: Patterns = ANY
    callers: Patterns | None = None
    source: str = ""  # the file it came from, for messages

    def matches(self, system: str, actor: str, action: str, caller: ActorId | None) -> bool:
        if not (
            self.actors.matches(actor)
            and self.actions.matches(action)
            and self.systems.matches(system)
        ):
            return False
        if self.callers is None:
            return True
        return self.callers.matches(None if caller is None else f"{caller.system}/{caller.name}")

    def describe(self) -> str:
        return f"{self.name!r} ({self.source})" if self.source else repr(self.name)


class PolicySet:
    """The policies of one node, and the decisions already made (bounded; cleared when full)."""

    def __init__(self, policies: Sequence[Policy]) -> None:
        self.policies = tuple(policies)
        self._deny = tuple(p for p in self.policies if p.type == DENY)
        self._allow = tuple(p for p in self.policies if p.type == ALLOW)
        self._decided: dict[_Key, str | None] = {}

    def __len__(self) -> int:
        return len(self.policies)

    def refusal(
        self, system: str, actor: str, action: str, caller: ActorId | None = None
    ) -> str | None:
        """Why the call is refused, or None when it is allowed."""
        key = (system, actor, action, caller)
        try:
            return self._decided[key]
        except KeyError:
            pass
        reason = self._decide(system, actor, action, caller)
        if len(self._decided) >= CACHE_MAX:
            self._decided.clear()
        self._decided[key] = reason
        return reason

    def check(self, system: str, actor: str, action: str, caller: ActorId | None = None) -> None:
        """Raise `Forbidden` (403) naming the call and the policy when it is refused."""
        reason = self.refusal(system, actor, action, caller)
        if reason is not None:
            raise Forbidden(reason)

    def _decide(self, system: str, actor: str, action: str, caller: ActorId | None) -> str | None:
        call = f"{system}/{actor}.{action}" + ("" if caller is None else f" from {caller}")
        # `getState`, `get`...: the built-in get_state under another name. A deny of get_state
        # covers them all (no way around it); an allow names the spelling it allows.
        spellings = (action, "get_state") if action in GET_STATE_ALIASES else (action,)
        for p in self._deny:
            if any(p.matches(system, actor, a, caller) for a in spellings):
                return f"{call} is denied by policy {p.describe()}"
        if not self._allow or any(p.matches(system, actor, action, caller) for p in self._allow):
            return None
        names = ", ".join(repr(p.name) for p in self._allow[:5])
        more = "" if len(self._allow) <= 5 else f" and {len(self._allow) - 5} more"
        return f"{call} matches no allow policy (allow policies: {names}{more})"


# --- parsing ---------------------------------------------------------------------------------


def _patterns(raw: Any, where: str, field: str) -> Patterns:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}: field {field!r} must be a non-empty list of names or globs")
    for item in items:
        if not isinstance(item, str) or not item.strip() or item.strip() == "!":
            raise ConfigError(f"{where}: field {field!r} has {item!r}, not a name or glob")
    return Patterns.of([item.strip() for item in items])


def _qualified(pattern: str) -> str:
    """A caller pattern as `system/name` (a bare name is that actor in any system)."""
    neg, body = ("!", pattern[1:]) if pattern.startswith("!") else ("", pattern)
    return pattern if "/" in body or body == "*" else f"{neg}*/{body}"


def _callers(raw: Any, where: str) -> Patterns:
    return Patterns.of([_qualified(p) for p in _patterns(raw, where, "from").source])


def parse_policy(data: Any, source: str, default_name: str) -> Policy:
    """One policy from its decoded form; `ConfigError` names the file and the field."""
    where = f"policy file {source}"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: a policy must be a mapping, got {type(data).__name__}")
    unknown = sorted(str(k) for k in data if k not in FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)})")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: field 'name' must be a non-empty string")
    where = f"{where}, policy {name!r}"
    kind = data.get("type")
    if not isinstance(kind, str) or kind.strip().lower() not in (ALLOW, DENY):
        raise ConfigError(f"{where}: field 'type' must be allow or deny, got {kind!r}")
    if "systems" in data and "actor_systems" in data:
        raise ConfigError(f"{where}: give 'systems' or 'actor_systems', not both")
    systems_field = "actor_systems" if "actor_systems" in data else "systems"

    def field(key: str) -> Patterns:
        return _patterns(data[key], where, key) if key in data else ANY

    return Policy(
        name=name.strip(),
        type=kind.strip().lower(),
        actors=field("actors"),
        actions=field("actions"),
        systems=field(systems_field),
        callers=_callers(data["from"], where) if "from" in data else None,
        source=source,
    )


def parse_document(data: Any, source: str, stem: str) -> list[Policy]:
    """A file's content: one policy (a mapping) or a list of them."""
    if isinstance(data, list):
        if not data:
            raise ConfigError(f"policy file {source}: the list of policies is empty")
        return [parse_policy(d, source, f"{stem}#{i + 1}") for i, d in enumerate(data)]
    if data is None:
        raise ConfigError(f"policy file {source}: the file is empty")
    return [parse_policy(data, source, stem)]


def parse_text(text: str, source: str) -> list[Policy]:
    """Decode a policy file's text (JSON for ``.json``, else YAML) and parse it."""
    stem = Path(source).stem
    if source.endswith(".json"):
        try:
            return parse_document(json.loads(text), source, stem)
        except ValueError as exc:
            raise ConfigError(f"policy file {source}: not valid JSON: {exc}") from exc
    import yaml  # type: ignore[import-untyped]

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"policy file {source}: not valid YAML: {exc}") from exc
    return parse_document(data, source, stem)


def build(policies: Iterable[Policy]) -> PolicySet:
    """The set, refusing two policies of one name (messages name policies; they must be clear)."""
    seen: dict[str, Policy] = {}
    for p in policies:
        if p.name in seen:
            raise ConfigError(
                f"policy name {p.name!r} is used twice ({seen[p.name].source} and {p.source})"
            )
        seen[p.name] = p
    return PolicySet(list(seen.values()))


def load(directory: str | Path) -> PolicySet:
    """Every policy file in `directory`. A missing directory, a directory with no policy file,
    Spawn's own ``*.policy`` files, or any malformed file stop the node with `ConfigError`:
    a typo must never turn into "allow everything"."""
    path = Path(directory)
    if not path.is_dir():
        raise ConfigError(f"--policies {directory}: not a directory")
    entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    spawn_files = [p.name for p in entries if p.suffix == ".policy"]
    if spawn_files:
        raise ConfigError(
            f"--policies {directory}: {spawn_files[0]} is in Spawn's .policy format, which is "
            "not read; write it as YAML (Spawn's actors/actor_systems name the caller: use 'from')"
        )
    files = [p for p in entries if p.suffix in SUFFIXES and p.is_file()]
    if not files:
        raise ConfigError(
            f"--policies {directory}: no *.yaml, *.yml or *.json file (to allow every call, "
            "leave --policies unset)"
        )
    found: list[Policy] = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"policy file {f.name}: cannot be read: {exc}") from exc
        found.extend(parse_text(text, f.name))
    return build(found)
