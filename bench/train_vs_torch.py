# Training throughput of `pare train` vs PyTorch (bench/torch_zoo.py's twins of the zoo models) and evaluation
# throughput of `pare eval` vs ONNX Runtime (bench/ort_eval.js, onnxruntime-node), same thread count everywhere.
#
#   /usr/bin/python3 bench/train_vs_torch.py [--build-dir build] [--models resnet20,mobilenetv2,vit] [--threads 2]
#       [--steps 60] [--warmup 5] [--rounds 2] [--model-dir examples/zoo] [--channels-last] [--out FILE]
#
# Training, both sides: Fashion-MNIST train set (pixel/255, N x 1 x 28 x 28), batch 128, SGD lr 0.05 (cosine over the
# epoch's 468 steps, as `pare train --epochs 1` schedules it), momentum 0.9 Nesterov, weight decay 5e-4 on Conv/Linear
# weights only, cross-entropy with label smoothing 0.1, random crop (zero padding 2) + horizontal flip per sample on
# the batch tensor. A step is timed from the ready batch to the updated weights and the loss read back (pare's trainer
# prepares batches on a background thread and times the same span; the PyTorch side prepares them untimed in line).
# Each training run is a fresh process on either side (PyTorch: this script with --torch-worker); OPENBLAS_NUM_THREADS
# and OMP_NUM_THREADS are set to --threads for all of them, OMP_WAIT_POLICY to --omp-wait-policy (PASSIVE by default). CPU seconds per step (all threads) are reported beside
# the wall rates: on a loaded machine the wall rates mostly measure the scheduler, so run it on a quiet one.
# PyTorch: `--warmup` untimed steps, then `--steps` timed. pare times every step it runs, so it runs twice, with
# --max-steps W and W+S, and its steady rate is 128 * S / (seconds(W+S) - seconds(W)); the single-run rate is kept too.
# Evaluation: the 10,000 test images at batch 256, `pare eval` vs ORT (one warm-up batch, then every batch timed).
# Both sides of each pair run alternately for --rounds rounds; the best round of each side counts.
# Models: `pare zoo NAME --seed 0` (untrained) for training; for evaluation MODEL_DIR/fmnist-NAME.onnx where present.
import argparse
import datetime
import gzip
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

from benchlib import pare as pare_tool
from benchlib import results as results_json
from benchlib.paths import BENCH as HERE
from benchlib.paths import ROOT
from benchlib.procs import last_json_line, tail
from benchlib.results import cpu_name

FMNIST = "/usr/share/datasets/fashion-mnist"
STEPS_PER_EPOCH = 60000 // 128  # pare drops the last partial batch: 468


def parse_args():
    ap = argparse.ArgumentParser(description="pare train/eval throughput vs PyTorch and ONNX Runtime")
    ap.add_argument("--build-dir", default="build", help="holds pare (relative to the repository root or absolute)")
    ap.add_argument("--models", default="resnet20,mobilenetv2,vit")
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads, every side")
    ap.add_argument("--steps", type=int, default=60, help="timed training steps")
    ap.add_argument("--warmup", type=int, default=5, help="untimed training steps first")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--eval-batch-size", type=int, default=256)
    ap.add_argument("--model-dir", default=os.path.join(ROOT, "examples", "zoo"),
                    help="trained models fmnist-NAME.onnx for the evaluation (the untrained zoo model where absent)")
    ap.add_argument("--channels-last", action="store_true", help="channels-last convolutions on both training sides")
    ap.add_argument("--omp-wait-policy", default="PASSIVE",
                    help="OMP_WAIT_POLICY for every side, or 'default' to leave it unset. With libgomp's default "
                         "spinning, PyTorch's 2-thread training ran 8x slower than with PASSIVE on a loaded machine "
                         "(pare was unaffected); on a quiet machine the two should be close")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-eval", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "train_vs_torch.json"))
    ap.add_argument("--torch-worker", metavar="NAME", help=argparse.SUPPRESS)  # internal: one PyTorch training run
    return ap.parse_args()


