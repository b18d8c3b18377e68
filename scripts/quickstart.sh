#!/usr/bin/env bash
# Quick start, main job: install dependencies, build, then inspect and run the bundled demo model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
MODEL=examples/models/tiny-cnn.onnx
echo
echo "== pare info $MODEL"
./build/pare info "$MODEL"
echo
echo "== pare run $MODEL"
./build/pare run "$MODEL" --input input=examples/models/tiny-cnn-input.npy --output-dir out/quickstart
