#!/usr/bin/env bash
# Regenerate the Spawn protocol modules (src/roost/node/spawnproto/*_pb2.py and .pyi) from their
# .proto files with the grpcio-tools pinned in pyproject.toml's dev extras. The output is committed;
# tests/node/spawnproto/test_generated.py checks that this script reproduces it byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${1:-src}
"$PY" -m grpc_tools.protoc -I src --python_out="$OUT" --pyi_out="$OUT" \
  src/roost/node/spawnproto/actor.proto src/roost/node/spawnproto/protocol.proto
