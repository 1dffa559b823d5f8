# Roost node image (the default target), and the operator image (`--target operator`).
#   docker build -t roost:0.1.0 .
#   docker build --target operator -t roost-operator:0.1.0 .
#   docker run --rm -p 8800:8800 -e ROOST_STATESTORE_KEY="$(roost keygen)" \
#       -e ROOST_ACTORS=examples.counters:Incrementor roost:0.1.0
# Every `roost node` flag is also an environment variable (README, "Configuration").

# --- builder: wheels for roost (with its `examples` package) and every dependency --------------
# The full Debian image has a compiler, for a dependency without a wheel for this platform; the
# same Python and the same Debian release as the runtime stage, so the wheels are compatible.
FROM python:3.11-bookworm AS builder
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY examples ./examples
# With the `operator` extra (the operator stage installs from these wheels too) and the
# `tracing` extra (OpenTelemetry, imported only when a node is given an OTLP endpoint).
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[operator,tracing]"

# --- operator: docker build --target operator ---------------------------------------------
# roost-operator (kopf) reconciles Spawn's ActorHost resources into what the Helm chart renders,
# rendering the chart copied here with embedded Helm (helm-python-sdk). It runs no node: no serf.
FROM python:3.11-slim-bookworm AS operator
RUN groupadd --system --gid 10001 roost \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
        --shell /usr/sbin/nologin roost
# roost[operator] (kopf, the Kubernetes client, embedded Helm) from the builder's wheels only,
# nothing fetched at install time.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels "$(echo /wheels/roost-*.whl)[operator]"
# The chart is the single source of the manifests: the operator renders this copy.
COPY helm/roost /opt/roost/chart
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ROOST_CHART_DIR=/opt/roost/chart \
    HOME=/tmp
USER 10001:10001
# kopf's liveness endpoint (/healthz), probed by the chart's operator Deployment.
EXPOSE 8080
ENTRYPOINT ["roost-operator"]
CMD ["--all-namespaces"]

# --- runtime ----------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm

# serf runs as the node's child for membership (SWIM gossip). Pinned to bookworm's build;
# override with --build-arg SERF_VERSION=... after a Debian point release replaces it.
ARG SERF_VERSION=0.9.4~ds1-1+b13
RUN apt-get update \
    && apt-get install -y --no-install-recommends "serf=${SERF_VERSION}" \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid, so Kubernetes can check runAsNonRoot and volumes can be chowned to it.
RUN groupadd --system --gid 10001 roost \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/roost --create-home \
        --shell /usr/sbin/nologin roost

# roost[tracing] from the builder's wheels only (--no-index; not the operator's), through a bind
# mount, so no wheel and no pip cache stays in a layer. The code is root-owned: the node cannot
# rewrite itself.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels "$(echo /wheels/roost-*.whl)[tracing]"

# No secret has a default here: ROOST_STATESTORE_KEY and ROOST_CLUSTER_SECRET come from the
# environment at run time (a Kubernetes Secret), never from a layer.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ROOST_HTTP_ADDR=0.0.0.0:8800 \
    ROOST_GOSSIP_ADDR=0.0.0.0:7946 \
    ROOST_PROXY_HTTP_ADDR=0.0.0.0:9001

# The default SQLite statestore (sqlite:///roost-data/roost.db) is relative to this directory;
# the Helm chart mounts a volume here. serf's work dir goes under $TMPDIR (/tmp).
WORKDIR /var/lib/roost
USER 10001:10001

# 8800: HTTP API (clients, probes, /metrics). 7946: Serf gossip, TCP and UDP. 7947: the peer
# link (node-to-node calls) where the chart pins it with ROOST_LINK_ADDR (its default is a port
# the OS picks). 9001: Spawn's actor-host protocol (hosts written with a Spawn SDK register here).
# 8801: /healthz and /readyz only, when ROOST_PROBE_HTTP_ADDR is set (the chart sets it).
EXPOSE 8800 7946/tcp 7946/udp 7947 9001 8801

# For docker and compose; Kubernetes ignores it and uses the chart's probes. slim has no curl:
# urlopen raises (exit 1) on a refused connection or any non-2xx answer. With ROOST_TLS_CERT the
# node serves HTTPS only; its certificate names the node's DNS name, not 127.0.0.1, so this
# liveness check of the process itself does not verify it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, ssl, urllib.request; port = os.environ.get('ROOST_HTTP_ADDR', ':8800').rpartition(':')[2]; tls = bool(os.environ.get('ROOST_TLS_CERT')); urllib.request.urlopen(('https' if tls else 'http') + f'://127.0.0.1:{port}/healthz', timeout=4, context=ssl._create_unverified_context() if tls else None)"]

# PID 1 without an init (no tini), on purpose:
# - signals: PID 1 gets only the signals it handles; `roost node` installs SIGTERM and SIGINT
#   handlers before anything else starts, and SIGTERM is what Kubernetes and `docker stop` send.
#   It then drains (hand off every actor, flush state, `serf leave`) and exits 0.
# - zombies: the only child is the serf agent, which the node waits for itself and which dies
#   with the node (PR_SET_PDEATHSIG). serf runs no event-handler scripts, so nothing is ever
#   re-parented to PID 1. Add tini (`apt-get install tini`, ENTRYPOINT ["tini", "--", ...]) only
#   if you run extra processes in this container that spawn children of their own.
STOPSIGNAL SIGTERM
ENTRYPOINT ["roost", "node"]
