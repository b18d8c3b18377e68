#!/usr/bin/env bash
# Quick start, tests: install dependencies, build, run the whole test suite (unit, ONNX conformance,
# ONNX Runtime cross-checks, bad input). CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
# ctest's own summary ("100% tests passed, ...") stays the last thing printed.
ctest --test-dir build --output-on-failure -j "${JOBS:-2}" --timeout 900
