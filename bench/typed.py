"""Typed state and payloads against dicts: in-process calls per second, side by side (issue 20).

Run with `python -m bench --only typed`. One actor, one small state, the same arithmetic; the
variants differ only in how state and payload are declared:

- **dict**: ``state_type = "json"``, a dict payload (the seed `Incrementor`);
- **dataclass**: a dataclass state and a dataclass payload passed as an instance (what a typed
  reference sends in-process: checked with one isinstance);
- **dataclass from JSON**: the same actor given the payload's JSON form, as HTTP hands it over:
  every field is checked and the instance built before the turn;
- **pydantic**: a pydantic model state and payload (instance passed).

Each run makes `n` sequential calls through the router (as core's in-process figure does) to each
variant in turn, in one process, so that machine load hits them alike; median of `Scale.repeat`
runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pydantic

from bench.common import Scale, summary
from roost import Actor, Context, Value, action


@dataclass
class Tally:
    total: int = 0


@dataclass
class Add:
    value: int


class TallyModel(pydantic.BaseModel):
    total: int = 0


class AddModel(pydantic.BaseModel):
    value: int


class DictCounter(Actor):
    name = "dict"

    @action
    async def add(self, payload: dict[str, int], ctx: Context) -> Value[dict[str, int]]:
        total = (ctx.state or {"total": 0})["total"] + payload["value"]
        return Value().state({"total": total}).response({"total": total})


class TypedCounter(Actor):
    name = "dataclass"
    state_type = Tally

    @action
    async def add(self, req: Add, ctx: Context) -> Value[Tally]:
        state = Tally(ctx.state.total + req.value)
        return Value().state(state).response(state)


class ModelCounter(Actor):
    name = "pydantic"
    state_type = TallyModel

    @action
    async def add(self, req: AddModel, ctx: Context) -> Value[TallyModel]:
        state = TallyModel(total=ctx.state.total + req.value)
        return Value().state(state).response(state)


VARIANTS: dict[str, tuple[str, Any]] = {
    "dict": ("dict", {"value": 1}),
    "dataclass": ("dataclass", Add(1)),
    "dataclass_from_json": ("dataclass", {"value": 1}),
    "pydantic": ("pydantic", AddModel(value=1)),
}


async def _once(n: int) -> dict[str, float]:
    import roost

    out: dict[str, float] = {}
    actors = [DictCounter, TypedCounter, ModelCounter]
    async with roost.ActorSystem("bench", actors=actors) as system:
        invoke = system.core.router.invoke
        for name, (actor, payload) in VARIANTS.items():
            await invoke(actor, "add", payload, system="bench")  # activated first
            t0 = time.perf_counter()
            for _ in range(n):
                await invoke(actor, "add", payload, system="bench")
            out[name] = n / (time.perf_counter() - t0)
    return out


def run() -> dict[str, Any]:
    import uvloop

    n = Scale.pick(200_000, 20_000)
    runs = [uvloop.run(_once(n)) for _ in range(Scale.repeat)]
    per_s = {name: summary([r[name] for r in runs]) for name in VARIANTS}
    base = per_s["dict"]["median"]
    return {
        "calls": n,
        "per_s": per_s,
        "ratio_to_dict": {k: round(v["median"] / base, 3) for k, v in per_s.items()},
        "us_per_call_over_dict": {
            k: round(1e6 / v["median"] - 1e6 / base, 2) for k, v in per_s.items()
        },
    }


def render(r: dict[str, Any], core: dict[str, Any] | None = None) -> str:
    """The typed-state section of RESULTS.md (`core`: the core suite's results, whose in-process
    dict figure, taken on a quieter machine, the ratio is also applied to)."""
    rows = [
        f"| {name} | {v['median']:,.0f} | {v['min']:,.0f} - {v['max']:,.0f} "
        f"| {r['ratio_to_dict'][name]:.2f} | {r['us_per_call_over_dict'][name]:+.2f} |"
        for name, v in r["per_s"].items()
    ]
    target = r["per_s"]["dataclass"]["median"]
    verdict = "met" if target > 150_000 else "NOT met"
    load = r.get("_meta", {}).get("load", ["?", "?"])
    core_one = ((core or {}).get("inprocess") or {}).get("one_per_s", {}).get("median")
    core_load = ((core or {}).get("_meta") or {}).get("load", ["?"])[0]
    projected = ""
    if core_one:
        est = core_one * r["ratio_to_dict"]["dataclass"]
        projected = (
            f" This run's 1-minute load average was {load[0]} on 2 cores; the core suite's "
            f"in-process figure for the dict counter ({core_one:,.0f}/s, load {core_load}) "
            f"times the dataclass/dict ratio measured here is {est:,.0f}/s."
        )
    return f"""## Typed state and payloads (issue 20)

`python -m bench --only typed`: {r["calls"]:,} sequential in-process calls per variant through the
router, one actor with a one-field state, every variant in each run (see bench/typed.py).
**dataclass from JSON** is the payload as HTTP hands it over (checked field by field before the
turn); the others pass instances. Median of the runs, with min - max.

| variant | calls/s | range | ratio to dict | us/call over dict |
|---|--:|--:|--:|--:|
{chr(10).join(rows)}

Target from issue 20: above 150,000 calls/s in-process for a small typed state: {verdict}
in this run ({target:,.0f}/s).{projected}
"""


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
