"""The Ray suite: make bench/.venv-ray (``pip install ray``) if needed, run bench/ray_bench.py in
it as a subprocess, and summarise what it prints. Ray never shares a process or a virtualenv
with Roost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import ROOT, Scale, summarize_runs, summary

VENV = ROOT / "bench" / ".venv-ray"
SCRIPT = ROOT / "bench" / "ray_bench.py"
RAY_SPEC = os.environ.get("ROOST_BENCH_RAY", "ray")
GIB = 2**30


def ensure_venv() -> Path:
    """bench/.venv-ray with Ray installed (CPU only, from PyPI); created on first use."""
    py = VENV / "bin" / "python"
    probe = [py, "-c", "import ray"]
    if not py.exists() or subprocess.run(probe, capture_output=True, check=False).returncode:
        print(f"bench: creating {VENV} and installing {RAY_SPEC} (once)", file=sys.stderr)
        subprocess.run(["python3", "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [py, "-m", "pip", "install", "-q", "--disable-pip-version-check", RAY_SPEC],
            check=True,
        )
    return py


def settings() -> dict[str, Any]:
    return {
        "runs": Scale.repeat,
        "seq_calls": Scale.pick(3000, 300),
        "per_caller": Scale.pick(40, 5),
        "activate_per_run": Scale.pick(40, 8),
        "stages": [24] if Scale.quick else [200, 500, 1000],
        "mem_budget_bytes": 10 * GIB,
        "time_budget_s": Scale.pick(150, 30),
    }


def run() -> dict[str, Any]:
    py = ensure_venv()
    cfg = settings()
    env = {**os.environ, "RAY_DEDUP_LOGS": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    with tempfile.TemporaryDirectory(prefix="roost-ray-") as cwd:  # -I: no bench/ on sys.path
        out = subprocess.run(
            [py, "-I", str(SCRIPT), json.dumps(cfg)],
            capture_output=True, text=True, cwd=cwd, env=env, timeout=1200, check=False,
        )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"ray_bench failed ({out.returncode}): {out.stderr[-2000:]}")
    raw = json.loads(out.stdout.strip().splitlines()[-1])
    largest = raw["memory"]["stages"][-1]
    return {
        "ray_version": raw["ray"],
        "settings": cfg,
        "init_s": raw["init_s"],
        "sequential": summarize_runs(raw["sequential"]),
        "concurrent": summarize_runs(raw["concurrent"]),
        "concurrent_counters": raw["concurrent_counters"],
        "activation_per_s": summary(raw["activation_per_s"]),
        "activation_batch": raw["activation_batch"],
        "memory": {
            "actors": largest["actors"],
            "rss_bytes_per_actor": largest["rss_bytes_per_actor"],
            "pss_bytes_per_actor": largest["pss_bytes_per_actor"],
            "stages": raw["memory"]["stages"],
            "stopped": raw["memory"]["stopped"],
        },
        "raw": raw,
    }
