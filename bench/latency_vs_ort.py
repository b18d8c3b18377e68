# fp32 latency of pare's executor vs ONNX Runtime on the cross-check models (tests/ort/export_models.py), batch 1 and
# 32, 2 threads both sides. Each (model, batch) alternates pare and ORT for a few rounds, each round a warm-up then
# the median of repeated runs; the lower round median counts (the machine is shared). Writes JSON with pare/ORT.
# usage: /usr/bin/python3 bench/latency_vs_ort.py --build-dir build-ort [--models a,b] [--profile]
import argparse
import json
import os
import subprocess
import sys

from benchlib import files
from benchlib import results as results_json
from benchlib.paths import BENCH as HERE
from benchlib.paths import ROOT
from benchlib.procs import run_json
from benchlib.results import cpu_name

CONVNETS = ["resnet18", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "shufflenet_v2_x0_5",
            "squeezenet1_1", "densenet121", "googlenet", "regnet_x_400mf", "mnasnet0_5"]
OTHERS = ["vit_tiny", "bert_tiny_op17"]
# pare is timed as `pare run` runs: caching allocator (fresh memory page-faults expensively on this VM, and
# libtorch allocates every intermediate anew), BatchNorm folding, channels-last convolutions.


def export_is_current(manifest):
    """True when `manifest` exists and was written by the current tests/ort/export_models.py."""
    if not os.path.exists(manifest):
        return False
    sha = files.sha256(os.path.join(ROOT, "tests", "ort", "export_models.py"))
    return results_json.read_json(manifest).get("script_sha256") == sha


def write_json(args, load_start, results, profiles):
    """Rewritten after every model, so an interrupted run still leaves its results."""
    out = {
        "what": f"fp32 latency, pare exec::Executor vs ONNX Runtime (onnxruntime-node), {args.threads} intra-op threads "
                "both sides; *_ms wall time, *_cpu_ms process CPU time (all threads) per run; ratio = pare/ORT",
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "date_utc": results_json.utc_now("%Y-%m-%dT%H:%M:%SZ"),
        "cpu": cpu_name(), "nproc": os.cpu_count(), "load_avg_start": load_start, "load_avg_end": os.getloadavg(),
        "protocol": f"{args.rounds} alternating rounds per side, each 2 warm-up runs then the median of >= "
                    f"{args.repeat} runs (and >= {args.min_seconds} s); the lower round median is reported",
        "image_size_convnets": args.image_size, "results": results,
    }
    if profiles:
        out["pare_profile"] = profiles
    results_json.write_json(args.out, out, indent=1, final_newline=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", required=True, help="holds bench/latency_bench")
    ap.add_argument("--models", default=",".join(CONVNETS + OTHERS))
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--image-size", type=int, default=128, help="ConvNet input height/width")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads, both sides")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--min-seconds", type=float, default=0.5)
    ap.add_argument("--profile", action="store_true", help="also record pare's time per op type at the largest batch")
    ap.add_argument("--models-dir", default=None, help="default: BUILD_DIR/bench/models_<image size>")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "latency_vs_ort.json"))
    args = ap.parse_args()

    names = [n for n in args.models.split(",") if n]
    batches = [int(b) for b in args.batches.split(",")]
    models_dir = args.models_dir or os.path.join(args.build_dir, "bench", f"models_{args.image_size}")
    bench = os.path.join(args.build_dir, "bench", "latency_bench")
    ort_js = os.path.join(HERE, "ort_latency.js")
    os.makedirs(models_dir, exist_ok=True)
    missing = [n for n in names if not export_is_current(os.path.join(models_dir, n + ".json"))]
    if missing:
        subprocess.run([sys.executable, os.path.join(ROOT, "tests", "ort", "export_models.py"), models_dir,
                        "--models", ",".join(missing), "--image-size", str(args.image_size)], check=True)

    load_start = os.getloadavg()
    results, profiles = [], {}
    common = ["--threads", str(args.threads), "--warmup", "2", "--repeat", str(args.repeat), "--min-seconds", str(args.min_seconds)]
    for name in names:
        with open(os.path.join(models_dir, name + ".json")) as f:
            entry = json.load(f)
        model = os.path.join(models_dir, entry["model"])
        for batch in batches:
            runs = {"pare": [], "ort": []}
            for _ in range(args.rounds):
                cmd = [bench, model, "--batch", str(batch)] + common
                runs["pare"].append(run_json(cmd))
                runs["ort"].append(run_json(["node", ort_js, model, "--batch", str(batch)] + common))
            row = {"model": name, "batch": batch, "input_shape": [batch] + entry["input_shape"][1:]}
            for side, rs in runs.items():
                row[side + "_ms"] = min(r["median_ms"] for r in rs)
                row[side + "_cpu_ms"] = min(r["median_cpu_ms"] for r in rs)
                row[side + "_round_ms"] = [r["median_ms"] for r in rs]
            row["ratio"] = row["pare_ms"] / row["ort_ms"]
            row["cpu_ratio"] = row["pare_cpu_ms"] / row["ort_cpu_ms"]
            results.append(row)
            print(f"{name:20s} batch {batch:3d}  wall ms: pare {row['pare_ms']:8.1f}  ORT {row['ort_ms']:8.1f}  "
                  f"ratio {row['ratio']:.2f}   cpu ms: pare {row['pare_cpu_ms']:8.1f}  ORT {row['ort_cpu_ms']:8.1f}  "
                  f"ratio {row['cpu_ratio']:.2f}", flush=True)
        if args.profile:
            cmd = [bench, model, "--batch", str(max(batches)), "--profile", "--warmup", "1", "--repeat", "1",
                   "--min-seconds", "0", "--threads", str(args.threads)]
            prof = run_json(cmd)
            ops = sorted(prof["profile"].items(), key=lambda kv: -kv[1]["median_ms"])
            profiles[name] = {"batch": max(batches), "ops_ms": {k: round(v["median_ms"], 2) for k, v in ops},
                              "nodes": {k: v["nodes"] for k, v in ops}}
        write_json(args, load_start, results, profiles)

    print("wrote " + args.out)


if __name__ == "__main__":
    main()
