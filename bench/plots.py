"""PNG plots of the results (matplotlib, Agg): bar charts of medians with min/max error bars,
one PNG per figure group in bench/results/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

Bar = tuple[str, dict[str, float] | None]


def _bars(ax: Any, title: str, bars: list[Bar], unit: str, log: bool = False) -> None:
    bars = [(label, s) for label, s in bars if s]
    if not bars:
        ax.set_visible(False)
        return
    labels = [b[0] for b in bars]
    mids = [b[1]["median"] for b in bars]
    lo = [b[1]["median"] - b[1]["min"] for b in bars]
    hi = [b[1]["max"] - b[1]["median"] for b in bars]
    colors = ["#2b7bb9" if lab.startswith("Roost") else "#d95f02" for lab in labels]
    ax.bar(range(len(bars)), mids, yerr=[lo, hi], capsize=4, color=colors)
    ax.set_xticks(range(len(bars)), labels, rotation=20, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(unit)
    if log:
        ax.set_yscale("log")
    for i, m in enumerate(mids):
        ax.annotate(f"{m:,.0f}" if m >= 10 else f"{m:.2f}", (i, m), ha="center",
                    va="bottom", fontsize=7)  # fmt: skip


def _g(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _flat(v: float | None) -> dict[str, float] | None:
    return None if v is None else {"median": v, "min": v, "max": v}


def plot_all(suites: dict[str, dict[str, Any]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    core, peer, ray = suites.get("core", {}), suites.get("peer", {}), suites.get("ray", {})
    cl, stores = suites.get("cluster", {}), suites.get("stores", {})
    written = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        path = out / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    if core or ray:
        fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
        _bars(axes[0], "(1) one counter, sequential", [
            ("Roost in-process", _g(core, "inprocess", "one_per_s")),
            ("Roost HTTP, 1 client", _g(peer, "http_sequential", "per_s")),
            ("Ray ray.get", _g(ray, "sequential", "per_s")),
        ], "calls/s (log)", log=True)  # fmt: skip
        _bars(axes[1], "(2) 64 callers", [
            ("Roost in-process", _g(core, "inprocess", "many_per_s")),
            ("Ray asyncio", _g(ray, "concurrent", "per_s")),
        ], "calls/s (log)", log=True)  # fmt: skip
        _bars(axes[2], "(3) activation: first calls to new actors", [
            ("Roost SQLite", _g(peer, "activation", "sqlite")),
            ("Roost memory", _g(peer, "activation", "memory")),
            ("Ray create+call", _g(ray, "activation_per_s")),
        ], "actors/s (log)", log=True)  # fmt: skip
        save(fig, "roost_vs_ray_throughput.png")

        fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
        _bars(axes[0], "(1)/(2) p99 latency per call", [
            ("Roost seq", _g(core, "inprocess", "one_p99_ms")),
            ("Roost HTTP 1 client", _g(peer, "http_sequential", "p99_ms")),
            ("Roost 64 callers", _g(core, "inprocess", "many_p99_ms")),
            ("Ray seq", _g(ray, "sequential", "p99_ms")),
            ("Ray 64 callers", _g(ray, "concurrent", "p99_ms")),
        ], "ms (log)", log=True)  # fmt: skip
        _bars(axes[1], "(4) memory per idle actor", [
            ("Roost RSS (SQLite)", _g(core, "memory", "rss_bytes_per_actor")),
            ("Ray worker PSS", _flat(_g(ray, "memory", "pss_bytes_per_actor"))),
            ("Ray worker RSS", _flat(_g(ray, "memory", "rss_bytes_per_actor"))),
        ], "bytes (log)", log=True)  # fmt: skip
        save(fig, "roost_vs_ray_latency_memory.png")

    if core or cl:
        fig, ax = plt.subplots(figsize=(10, 4.4))
        _bars(ax, "HTTP throughput with wrk (2 cores, everything on one box)", [
            ("Roost demo node", _g(core, "http", "roost", "per_s")),
            ("bare aiohttp", _g(core, "http", "bare", "per_s")),
            ("Roost (5) via non-owner", _g(cl, "forwarding", "forwarded", "per_s")),
            ("Roost (5) owner direct", _g(cl, "forwarding", "owner_direct", "per_s")),
            ("Roost (6) 3 nodes, any node", _g(cl, "spread", "any_node", "per_s")),
            ("Roost (6) 3 nodes, owner-aware", _g(cl, "spread", "owner_aware", "per_s")),
        ], "calls/s")  # fmt: skip
        save(fig, "http_cluster.png")

    # the `rolling` suite's default load; older result files had it inside `cluster`
    rr = _g(suites.get("rolling", {}), "default") or _g(cl, "rolling_restart")
    if rr:
        fig, ax = plt.subplots(figsize=(7, 4))
        _bars(ax, "client latency during a rolling restart of 3 nodes", [
            ("Roost p50", rr["p50_ms"]), ("Roost p99", rr["p99_ms"]),
            ("Roost max", rr["max_ms"]), ("Roost steady p99", rr["steady_p99_ms"]),
        ], "ms (log)", log=True)  # fmt: skip
        save(fig, "rolling_restart.png")

    sizes = _g(suites.get("scaling", {}), "sizes")
    if sizes:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        ns = sorted(sizes, key=int)
        lines = (("plain", "plain clients (any node)", "#d95f02"),
                 ("owner_aware", "owner-aware clients", "#2b7bb9"),
                 ("solo", "N solo nodes, no cluster (control)", "#7f7f7f"))  # fmt: skip
        for kind, label, color in lines:
            have = [n for n in ns if kind in sizes[n] or (kind == "solo" and n == ns[0])]
            if len(have) < 2:
                continue
            # one node is the solo control's first point: the same single node
            runs = [sizes[n].get(kind) or sizes[n]["owner_aware"] for n in have]
            cpu = [r["cpu_ms_per_call"] for r in runs]
            mids = [c["median"] for c in cpu]
            lo = [c["median"] - c["min"] for c in cpu]
            hi = [c["max"] - c["median"] for c in cpu]
            ax.errorbar([int(n) for n in have], mids, yerr=[lo, hi], marker="o", capsize=3,
                        label=label, color=color, ls=":" if kind == "solo" else "-")  # fmt: skip
        one = sizes[ns[0]]
        base = (one["plain"]["cpu_ms_per_call"]["median"]
                + one["owner_aware"]["cpu_ms_per_call"]["median"]) / 2  # fmt: skip
        ax.axhline(base * 1.3, ls="--", color="grey", label="1.3x one node")
        ax.set_xticks([int(n) for n in ns])
        ax.set_xlabel("nodes (loopback, 2 cores)")
        ax.set_ylabel("CPU ms per call (all Roost processes)")
        ax.set_title("CPU per call as the cluster grows", fontsize=10)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
        save(fig, "scaling.png")

    ok = {k: v for k, v in stores.items() if isinstance(v, dict) and "flush_rows_per_s" in v}
    if ok:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        _bars(axes[0], "statestore: 10k-row flush", [
            (f"Roost {k}", _flat(v["flush_rows_per_s"])) for k, v in ok.items()
        ], "rows/s (log)", log=True)  # fmt: skip
        _bars(axes[1], "statestore: single CAS writes", [
            (f"Roost {k}", _flat(v["single_cas_per_s"])) for k, v in ok.items()
        ], "writes/s (log)", log=True)  # fmt: skip
        save(fig, "stores.png")
    return written
