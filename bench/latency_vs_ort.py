# fp32 latency of pare's executor vs ONNX Runtime on the cross-check models (tests/ort/export_models.py), batch 1 and
# 32, 2 threads both sides. Each (model, batch) alternates pare and ORT for a few rounds, each round a warm-up then
# the median of repeated runs; the lower round median counts (the machine is shared). Writes JSON with pare/ORT.
# usage: /usr/bin/python3 bench/latency_vs_ort.py --build-dir build-ort [--models a,b] [--profile]
import argparse
import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONVNETS = ["resnet18", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "shufflenet_v2_x0_5",
            "squeezenet1_1", "densenet121", "googlenet", "regnet_x_400mf", "mnasnet0_5"]
OTHERS = ["vit_tiny", "bert_tiny_op17"]
# pare is timed as `pare run` runs: caching allocator (fresh memory page-faults expensively on this VM, and
# libtorch allocates every intermediate anew), BatchNorm folding, channels-last convolutions.


def run_json(cmd, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {res.returncode}:\n{res.stdout}{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def export_is_current(manifest):
    """True when `manifest` exists and was written by the current tests/ort/export_models.py."""
    if not os.path.exists(manifest):
        return False
    with open(os.path.join(ROOT, "tests", "ort", "export_models.py"), "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    with open(manifest) as f:
        return json.load(f).get("script_sha256") == sha


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def write_json(args, load_start, results, profiles):
    """Rewritten after every model, so an interrupted run still leaves its results."""
    out = {
        "what": f"fp32 latency, pare exec::Executor vs ONNX Runtime (onnxruntime-node), {args.threads} intra-op threads "
                "both sides; *_ms wall time, *_cpu_ms process CPU time (all threads) per run; ratio = pare/ORT",
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "date_utc": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpu": cpu_name(), "nproc": os.cpu_count(), "load_avg_start": load_start, "load_avg_end": os.getloadavg(),
        "protocol": f"{args.rounds} alternating rounds per side, each 2 warm-up runs then the median of >= "
                    f"{args.repeat} runs (and >= {args.min_seconds} s); the lower round median is reported",
        "image_size_convnets": args.image_size, "results": results,
    }
    if profiles:
        out["pare_profile"] = profiles
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
    os.replace(tmp, args.out)


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
