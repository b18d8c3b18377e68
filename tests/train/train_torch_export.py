#!/usr/bin/env python3
# `pare train` works on any imported ONNX graph whose ops have autograd, not only on pare's zoo: a small CNN
# written in PyTorch (Conv, BatchNorm, ReLU, MaxPool, Flatten, Gemm) is exported with
# torch.onnx.export, trained by pare on Fashion-MNIST for two short epochs, and must (a) learn (validation
# top-1 above 75 %), (b) keep the graph's input/output names and node count, and (c) give ONNX Runtime the
# same predictions as pare on the trained file. Exit 77 (skip) without torch/onnx, the dataset or ORT.
# Usage: train_torch_export.py --pare BUILD/pare --work-dir DIR
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pare", required=True)
    ap.add_argument("--work-dir", required=True)
    args = ap.parse_args()
    try:
        import numpy as np
        import onnx
        import torch
    except ImportError as e:
        print(f"skip: {e} (use /usr/bin/python3 with python3-torch and python3-onnx)")
        return 77
    if not os.path.exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"):
        print("skip: dataset-fashion-mnist is not installed")
        return 77
    os.makedirs(args.work_dir, exist_ok=True)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Dropout(0.1), torch.nn.Linear(32 * 7 * 7, 10))
    net.eval()
    model = os.path.join(args.work_dir, "torch_cnn.onnx")
    # The usual deployment export (eval mode): BatchNormalization nodes in inference form, which pare's
    # executor switches to batch statistics while training; Dropout is dropped by the exporter.
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), model, input_names=["image"], output_names=["scores"],
                      dynamic_axes={"image": {0: "batch"}, "scores": {0: "batch"}}, opset_version=14,
                      do_constant_folding=False)
    trained = os.path.join(args.work_dir, "torch_cnn_trained.onnx")
    hist = os.path.join(args.work_dir, "history.json")
    for f in (trained, hist):
        if os.path.exists(f):
            os.remove(f)
    subprocess.run([args.pare, "train", model, "--data", "fmnist:train:4096:1", "--val", "fmnist:test:1000:2",
                    "--epochs", "2", "--batch-size", "64", "--lr", "0.05", "--nesterov", "--weight-decay", "5e-4",
                    "--seed", "3", "--quiet", "--json", hist, "--out", trained], check=True)
    with open(hist) as f:
        val = json.load(f)["epochs"][-1]["val_top1"]
    before, after = onnx.load(model), onnx.load(trained)
    problems = []
    if val <= 75.0:
        problems.append(f"validation top-1 {val:.2f} % after two epochs (expected > 75 %)")
    if [i.name for i in after.graph.input] != [i.name for i in before.graph.input] or \
            [o.name for o in after.graph.output] != [o.name for o in before.graph.output]:
        problems.append("input/output names changed")
    if len(after.graph.node) != len(before.graph.node):
        problems.append(f"node count changed: {len(before.graph.node)} -> {len(after.graph.node)}")
    # ONNX Runtime on the trained file: same top-1 predictions as pare run.
    x = np.random.default_rng(0).random((16, 1, 28, 28), dtype=np.float32)
    np.save(os.path.join(args.work_dir, "x.npy"), x)
    pare_out, ort_out = os.path.join(args.work_dir, "pare_out"), os.path.join(args.work_dir, "ort_out")
    subprocess.run([args.pare, "run", trained, "--input", "image=" + os.path.join(args.work_dir, "x.npy"),
                    "--output-dir", pare_out], check=True, stdout=subprocess.DEVNULL)
    if os.path.isdir(os.path.join(ROOT, ".deps", "node_modules", "onnxruntime-node")):
        subprocess.run(["node", os.path.join(ROOT, "tests", "ort", "ort_run.js"), trained, "--input",
                        "image=" + os.path.join(args.work_dir, "x.npy"), "--output-dir", ort_out], check=True,
                       stdout=subprocess.DEVNULL)
        a, b = np.load(os.path.join(pare_out, "scores.npy")), np.load(os.path.join(ort_out, "scores.npy"))
        err = float(np.abs(a - b).max() / max(1e-12, np.abs(b).max()))
        if err > 1e-4:
            problems.append(f"pare and ONNX Runtime differ on the trained model: {err:.2e}")
        print(f"pare vs ONNX Runtime on the trained model: max rel diff {err:.2e}")
    print(f"trained a torch.onnx.export CNN: validation top-1 {val:.2f} %")
    for p in problems:
        print("FAIL " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
