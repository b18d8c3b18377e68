#!/usr/bin/env bash
# Trains the brown-llama (examples/zoo/brown-llama/) from random weights with the exact command that
# examples/zoo/README.md quotes. Writes model.safetensors + config.json into examples/zoo/brown-llama/,
# the training history to examples/zoo/logs/brown-llama.json and the held-out perplexities under both
# protocols to examples/zoo/logs/brown-llama-ppl-{windows,llamacpp}.json.
# The checkpoint goes to build/zoo/brown-llama.ckpt: RESUME=1 scripts/train_brown_llama.sh continues.
set -euo pipefail
cd "$(dirname "$0")/.."
PARE=${PARE:-build/pare}
out=examples/zoo/brown-llama
init=build/zoo/brown-llama-init
mkdir -p build/zoo examples/zoo/logs
# GEMM-bound: measured fastest on 2 cores with OpenBLAS on both cores and libtorch's own ops on one
# (2.5 s/step against 3.3 s/step with libtorch on both and OpenBLAS on one; docs/training.md), and
# with glibc keeping freed activation buffers instead of unmapping them each step.
export PARE_BLAS_THREADS=${PARE_BLAS_THREADS:-2}
export MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=268435456
resume=()
if [[ "${RESUME:-0}" == 1 ]]; then
  resume=(--resume)
else
  rm -rf "$init"
  "$PARE" zoo llama --config brown-llama --random --seed 1 --dtype f32 --out "$init"
  cp "$out/tokenizer.model" "$init/"
fi
t0=$SECONDS
"$PARE" train "$init" --data brown:train --val brown:valid --ctx 256 --dtype f16 --seed 1 --threads 1 \
  --epochs 6 --batch-size 16 --optimizer adamw --lr 2e-3 --min-lr 1e-4 --warmup-epochs 0.25 \
  --beta1 0.9 --beta2 0.95 --weight-decay 0.1 --clip-grad-norm 1 \
  --checkpoint build/zoo/brown-llama.ckpt --json examples/zoo/logs/brown-llama.json \
  --out build/zoo/brown-llama "${resume[@]}"
echo "brown-llama: trained in $((SECONDS - t0)) s"
cp build/zoo/brown-llama/config.json build/zoo/brown-llama/model.safetensors "$out/"
for protocol in windows llamacpp; do
  "$PARE" ppl "$out" --text brown:heldout --ctx 256 --protocol "$protocol" \
    --json "examples/zoo/logs/brown-llama-ppl-$protocol.json"
done
