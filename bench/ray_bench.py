"""Ray's side of the Roost/Ray comparison. Runs in its own virtualenv (bench/.venv-ray).

Not imported by Roost: `bench.ray_suite` starts it as ``python bench/ray_bench.py '<json
settings>'`` and reads the JSON object it prints last. It measures Ray's named stateful actors
(``@ray.remote class Counter``, ``.options(name=...)``) on one local Ray node (``ray.init`` with
num_cpus = the machine's cores, no dashboard), the same figures as Roost:

1. sequential ``ray.get(a.add.remote(1))`` to one counter from one caller: calls/s, p50, p99;
2. 64 concurrent callers (asyncio tasks awaiting ``a.add.remote(1)``; threads measured the same
   within noise in a probe) over every counter alive at that point: calls/s, p99;
3. activation: create + first call of K new named counters, all submitted at once;
4. memory per idle counter: RSS and PSS of all ``ray::Counter`` worker processes (Ray runs one
   process per actor), grown in stages until a stage fails, would exceed the memory budget, or
   would take longer than the time budget. Where and why it stopped is recorded.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time

import ray


@ray.remote
class Counter:
    def __init__(self) -> None:
        self.total = 0

    def add(self, value: int) -> int:
        self.total += value
        return self.total


def pct(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)

    def at(p: float) -> float:
        return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))] * 1000

    return {"p50_ms": at(50), "p99_ms": at(99)}


def workers() -> list[tuple[int, int]]:
    """(RSS, PSS) in bytes of every live Counter worker process."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if not f.read().startswith(b"ray::Counter"):
                    continue
            with open(f"/proc/{pid}/statm") as f:
                rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            pss = 0
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss = int(line.split()[1]) * 1024
            out.append((rss, pss))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return out


def mem_available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def sequential(counter: ray.actor.ActorHandle, calls: int) -> dict[str, float]:
    lat = []
    t0 = time.perf_counter()
    for _ in range(calls):
        t = time.perf_counter()
        ray.get(counter.add.remote(1))
        lat.append(time.perf_counter() - t)
    return {"per_s": calls / (time.perf_counter() - t0), **pct(lat)}


async def concurrent(counters: list[ray.actor.ActorHandle], per_caller: int) -> dict[str, float]:
    lat: list[float] = []
    n = len(counters)

    async def caller(i: int) -> None:
        for j in range(per_caller):
            t = time.perf_counter()
            await counters[(i * 131 + j) % n].add.remote(1)
            lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(64)))
    return {"per_s": 64 * per_caller / (time.perf_counter() - t0), **pct(lat)}


def activate(prefix: str, k: int) -> tuple[list[ray.actor.ActorHandle], float]:
    t0 = time.perf_counter()
    made = [Counter.options(name=f"{prefix}-{i}").remote() for i in range(k)]
    ray.get([c.add.remote(1) for c in made])
    return made, k / (time.perf_counter() - t0)


def grow(alive: list[ray.actor.ActorHandle], cfg: dict, rate: float) -> dict:
    """Add counters in stages; stop at a failure, the memory budget or the time budget."""
    stages, attempts = [], []
    stopped = "reached the last stage"
    started = time.monotonic()
    for target in cfg["stages"]:
        if target <= len(alive):
            continue
        ws = workers()
        pss_each = sum(p for _, p in ws) / max(1, len(ws))
        extra = target - len(alive)
        need = extra * pss_each
        eta = extra / rate
        left = cfg["time_budget_s"] - (time.monotonic() - started)
        if need > cfg["mem_budget_bytes"] - sum(p for _, p in ws) or need > mem_available() * 0.8:
            stopped = (
                f"not tried {target}: ~{need / 2**30:.1f} GiB more PSS at "
                f"{pss_each / 2**20:.0f} MiB per counter would pass the "
                f"{cfg['mem_budget_bytes'] / 2**30:.0f} GiB budget for Ray on this shared box"
            )
            break
        if eta > left:
            stopped = (
                f"not tried {target}: ~{eta:.0f} s more at {rate:.1f} activations/s, over the "
                f"{cfg['time_budget_s']:.0f} s budget"
            )
            break
        attempts.append(target)
        try:
            made, rate = activate(f"grow{target}", extra)
        except Exception as exc:  # Ray raises many types; record whatever stopped it
            stopped = f"failed at {target}: {type(exc).__name__}: {str(exc)[:200]}"
            break
        alive.extend(made)
        time.sleep(1.0)  # let the workers settle into idle
        stages.append(measure_memory(len(alive)))
    return {"stages": stages, "attempted": attempts, "stopped": stopped}


def measure_memory(n: int) -> dict[str, float]:
    ws = workers()
    return {
        "actors": n,
        "workers": len(ws),
        "rss_bytes_per_actor": sum(r for r, _ in ws) / max(1, len(ws)),
        "pss_bytes_per_actor": sum(p for _, p in ws) / max(1, len(ws)),
    }


def main() -> None:
    cfg = json.loads(sys.argv[1])
    t_init = time.perf_counter()
    ray.init(
        num_cpus=os.cpu_count(),
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
    )
    init_s = time.perf_counter() - t_init
    runs = cfg["runs"]
    one = Counter.options(name="seq").remote()
    ray.get([one.add.remote(1) for _ in range(200)])  # warm up
    seq = [sequential(one, cfg["seq_calls"]) for _ in range(runs)]

    alive = [one]
    act_rates = []
    for r in range(runs):
        made, rate = activate(f"act{r}", cfg["activate_per_run"])
        alive.extend(made)
        act_rates.append(rate)
    conc_counters = len(alive)
    conc = [asyncio.run(concurrent(alive, cfg["per_caller"])) for _ in range(runs)]
    memory = grow(alive, cfg, statistics.median(act_rates))
    if not memory["stages"]:
        memory["stages"].append(measure_memory(len(alive)))
    result = {
        "ray": ray.__version__,
        "init_s": init_s,
        "sequential": seq,
        "concurrent": conc,
        "concurrent_counters": conc_counters,
        "activation_per_s": act_rates,
        "activation_batch": cfg["activate_per_run"],
        "memory": memory,
    }
    ray.shutdown()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
