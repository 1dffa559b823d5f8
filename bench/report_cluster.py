"""The cluster and placement sections of bench/RESULTS.md (figures 5 and 6, issue 5)."""

from __future__ import annotations

from typing import Any

from bench.report import _g, f


def cluster_section(cluster: dict[str, Any], core: dict[str, Any]) -> str:
    if "skipped" in cluster:
        return f"## Cluster (issue 9, figures 5 and 6)\n\nSkipped: {cluster['skipped']}\n"
    fw, sp = cluster.get("forwarding", {}), cluster.get("spread", {})
    single = _g(core, "http", "roost", "per_s")

    def wrk_row(name: str, d: dict[str, Any] | None) -> str:
        if not d:
            return f"| {name} | n/a | | | |"
        return (
            f"| {name} | {f(d.get('per_s'), '/s')} | {f(d.get('p50_ms'), '', 2)} "
            f"| {f(d.get('p99_ms'), '', 1)} | {f(d.get('errors'))} |"
        )

    share = fw.get("forwarded_share_of_direct")
    return f"""## Cluster on loopback (issue 9, figures 5 and 6)

Real `roost node` processes on this 2-core box with serf gossip and the PostgreSQL statestore
(a fresh schema), `tally` counters (write-behind), wrk `-t1` per process with a Lua script that
cycles over the actors' paths. Nodes, wrk and PostgreSQL share the two cores, so cluster
throughput here measures CPU cost per call, not scale-out.

| figure | calls/s | p50 (ms) | p99 (ms) | errors |
|---|---|---|---|---|
{wrk_row(f"(5) via the non-owner: node A forwards to B ({fw.get('actors', '?')} actors B owns), "
         f"wrk {fw.get('wrk', '')}", fw.get("forwarded"))}
{wrk_row("(5) the same actors on their owner B directly", fw.get("owner_direct"))}
{wrk_row(f"(6) 3 nodes, each wrk over all {sp.get('actors', '?')} actors (2 in 3 forwarded)",
         sp.get("any_node"))}
{wrk_row("(6) 3 nodes, each wrk over the actors its node owns (no forwarding)",
         sp.get("owner_aware"))}

Forwarded calls run at {"n/a" if share is None else f"{share:.0%}"} of the owner-direct rate
(a forwarded call costs two HTTP hops and both nodes' CPU). For scale: one `roost demo` node
alone serves {f(single, "/s")} with SQLite. (6) sums the three wrk rates; its p50 and p99 are
the worst of the three. wrk: {sp.get("wrk", "")}.
"""  # fmt: skip


