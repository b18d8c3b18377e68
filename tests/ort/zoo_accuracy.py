#!/usr/bin/env python3
# The trained zoo (examples/zoo/fmnist-*.onnx) gives the same Fashion-MNIST accuracy in pare and in ONNX
# Runtime: `pare eval` and onnxruntime-node run the same test images (a fixed subset, written as NPY), and
# their top-1 must agree to 0.05 points. With --quantize "ARGS", each model is first quantized by
# `pare quantize MODEL ARGS --eval SUBSET`, and ONNX Runtime's top-1 on the QDQ export must agree with the
# accuracy pare measured on its fake-quantized model to --tolerance points (0.1 by default there).
# Exit 77 (skip) without the dataset, numpy or onnxruntime-node.
# Usage: zoo_accuracy.py --pare BUILD/pare --work-dir DIR [--models resnet20,...] [--count 2000]
#        [--quantize "--wbits 8 --abits 8 --calib fmnist:train:512"] [--tolerance T]
import argparse
import gzip
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FMNIST = "/usr/share/datasets/fashion-mnist"


def read_idx(path, np):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pare", required=True)
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--models", default="resnet20,mobilenetv2,vit")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--chunk", type=int, default=500)
    ap.add_argument("--quantize", default="", help="pare quantize arguments; compare the QDQ export")
    ap.add_argument("--tolerance", type=float, default=None)
    ap.add_argument("--ort-opt-level", default="all", help="ONNX Runtime graph optimizations: all or disabled")
    args = ap.parse_args()
    tolerance = args.tolerance if args.tolerance is not None else (0.1 if args.quantize else 0.05)
    try:
        import numpy as np
    except ImportError:
        print("skip: numpy missing (use /usr/bin/python3)")
        return 77
    ort_dir = os.path.join(ROOT, ".deps", "node_modules", "onnxruntime-node")
    if not os.path.isdir(ort_dir) or not os.path.exists(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")):
        print("skip: onnxruntime-node or dataset-fashion-mnist missing (run scripts/setup.sh)")
        return 77
    models = [m for m in args.models.split(",") if os.path.exists(os.path.join(ROOT, "examples/zoo", f"fmnist-{m}.onnx"))]
    if not models:
        print("skip: no trained zoo model in examples/zoo")
        return 77

    # A fixed subset spread over the whole test set (every k-th image), written once for both runtimes.
    images = read_idx(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz"), np)
    labels = read_idx(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz"), np)
    step = max(1, len(labels) // args.count)
    idx = np.arange(0, len(labels), step)[:args.count]
    x = (images[idx].astype(np.float32) / 255.0)[:, None, :, :]
    y = labels[idx].astype(np.int64)
    data_dir = os.path.join(args.work_dir, "fmnist-subset")
    os.makedirs(data_dir, exist_ok=True)
    np.save(os.path.join(data_dir, "inputs.npy"), x)
    np.save(os.path.join(data_dir, "labels.npy"), y)
    for c in range(0, len(y), args.chunk):
        np.save(os.path.join(data_dir, f"chunk{c // args.chunk}.npy"), x[c:c + args.chunk])

    failures = []
    for m in models:
        model = os.path.join(ROOT, "examples/zoo", f"fmnist-{m}.onnx")
        j = os.path.join(args.work_dir, f"{m}-pare.json")
        if os.path.exists(j):
            os.remove(j)
        if args.quantize:
            quantized = os.path.join(args.work_dir, f"{m}-quantized.onnx")
            if os.path.exists(quantized):
                os.remove(quantized)
            subprocess.run([args.pare, "quantize", model, *args.quantize.split(), "--eval", "npy:" + data_dir,
                            "--out", quantized, "--json", j, "--quiet"], check=True, stdout=subprocess.DEVNULL)
            with open(j) as f:
                pare_top1 = json.load(f)["accuracy"]["after"]
            model = quantized
        else:
            subprocess.run([args.pare, "eval", model, "--data", "npy:" + data_dir, "--json", j], check=True,
                           stdout=subprocess.DEVNULL)
            with open(j) as f:
                pare_top1 = json.load(f)["top1"]
        preds = []
        for c in range(0, len(y), args.chunk):
            out = os.path.join(args.work_dir, f"{m}-ort{c // args.chunk}")
            subprocess.run(["node", os.path.join(HERE, "ort_run.js"), model, "--input",
                            "input=" + os.path.join(data_dir, f"chunk{c // args.chunk}.npy"), "--output-dir", out,
                            "--threads", "2", "--opt-level", args.ort_opt_level], check=True,
                           stdout=subprocess.DEVNULL)
            preds.append(np.load(os.path.join(out, "logits.npy")).argmax(1))
        ort_top1 = 100.0 * float((np.concatenate(preds) == y).mean())
        diff = abs(pare_top1 - ort_top1)
        what = f"quantized ({args.quantize})" if args.quantize else "float"
        what += f", ORT optimizations {args.ort_opt_level}"
        print(f"{m} {what}: pare top-1 {pare_top1:.2f} %, ONNX Runtime top-1 {ort_top1:.2f} % on {len(y)} test images "
              f"(|diff| {diff:.3f} points)")
        if diff > tolerance:
            failures.append(m)
    if failures:
        print(f"FAIL: accuracy differs by more than {tolerance} points for " + ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
