#!/usr/bin/env bash
# Quick start, main job: install dependencies, build, then inspect the bundled trained ResNet-20 and measure
# its accuracy on the Fashion-MNIST test set (Debian's dataset-fashion-mnist).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
MODEL=${MODEL:-examples/zoo/fmnist-resnet20.onnx}
mkdir -p out/quickstart
echo
echo "== pare info $MODEL"
./build/pare info "$MODEL"
echo
echo "== pare eval $MODEL --data fmnist:test"
./build/pare eval "$MODEL" --data fmnist:test --json out/quickstart/eval.json
echo
echo "(results also in out/quickstart/eval.json; the other zoo models: MODEL=examples/zoo/fmnist-vit.onnx $0)"