ARGS = parse_args()
# Same BLAS threading for pare (a child process) and PyTorch (this one): ATen's Linear goes to the system BLAS
# (OpenBLAS here, which keeps its own thread pool), so pin it before torch loads.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)
if ARGS.omp_wait_policy != "default":
    os.environ["OMP_WAIT_POLICY"] = ARGS.omp_wait_policy

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, HERE)
import torch_zoo  # noqa: E402


# ----------------------------------------------------------------------------------------------------------- data
def read_idx(path):
    with gzip.open(path, "rb") as f:
        buf = f.read()
    ndim = buf[3]
    dims = [int.from_bytes(buf[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(buf, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fmnist(split):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(FMNIST, f"{prefix}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = read_idx(os.path.join(FMNIST, f"{prefix}-labels-idx1-ubyte.gz")).astype(np.int64)
    return x[:, None, :, :].copy(), y


def augment(x, pad, gen):
    """Per sample: a crop of the zero-padded image (a shift of up to +-pad) and a horizontal flip with p = 1/2."""
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (oy[:, None] + torch.arange(h))[:, None, :, None]  # [n, 1, h, 1]
    cols = (ox[:, None] + torch.arange(w))[:, None, None, :]  # [n, 1, 1, w]
    out = padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    flip = torch.rand(n, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(3), out)


# --------------------------------------------------------------------------------------------------------- PyTorch
def torch_train(name, train_x, train_y, threads, steps, warmup, batch, channels_last):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch_zoo.build(name, seed=0).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    lr = 0.05
    opt = torch.optim.SGD(torch_zoo.decay_groups(model, 5e-4), lr=lr, momentum=0.9, nesterov=True)
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(train_x.shape[0], generator=gen)
    timed = cpu = 0.0
    data_seconds = 0.0
    losses = []
    wall0 = time.perf_counter()
    for step in range(warmup + steps):
        d0 = time.perf_counter()
        idx = order[step * batch:(step + 1) * batch]
        x = augment(train_x[idx], 2, gen)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = train_y[idx]
        for g in opt.param_groups:
            g["lr"] = 0.5 * lr * (1 + math.cos(math.pi * step / STEPS_PER_EPOCH))
        t0 = time.perf_counter()
        c0 = time.process_time()
        logits = model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        with torch.no_grad():
            (logits.detach().argmax(1) == y).sum().item()
        t1 = time.perf_counter()
        if step >= warmup:
            timed += t1 - t0
            cpu += time.process_time() - c0
            data_seconds += t0 - d0
    wall = time.perf_counter() - wall0
    return {"images_per_second": steps * batch / timed, "steps": steps, "seconds": timed,
            "cpu_seconds_per_step": cpu / steps, "data_seconds_untimed": data_seconds, "wall_seconds_all_steps": wall,
            "first_loss": losses[0], "last_loss": losses[-1]}


def torch_train_subprocess(name, commands):
    """Each PyTorch training run in a fresh process, as each pare run is (same environment, no state carried over)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--torch-worker", name, "--threads", str(ARGS.threads),
           "--steps", str(ARGS.steps), "--warmup", str(ARGS.warmup), "--batch-size", str(ARGS.batch_size),
           "--omp-wait-policy", ARGS.omp_wait_policy]
    if ARGS.channels_last:
        cmd.append("--channels-last")
    commands.append(" ".join(cmd))
    try:
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            return {"error": f"exit {res.returncode}: {tail(res.stderr or res.stdout)}"}
        return last_json_line(res.stdout)
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}


def torch_worker():
    x, y = load_fmnist("train")
    r = torch_train(ARGS.torch_worker, torch.from_numpy(x), torch.from_numpy(y), ARGS.threads, ARGS.steps,
                    ARGS.warmup, ARGS.batch_size, ARGS.channels_last)
    print(json.dumps(r))
    return 0


def torch_eval(model_path, name, test_x, test_y, threads, batch):
    """Extra context: eager PyTorch inference on the same images (weights copied from the evaluated ONNX file)."""
    torch.set_num_threads(threads)
    model = torch_zoo.load_onnx_weights(torch_zoo.build(name, seed=0), torch_zoo.onnx_weights(model_path)).eval()
    correct, seconds = 0, 0.0
    with torch.no_grad():
        model(test_x[:batch])
        for s in range(0, test_x.shape[0], batch):
            t0 = time.perf_counter()
            logits = model(test_x[s:s + batch])
            seconds += time.perf_counter() - t0
            correct += (logits.argmax(1) == test_y[s:s + batch]).sum().item()
    n = test_x.shape[0]
    return {"samples_per_second": n / seconds, "seconds": seconds, "top1": 100.0 * correct / n}


# ------------------------------------------------------------------------------------------------------------ pare
def pare_train(pare, model, max_steps, threads, channels_last, tmp, commands):
    out_json = os.path.join(tmp, f"train_{max_steps}.json")
    if os.path.exists(out_json):
        os.remove(out_json)
    cmd = [pare, "train", model, "--data", "fmnist:train", "--epochs", "1", "--max-steps", str(max_steps),
           "--batch-size", str(ARGS.batch_size), "--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9",
           "--nesterov", "--weight-decay", "5e-4", "--label-smoothing", "0.1", "--augment", "crop:2,hflip",
           "--threads", str(threads), "--seed", "0", "--out", os.path.join(tmp, "o.onnx"), "--json", out_json,
           "--quiet"]
    if channels_last:
        cmd.append("--channels-last")
    commands.append(" ".join(cmd))
    try:
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        res = subprocess.run(cmd, capture_output=True, text=True)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if res.returncode != 0:
            return {"error": f"exit {res.returncode}: {tail(res.stderr or res.stdout)}"}
        with open(out_json) as f:
            t = json.load(f)["train"]
        return {"images_per_second": float(t["images_per_second"]), "steps": int(t["steps"]),
                "seconds": float(t["seconds"]),
                "process_cpu_seconds": (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)}
    except Exception as e:  # a missing binary, unreadable JSON, ...
        return {"error": f"{type(e).__name__}: {e}"}


def pare_train_steady(pare, model, threads, channels_last, tmp, commands):
    short = pare_train(pare, model, ARGS.warmup, threads, channels_last, tmp, commands) if ARGS.warmup > 0 else \
        {"seconds": 0.0, "steps": 0}
    full = pare_train(pare, model, ARGS.warmup + ARGS.steps, threads, channels_last, tmp, commands)
    if "error" in full:
        return full
    r = {"images_per_second_single_run": full["images_per_second"], "steps": full["steps"],
         "seconds": full["seconds"]}
    if "error" not in short and full["seconds"] > short["seconds"] and full["steps"] > short["steps"]:
        steps = full["steps"] - short["steps"]
        r["images_per_second"] = ARGS.batch_size * steps / (full["seconds"] - short["seconds"])
        # Whole-process CPU time, so startup and data loading cancel in the difference only approximately.
        r["cpu_seconds_per_step"] = (full["process_cpu_seconds"] - short.get("process_cpu_seconds", 0.0)) / steps
        r["warmup_run"] = short
    else:
        r["images_per_second"] = full["images_per_second"]
        r["note"] = "steady rate unavailable (warm-up run: " + short.get("error", "not shorter") + "); single-run rate"
    return r


def pare_eval(pare, model, threads, tmp, commands):
    out_json = os.path.join(tmp, "eval.json")
    if os.path.exists(out_json):
        os.remove(out_json)
    cmd = [pare, "eval", model, "--data", "fmnist:test", "--batch-size", str(ARGS.eval_batch_size),
           "--threads", str(threads), "--json", out_json]
    commands.append(" ".join(cmd))
    try:
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            return {"error": f"exit {res.returncode}: {tail(res.stderr or res.stdout)}"}
        with open(out_json) as f:
            j = json.load(f)
        return {"samples_per_second": float(j["samples_per_second"]), "seconds": float(j["seconds"]),
                "top1": float(j["top1"]), "samples": int(j["samples"])}
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}


def ort_eval(model, images_npy, labels_npy, threads, commands):
    cmd = ["node", os.path.join(HERE, "ort_eval.js"), model, "--images", images_npy, "--labels", labels_npy,
           "--batch", str(ARGS.eval_batch_size), "--threads", str(threads)]
    commands.append(" ".join(cmd))
    try:
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            return {"error": f"exit {res.returncode}: {tail(res.stderr or res.stdout)}"}
        j = last_json_line(res.stdout)
        return {k: j[k] for k in ("samples_per_second", "seconds", "top1", "samples")}
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}


# --------------------------------------------------------------------------------------------------------- report
def best(runs, key):
    ok = [r for r in runs if key in r]
    if not ok:
        return dict(runs[-1], rounds=[None] * len(runs))
    b = dict(max(ok, key=lambda r: r[key]))
    b["rounds"] = [r.get(key) for r in runs]
    return b


def ratio(a, b, key):
    return a[key] / b[key] if key in a and key in b and b[key] > 0 else None


def versions(pare):
    v = {"torch": torch.__version__, "python": platform.python_version()}
    try:
        v["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        with open(os.path.join(ROOT, ".deps", "node_modules", "onnxruntime-node", "package.json")) as f:
            v["onnxruntime_node"] = json.load(f)["version"]
    except Exception:
        pass
    try:
        v["pare_commit"] = results_json.git_commit(mark_src_modified=False)
        v["pare_binary_mtime"] = datetime.datetime.utcfromtimestamp(os.path.getmtime(pare)).strftime("%Y-%m-%dT%H:%M:%SZ")
    except Exception:
        pass
    return v


def write_json(path, doc):
    results_json.write_json(path, doc, indent=1, final_newline=False)


def main():
    a = ARGS
    if a.torch_worker:
        return torch_worker()
    build = a.build_dir if os.path.isabs(a.build_dir) else os.path.join(ROOT, a.build_dir)
    pare = pare_tool.binary(build)
    names = [n for n in a.models.split(",") if n]
    commands = []
    doc = {
        "what": "training images/s: pare train vs PyTorch eager (bench/torch_zoo.py twins); evaluation samples/s: "
                "pare eval vs ONNX Runtime (onnxruntime-node); ratio = pare / other, > 1 means pare is faster",
        "command": " ".join([sys.executable] + sys.argv),
        "date_utc": results_json.utc_now("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpu": cpu_name(), "nproc": os.cpu_count(), "load_avg_before": os.getloadavg()},
        "versions": versions(pare),
        "settings": {"threads": a.threads, "batch_size": a.batch_size, "steps": a.steps, "warmup": a.warmup,
                     "rounds": a.rounds, "eval_batch_size": a.eval_batch_size, "channels_last": a.channels_last,
                     "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                            "OMP_WAIT_POLICY")},
                     "optimizer": "SGD lr 0.05 cosine/468 steps, momentum 0.9 nesterov, wd 5e-4 on conv/linear "
                                  "weights; label smoothing 0.1; crop:2,hflip"},
        "protocol": f"{a.rounds} rounds; each round runs pare then PyTorch training, then pare then ORT evaluation, "
                    "per model; the best round of each side is reported (per-round values under 'rounds'). pare's "
                    f"training rate is steady-state: two runs (--max-steps {a.warmup} and {a.warmup + a.steps}), "
                    "rate from the difference; PyTorch: warm-up steps untimed",
        "results": {},
        "commands": commands,
    }
    with tempfile.TemporaryDirectory(prefix="train_vs_torch.") as tmp:
        test_x, test_y = load_fmnist("test")
        images_npy, labels_npy = os.path.join(tmp, "test_images.npy"), os.path.join(tmp, "test_labels.npy")
        np.save(images_npy, test_x)
        np.save(labels_npy, test_y.astype(np.uint8))
        test_xt, test_yt = torch.from_numpy(test_x), torch.from_numpy(test_y)

        for name in names:
            zoo_model = os.path.join(tmp, f"{name}.onnx")
            cmd = [pare, "zoo", name, "--out", zoo_model, "--seed", "0"]
            commands.append(" ".join(cmd))
            res = subprocess.run(cmd, capture_output=True, text=True)
            row = {}
            if res.returncode != 0:
                row["error"] = f"pare zoo failed: {tail(res.stderr)}"
                doc["results"][name] = row
                write_json(a.out, doc)
                continue
            trained = os.path.join(a.model_dir, f"fmnist-{name}.onnx") if a.model_dir else ""
            eval_model = trained if trained and os.path.exists(trained) else zoo_model
            row["train_model"] = f"pare zoo {name} --seed 0 (untrained)"
            row["eval_model"] = eval_model if eval_model != zoo_model else f"pare zoo {name} --seed 0 (untrained)"
            runs = {"pare_train": [], "torch_train": [], "pare_eval": [], "ort_eval": [], "torch_eval": []}
            for r in range(a.rounds):
                if not a.skip_train:
                    runs["pare_train"].append(pare_train_steady(pare, zoo_model, a.threads, a.channels_last, tmp,
                                                                commands))
                    runs["torch_train"].append(torch_train_subprocess(name, commands))
                    print(f"{name} round {r + 1} train img/s: pare "
                          f"{runs['pare_train'][-1].get('images_per_second', runs['pare_train'][-1].get('error'))}  "
                          f"torch {runs['torch_train'][-1].get('images_per_second', runs['torch_train'][-1].get('error'))}",
                          flush=True)
                if not a.skip_eval:
                    runs["pare_eval"].append(pare_eval(pare, eval_model, a.threads, tmp, commands))
                    runs["ort_eval"].append(ort_eval(eval_model, images_npy, labels_npy, a.threads, commands))
                    try:
                        runs["torch_eval"].append(torch_eval(eval_model, name, test_xt, test_yt, a.threads,
                                                             a.eval_batch_size))
                    except Exception as e:
                        runs["torch_eval"].append({"error": f"{type(e).__name__}: {e}"})
                    print(f"{name} round {r + 1} eval samples/s: pare "
                          f"{runs['pare_eval'][-1].get('samples_per_second', runs['pare_eval'][-1].get('error'))}  "
                          f"ORT {runs['ort_eval'][-1].get('samples_per_second', runs['ort_eval'][-1].get('error'))}  "
                          f"torch {runs['torch_eval'][-1].get('samples_per_second', runs['torch_eval'][-1].get('error'))}",
                          flush=True)
            if not a.skip_train:
                row["pare_train"] = best(runs["pare_train"], "images_per_second")
                row["torch_train"] = best(runs["torch_train"], "images_per_second")
                row["train_ratio_pare_over_torch"] = ratio(row["pare_train"], row["torch_train"], "images_per_second")
            if not a.skip_eval:
                row["pare_eval"] = best(runs["pare_eval"], "samples_per_second")
                row["ort_eval"] = best(runs["ort_eval"], "samples_per_second")
                row["torch_eval"] = best(runs["torch_eval"], "samples_per_second")
                row["eval_ratio_pare_over_ort"] = ratio(row["pare_eval"], row["ort_eval"], "samples_per_second")
                row["top1"] = {k: row[k + "_eval"].get("top1") for k in ("pare", "ort", "torch")}
            doc["results"][name] = row
            doc["machine"]["load_avg_after"] = os.getloadavg()
            write_json(a.out, doc)
    doc["machine"]["load_avg_after"] = os.getloadavg()
    write_json(a.out, doc)
    for name, row in doc["results"].items():
        tr, ev = row.get("train_ratio_pare_over_torch"), row.get("eval_ratio_pare_over_ort")
        print(f"{name:12s} train pare/torch {tr if tr is None else round(tr, 3)}   "
              f"eval pare/ORT {ev if ev is None else round(ev, 3)}   top1 {row.get('top1')}")
    print("wrote " + a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