def placement_section(
    ring: dict[str, Any], cluster: dict[str, Any], rolling: dict[str, Any] | None = None
) -> str:
    ho = cluster.get("handoff", {})
    # the `rolling` suite (both loads); older result files had one load inside `cluster`
    loads = {k: v for k, v in (rolling or {}).items() if isinstance(v, dict) and "p50_ms" in v}
    rr = loads.get("default") or cluster.get("rolling_restart", {})
    lines = [
        "## Placement (issue 5)",
        "",
        "| figure | result | ideal / note |",
        "|---|---|---|",
    ]
    if ring:
        moved = ring["moved_share_3_to_4"]
        lines += [
            f"| actors moved when a 4th node joins 3 ({ring['keys']:,} keys, "
            f"{ring['vnodes']} vnodes) | {moved['median']:.1%} ({moved['min']:.1%}-"
            f"{moved['max']:.1%}) | 25%; every moved key goes to the new node |",
            f"| load spread, max/mean actors per node, 3 nodes | "
            f"{f(ring['max_over_mean_3'], '', 3)} | 1.0 |",
            f"| load spread, max/mean actors per node, 10 nodes | "
            f"{f(ring['max_over_mean_10'], '', 3)} | 1.0 |",
        ]
    if ho and "sigterm_to_handed_off_s" in ho:  # older result files lack it
        counts = "; ".join("+".join(str(n) for n in run) for run in ho["handed_off"])
        all_ok = "" if ho.get("handed_off_all") else " **(not all handed off)**"
        lines += [
            f"| handoff of {ho['actors']:,} active, dirty actors: SIGTERM to all handed off "
            f"(state flushed in one batch, leases released) | "
            f"{f(ho['sigterm_to_handed_off_s'], ' s', 2)} | per run, activations each handoff "
            f"line reports (rebalance + drain): {counts}{all_ok} |",
            f"| the same drain, SIGTERM to process exit (adds serf leave) | "
            f"{f(ho['drain_s'], ' s', 2)} | node's own log: {f(ho['drain_logged_s'], ' s', 2)} |",
        ]
    if rr:
        lines += [
            f"| rolling restart of all 3 nodes under load ({rr['clients']} clients, "
            f"{rr['counters']} `sync` counters): p50 / p99 / max (ms) | "
            f"{f(rr['p50_ms'], '', 1)} / {f(rr['p99_ms'], '', 1)} / {f(rr['max_ms'])} | "
            f"steady-state p99 before the restart {f(rr['steady_p99_ms'], '', 1)} ms |",
            f"| rolling restart: failed calls (per run) | {f(rr['errors'])} | 0; "
            f"lost-connection calls {f(rr['unknown'])}; "
            f"totals exact: {'yes' if rr['all_totals_exact'] else '**no**'} |",
            f"| rolling restart: calls re-sent (refused connection / 503) per run | "
            f"{f(rr['rerouted'])} / {f(rr['retried_503'])} | calls during restart: "
            f"{f(rr['calls'])} at {f(rr['per_s'], '/s')} |",
            f"| rolling restart: whole restart; longest drain | {f(rr['restart_s'], ' s', 1)}; "
            f"{f(rr['drain_s_max'], ' s', 1)} | drain timeout 25 s |",
        ]
    if loads:
        lines += ["", *rolling_drains(loads)]
    if rr and not loads and rr["drain_s_max"]["median"] >= 20:
        lines += [
            "",
            "Under load the drains ran into the 25 s drain timeout, which is where the max latency",
            "comes from: two bugs (a forwarded call at the hop limit spins until its deadline;",
            "concurrent deactivations deadlock), described with a measured fix in",
            "`bench/PROFILE.md`; with that fix the same figure gave a max of 0.5-0.9 s, drains of",
            "2-8 s and no failed calls. Nothing acknowledged was lost either way (totals exact).",
        ]
    lines.append("")
    return "\n".join(lines)


def rolling_drains(loads: dict[str, dict[str, Any]]) -> list[str]:
    """Issue 23: drain time per node under each load of the rolling restart (3 nodes, each run
    restarts all three), and the client side of the heavier load."""
    out = [
        "Rolling restart at two loads (issue 23: drain time must not grow with the load; "
        "`python -m bench --only rolling`). A drain is SIGTERM to process exit (handoff, "
        "in-flight calls, serf leave); p50 and max are over the 3 nodes of one run, median "
        "(min-max) over runs.",
        "",
        "| load | drain p50 | drain max | each run's drains (s, restart order) | "
        "client p50 / p99 / max (ms) | failed / lost-connection calls per run | totals exact |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rr in loads.items():
        conn = "keep-alive connections" if rr.get("keep_alive") else "a new connection per call"
        runs = "; ".join(", ".join(f"{d:.1f}" for d in run) for run in rr.get("drains_s", []))
        out.append(
            f"| {name}: {rr['clients']} clients, {conn} | {f(rr['drain_s_p50'], ' s', 1)} | "
            f"{f(rr['drain_s_max'], ' s', 1)} | {runs} | {f(rr['p50_ms'], '', 1)} / "
            f"{f(rr['p99_ms'], '', 1)} / {f(rr['max_ms'])} | {f(rr['errors'])} / "
            f"{f(rr['unknown'])} | {'yes' if rr['all_totals_exact'] else '**no**'} |"
        )
    return out
