#!/usr/bin/env python3
# Why data-free MQuant collapses on the zoo CNNs and why PowerQuant falls below RTN on MobileNetV2 at W3 (issue 17).
# Neither is a pare bug: this script shows it. It runs pare (a copy of the build's binary, so that a rebuild during
# the run changes nothing) and an independent torch interpreter of the zoo ONNX graphs that folds BatchNorm as pare
# does and reimplements the ternary operators, RTN and the power grid (PowerQuant's exponents are read from pare's
# --json; the search itself is not reimplemented). Then:
#
#   (a) agreement: top-1 of pare and of the interpreter, and each layer's relative weight error against pare's
#       --json `relative_error` (on the BN-folded weight, `*.weight_bnfold`);
#   (b) MQuant on resnet20 at W2: per-layer weight and output error and gain (float inputs), the activation drift
#       through the quantized network, BatchNorm re-estimation (per-channel mean/std of every conv output matched
#       to the float network's on 256 train images), and data-free rescaling variants;
#   (c) PowerQuant on mobilenetv2 at W3: per-layer weight and output error against RTN, one layer group quantized
#       at a time (and one kept float), the drift, and the variants ruled out.
#
# Top-1 is on fmnist:test:2000 (the 2,000-image seed-0 subset that pare draws; the interpreter draws the same one),
# as in the investigation; the drift uses the first 300 of them, output errors 500 (resnet20) and 200 (mobilenetv2).
# Writes bench/results/data_free_diagnosis.json and docs/results/data_free_diagnosis.md.
#
#   /usr/bin/python3 bench/data_free_diagnosis.py [--build-dir build] [--quick] [--threads 2]
#
# --quick leaves out the slowest parts: the "one group kept float" ablation, the mobilenetv2 ternary variants and
# the mixed PowerQuant/RTN runs.
import argparse
import gzip
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from benchlib import pare as pare_tool
from benchlib import results as results_json
from benchlib.markdown import fmt, table
from benchlib.markdown import write as write_markdown
from benchlib.paths import ROOT, rel

ZOO = os.path.join(ROOT, "examples/zoo")
EVAL = "fmnist:test:2000"
FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
BATCH = 50  # small batches: this machine's torch convolutions slow down badly on large activations

R20_DRIFT = ["stem", "layer1.0.conv2", "layer2.1.conv2", "layer3.2.conv2", "fc"]
MB_DRIFT = ["block1.depthwise", "block5.depthwise", "block9.depthwise", "head", "classifier"]
MB_GROUPS = [("stem", r"stem"), ("block*.expand", r"block\d+\.expand"), ("block*.depthwise", r"block\d+\.depthwise"),
             ("block*.project", r"block\d+\.project"), ("head", r"head"), ("classifier", r"classifier")]
MB_FLOAT = [("block*.depthwise", r"block\d+\.depthwise"), ("block*.project", r"block\d+\.project"),
            ("block*.expand", r"block\d+\.expand"), ("blocks 0–6", r"block[0-6]\..*"),
            ("blocks 7–12", r"block(?:[7-9]|1[0-2])\..*")]


# ---------------------------------------------------------------- data and the interpreter

def load_fmnist(split, n):
    """The seed-0 subset of n images that pare's fmnist:SPLIT:n draws (torch.randperm with seed 0), in [0, 1]."""
    pre = os.path.join(FMNIST_DIR, "train" if split == "train" else "t10k")
    with gzip.open(pre + "-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(pre + "-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))[:n].numpy()
    return torch.tensor(x[idx] / 255.0, dtype=torch.float32), torch.tensor(y[idx].astype(np.int64))


class Model:
    """A zoo ONNX CNN run by torch, with each BatchNormalization folded into the Conv before it (as pare does)."""

    def __init__(self, name):
        self.name = name
        self.path = os.path.join(ZOO, f"fmnist-{name}.onnx")
        m = onnx.load(self.path)
        self.graph_in, self.graph_out = m.graph.input[0].name, m.graph.output[0].name
        self.init = {t.name: torch.tensor(numpy_helper.to_array(t).copy()) for t in m.graph.initializer}
        self.nodes = list(m.graph.node)
        self.attrs = {n.name: {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute} for n in self.nodes}
        consumers = {}
        for n in self.nodes:
            for i in n.input:
                consumers.setdefault(i, []).append(n)
        self.layers, self.fold, self.bn_of, self.wname = [], {}, {}, {}
        for n in self.nodes:
            if n.op_type in ("Conv", "Gemm") and n.input[1] in self.init:
                nxt = consumers.get(n.output[0], [])
                if len(nxt) == 1 and nxt[0].op_type == "BatchNormalization":
                    bn = nxt[0]
                    g, b, mu, var = (self.init[k] for k in bn.input[1:5])
                    s = g / torch.sqrt(var + self.attrs[bn.name].get("epsilon", 1e-5))
                    self.fold[n.name] = (s, b - mu * s)
                    self.bn_of[n.name] = bn
                self.layers.append(n.name)
                self.wname[n.name] = n.input[1]

    def folded(self, name):
        w = self.init[self.wname[name]]
        if name in self.fold:
            return w * self.fold[name][0].view(-1, *([1] * (w.dim() - 1)))
        return w

    def linear_op(self, name, x, w):
        """The layer's conv/gemm without bias."""
        a = self.attrs[name]
        if w.dim() == 4:
            return F.conv2d(x, w, None, stride=a.get("strides", [1, 1]), padding=a.get("pads", [0] * 4)[:2],
                            dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))
        return F.linear(x, w)

    def run(self, x, wq=None, hook=None):
        """wq: layer -> folded (quantized) weight. hook(name, input, output) for each conv/gemm output (in the folded
        domain, conv(x, w_fold) + b_fold); a tensor it returns replaces the output."""
        wq = wq or {}
        env = dict(self.init)
        env[self.graph_in] = x
        skip = set()
        for n in self.nodes:
            if n.name in skip:
                continue
            a, t = self.attrs[n.name], n.op_type
            ins = [env[i] if i else None for i in n.input]
            if t == "Constant":
                out = torch.tensor(numpy_helper.to_array(a["value"]).copy())
            elif t in ("Sub", "Mul", "Add"):
                out = {"Sub": torch.sub, "Mul": torch.mul, "Add": torch.add}[t](ins[0], ins[1])
            elif t in ("Conv", "Gemm"):
                w = wq.get(n.name, self.folded(n.name))
                b = self.fold[n.name][1] if n.name in self.fold else (ins[2] if len(ins) > 2 else None)
                if t == "Gemm":
                    assert a.get("transB", 0) == 1
                out = self.linear_op(n.name, ins[0], w)
                if b is not None:
                    out = out + b.view(1, -1, *([1] * (out.dim() - 2)))
                if hook:
                    r = hook(n.name, ins[0], out)
                    out = out if r is None else r
                if n.name in self.bn_of:  # the folded BN: its output is this one
                    bn = self.bn_of[n.name]
                    env[bn.output[0]] = out
                    skip.add(bn.name)
                    continue
            elif t == "Clip":
                out = torch.clamp(ins[0], float(ins[1]), float(ins[2]))
            elif t == "Relu":
                out = torch.relu(ins[0])
            elif t == "GlobalAveragePool":
                out = ins[0].mean((2, 3), keepdim=True)
            elif t == "Flatten":
                out = ins[0].flatten(a.get("axis", 1))
            elif t == "Dropout":
                out = ins[0]
            else:
                raise RuntimeError(f"unsupported op {t} ({n.name})")
            env[n.output[0]] = out
        return env[self.graph_out]

    def accuracy(self, x, y, wq=None, hook=None):
        c = 0
        with torch.no_grad():
            for i in range(0, len(y), BATCH):
                c += (self.run(x[i:i + BATCH], wq, hook).argmax(1) == y[i:i + BATCH]).sum().item()
        return 100.0 * c / len(y)

    def outputs(self, x, wq=None):
        """Every conv/gemm output (and input) of one forward pass."""
        outs, ins = {}, {}

        def hk(n, i, o):
            ins[n], outs[n] = i, o
        with torch.no_grad():
            pred = self.run(x, wq, hk).argmax(1)
        return outs, ins, pred


# ---------------------------------------------------------------- the weight quantizers (pare's, reimplemented)

def rows(w):
    return w.reshape(w.shape[0], -1)


def ternary(w, op, p=1 / 3):
    """ternary-rtn, tquant or mquant per output row (docs/methods/ternary.md); mquant's zero share p."""
    r = rows(w)
    a = r.abs()
    M = a.max(1, keepdim=True).values
    if op == "ternary-rtn":
        d, al = M / 2, M
    elif op == "tquant":
        d, al = M / 3, 2 * M / 3
    else:
        n = r.shape[1]
        k = min(n - 1, int(np.floor(p * n)))
        d = a.kthvalue(k + 1, 1, keepdim=True).values
        keep = a > d
        cnt = keep.sum(1, keepdim=True)
        al = torch.where(cnt > 0, (a * keep).sum(1, keepdim=True) / cnt.clamp_min(1), M)
    return (torch.sign(r) * (a > d) * al).reshape(w.shape)


def power(w, bits, a_exp):
    """PowerQuant's grid per row (docs/methods/powerquant.md): round(n·u^a) in the power domain; a = 1 is RTN."""
    r = rows(w)
    M = r.abs().max(1, keepdim=True).values.clamp_min(1e-30)
    n = 2 ** (bits - 1) - 1
    q = torch.clamp(torch.round(n * (r.abs() / M) ** a_exp), 0, n)
    return (torch.sign(r) * M * (q / n) ** (1 / a_exp)).reshape(w.shape)


def power_nearest(w, bits, a_exp):
    """The same levels, each weight rounded to the nearest level in the linear domain."""
    r = rows(w)
    M = r.abs().max(1, keepdim=True).values.clamp_min(1e-30)
    n = 2 ** (bits - 1) - 1
    lv = (torch.arange(n + 1, dtype=torch.float32) / n) ** (1 / a_exp)
    k = ((r.abs() / M).unsqueeze(-1) - lv).abs().argmin(-1)
    return (torch.sign(r) * M * lv[k]).reshape(w.shape)


def rel_err(w, q):
    return float(((w - q) ** 2).sum() / (w ** 2).sum())


def gain(w, q):
    """<q, w> / ||w||²: how much of w (or of an output) q keeps."""
    return float((q * w).sum() / (w * w).sum())


def row_gain(w, q):
    r, s = rows(w), rows(q)
    return ((r * s).sum(1) / (r * r).sum(1)).view(-1, *([1] * (w.dim() - 1)))


def unit_gain(q, w):
    """q with each row rescaled so that <q, w> = ||w||² per row."""
    return q / row_gain(w, q).clamp_min(1e-12)


def norm_keep(q, w):
    """q with each row rescaled so that ||q|| = ||w|| per row."""
    k = rows(w).norm(dim=1) / rows(q).norm(dim=1).clamp_min(1e-12)
    return q * k.view(-1, *([1] * (w.dim() - 1)))


def quantize_all(model, fn):
    return {n: fn(n, model.folded(n)) for n in model.layers}


def mean(v):
    return float(np.mean(v))


# ---------------------------------------------------------------- pare

class PareRunner:
    def __init__(self, binary, tmp):
        self.bin = binary
        self.tmp = tmp
        self.count = 0

    def quantize(self, model, method, wbits, exclude=None):
        """`pare quantize` weights only, per channel, evaluated on EVAL; returns (its --json, the command)."""
        self.count += 1
        j = os.path.join(self.tmp, f"run{self.count}.json")
        cmd = [self.bin, "quantize", os.path.join(ZOO, f"fmnist-{model}.onnx"), "--method", method,
               "--wbits", str(wbits), "--abits", "0"] + (["--exclude", exclude] if exclude else []) + \
              ["--eval", EVAL, "--quiet", "--json", j]
        t = time.time()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        r = results_json.read_json(j)
        shown = "pare " + " ".join(shlex.quote(rel(a)) for a in cmd[1:-3])
        print(f"  pare {model} {method} W{wbits} exclude={exclude!r}: top-1 {r['accuracy']['after']:.2f} "
              f"({time.time() - t:.0f} s)", flush=True)
        return r, shown


def copy_binary(build_dir, tmp):
    """A private copy of build/pare (waiting while it is being rebuilt)."""
    src = pare_tool.binary(build_dir)
    for attempt in range(20):
        try:
            dst = os.path.join(tmp, "pare")
            shutil.copy2(src, dst)
            subprocess.run([dst, "--version"], check=True, capture_output=True)
            return dst
        except (OSError, subprocess.CalledProcessError) as e:
            if attempt == 19:
                raise
            print(f"cannot copy or run {src} ({e}); retrying in 30 s", flush=True)
            time.sleep(30)


# ---------------------------------------------------------------- (a) agreement

def agreement(pr, r20, mb, x, y, pq_exps):
    rows_ = []
    cases = [(r20, "mquant", 2, lambda n, w: ternary(w, "mquant")),
             (r20, "tquant", 2, lambda n, w: ternary(w, "tquant")),
             (mb, "powerquant", 3, None),
             (mb, "rtn", 3, lambda n, w: power(w, 3, 1.0))]
    floats = {}
    pare_json = {}
    for model, method, bits, fn in cases:
        r, cmd = pr.quantize(model.name, method, bits)
        pare_json[(model.name, method)] = r
        L = {l["node"]: l for l in r["layers"]}
        if fn is None:  # PowerQuant: pare's exponents, the grid reimplemented
            pq_exps.update({n: L[n]["exponent"] for n in model.layers})
            fn = lambda n, w: power(w, bits, pq_exps[n])  # noqa: E731
        wq = quantize_all(model, fn)
        dev = max(abs(rel_err(model.folded(n), wq[n]) - L[n]["relative_error"]) / L[n]["relative_error"]
                  for n in model.layers)
        if model.name not in floats:
            floats[model.name] = model.accuracy(x, y)
        sim_q = model.accuracy(x, y, wq) if method != "rtn" else None
        rows_.append({"model": model.name, "method": method, "wbits": bits, "pare_fp32": r["accuracy"]["before"],
                      "pare_top1": r["accuracy"]["after"], "sim_fp32": floats[model.name], "sim_top1": sim_q,
                      "max_rel_dev_relative_error": dev, "layers": len(model.layers),
                      "weight_tensor": L[model.layers[0]]["weight"], "command": cmd})
        print(f"(a) {model.name} {method}: pare {r['accuracy']['after']:.2f} sim {sim_q} max dev {dev:.2e}",
              flush=True)
    return rows_, pare_json


# ---------------------------------------------------------------- (b) MQuant

def mquant_layers(r20, x500):
    """Per layer, float inputs: weight and output relative error and gain of the three ternary operators."""
    _, ins, _ = r20.outputs(x500)
    ops = ["ternary-rtn", "tquant", "mquant"]
    per = []
    with torch.no_grad():
        for n in r20.layers:
            w = r20.folded(n)
            yo = r20.linear_op(n, ins[n], w)
            row = {"layer": n}
            for op in ops:
                q = ternary(w, op)
                yq = r20.linear_op(n, ins[n], q)
                row[op] = {"weight_rel_err": rel_err(w, q), "weight_gain": gain(w, q),
                           "output_rel_err": rel_err(yo, yq), "output_gain": gain(yo, yq)}
            per.append(row)
    summary = {op: {"mean_weight_rel_err": mean([r[op]["weight_rel_err"] for r in per]),
                    "mean_weight_gain": mean([r[op]["weight_gain"] for r in per]),
                    "mean_output_rel_err": mean([r[op]["output_rel_err"] for r in per]),
                    "mean_output_gain": mean([r[op]["output_gain"] for r in per]),
                    "stem_output_rel_err": per[0][op]["output_rel_err"],
                    "stem_zero_share": float((ternary(r20.folded(r20.layers[0]), op) == 0).float().mean())}
               for op in ops}
    return {"images": len(x500), "layers": per, "summary": summary}


def drift(model, x, y, wq):
    """Each conv/gemm output of the quantized net against the float net's, on the same images."""
    of, _, _ = model.outputs(x)
    oq, _, pred = model.outputs(x, wq)
    per = []
    for n in model.layers:
        a, b = of[n], oq[n]
        per.append({"layer": n, "rel_err": rel_err(a, b), "gain": gain(a, b),
                    "norm_ratio": float(b.norm() / a.norm()), "cos": float((a * b).sum() / a.norm() / b.norm())})
    return {"images": len(y), "top1": 100.0 * float((pred == y).float().mean()),
            "prediction_histogram": torch.bincount(pred, minlength=10).tolist(), "layers": per}


def bn_reestimation(model, wq, xc, x, y, mode):
    """Sequential per-channel re-matching of each conv/gemm output's mean (mode "mean") or mean and std ("affine")
    to the float net's on the calibration images xc, in graph order (each layer sees the corrected layers before
    it); then top-1 on x. The correction is affine per channel, so it folds into the weights and bias."""
    dims = lambda o: [0] + list(range(2, o.dim()))  # noqa: E731
    with torch.no_grad():
        of, _, _ = model.outputs(xc)
    corr = {}

    def calibrate(n, i, o):
        mf, sf = of[n].mean(dims(o)), of[n].std(dims(o))
        mq, sq = o.mean(dims(o)), o.std(dims(o))
        s = sf / sq.clamp_min(1e-8) if mode == "affine" else torch.ones_like(sf)
        corr[n] = (s, mq, mf)
        return apply(n, i, o)

    def apply(n, i, o):
        s, mq, mf = corr[n]
        shape = (1, -1) + (1,) * (o.dim() - 2)
        return (o - mq.view(shape)) * s.view(shape) + mf.view(shape)
    with torch.no_grad():
        model.run(xc, wq, calibrate)
    return model.accuracy(x, y, wq, apply)


def mquant_section(pr, r20, mb, x, y, quick, pare_json):
    out = {}
    out["layers"] = mquant_layers(r20, x[:500])
    print("(b) per-layer errors done", flush=True)
    out["drift"] = {op: drift(r20, x[:300], y[:300], quantize_all(r20, lambda n, w: ternary(w, op)))
                    for op in ("mquant", "tquant")}
    print("(b) drift done", flush=True)
    xc, _ = load_fmnist("train", 256)
    bn = []
    for op, modes in (("mquant", ("mean", "affine")), ("tquant", ("affine",))):
        wq = quantize_all(r20, lambda n, w: ternary(w, op))
        row = {"method": op, "raw": pare_json[("resnet20", op)]["accuracy"]["after"]}
        for mode in modes:
            row[mode] = bn_reestimation(r20, wq, xc, x, y, mode)
        bn.append(row)
        print(f"(b) BN re-estimation {row}", flush=True)
    out["bn_reestimation"] = {"calibration": "fmnist:train:256 (seed-0 subset)", "rows": bn}

    def variants(model, names):
        first, last = model.layers[0], model.layers[-1]
        table_ = []
        for name in names:
            fn = VARIANTS[name]
            wq = quantize_all(model, lambda n, w: fn(w))
            row = {"variant": name, "mean_weight_rel_err": mean([rel_err(model.folded(n), wq[n])
                                                                  for n in model.layers]),
                   "all": model.accuracy(x, y, wq)}
            if name in STEM_COLUMNS:
                row["stem_float"] = model.accuracy(x, y, {n: q for n, q in wq.items() if n != first})
                row["stem_last_float"] = model.accuracy(x, y, {n: q for n, q in wq.items() if n not in (first, last)})
            table_.append(row)
            print(f"(b) {model.name} {row}", flush=True)
        return table_
    out["variants_resnet20"] = variants(r20, list(VARIANTS))
    r, cmd = pr.quantize("resnet20", "mquant", 2, exclude=r"(?!stem\b).*")
    out["pare_stem_only"] = {"top1": r["accuracy"]["after"], "command": cmd, "layers": len(r["layers"]),
                             "quantized_layers": sum(1 for l in r["layers"] if l["quantized"])}
    if not quick:
        out["variants_mobilenetv2"] = variants(mb, ["mquant", "tquant"])
    return out


VARIANTS = {
    "mquant": lambda w: ternary(w, "mquant"),
    "mquant, row gain 1": lambda w: unit_gain(ternary(w, "mquant"), w),
    "mquant, row norm kept": lambda w: norm_keep(ternary(w, "mquant"), w),
    "mquant, p = 0.5 zeros": lambda w: ternary(w, "mquant", p=0.5),
    "mquant, p = 0.2 zeros": lambda w: ternary(w, "mquant", p=0.2),
    "tquant": lambda w: ternary(w, "tquant"),
    "tquant, row gain 1": lambda w: unit_gain(ternary(w, "tquant"), w),
}
STEM_COLUMNS = {"mquant", "mquant, row gain 1", "mquant, p = 0.5 zeros", "mquant, p = 0.2 zeros", "tquant",
                "tquant, row gain 1"}
VARIANT_NOTES = {
    "mquant": "as pare: α = mean of the kept \\|w\\| (least squares for the threshold)",
    "mquant, row gain 1": "α per row such that ⟨q, w⟩ = ‖w‖²",
    "mquant, row norm kept": "α per row such that ‖q‖ = ‖w‖",
    "mquant, p = 0.5 zeros": "half of each row set to 0",
    "mquant, p = 0.2 zeros": "a fifth of each row set to 0",
    "tquant": "as pare: Δ = M/3, α = 2M/3",
    "tquant, row gain 1": "α per row such that ⟨q, w⟩ = ‖w‖²",
}


# ---------------------------------------------------------------- (c) PowerQuant on mobilenetv2

def group_of(n):
    for g in ("stem", "expand", "depthwise", "project", "head", "classifier"):
        if g in n:
            return g


def powerquant_section(pr, mb, x, y, exps, quick, pare_json):
    out = {}
    pq = quantize_all(mb, lambda n, w: power(w, 3, exps[n]))
    rt = quantize_all(mb, lambda n, w: power(w, 3, 1.0))
    layers = []
    for n in mb.layers:
        w = mb.folded(n)
        layers.append({"layer": n, "group": group_of(n), "exponent": exps[n], "pq_weight_rel_err": rel_err(w, pq[n]),
                       "rtn_weight_rel_err": rel_err(w, rt[n]), "pq_gain": gain(w, pq[n]), "rtn_gain": gain(w, rt[n])})
    _, ins, _ = mb.outputs(x[:200])
    with torch.no_grad():
        for row in layers:
            n = row["layer"]
            yo = mb.linear_op(n, ins[n], mb.folded(n))
            row["pq_output_rel_err"] = rel_err(yo, mb.linear_op(n, ins[n], pq[n]))
            row["rtn_output_rel_err"] = rel_err(yo, mb.linear_op(n, ins[n], rt[n]))
    del ins
    groups = []
    for g in ("stem", "depthwise", "expand", "project", "head", "classifier"):
        rs = [r for r in layers if r["group"] == g]
        groups.append({"group": g, "layers": len(rs)} | {k: mean([r[k] for r in rs]) for k in (
            "pq_output_rel_err", "rtn_output_rel_err", "pq_weight_rel_err", "rtn_weight_rel_err")})
    out["layers"] = layers
    out["output_error_images"] = len(x[:200])
    out["groups"] = groups
    out["pq_weight_below_rtn"] = sum(r["pq_weight_rel_err"] < r["rtn_weight_rel_err"] for r in layers)
    out["pq_output_below_rtn"] = sum(r["pq_output_rel_err"] < r["rtn_output_rel_err"] for r in layers)
    out["exponent_range"] = [min(exps.values()), max(exps.values())]
    print("(c) per-layer errors done", flush=True)

    def ablation(specs, only):
        res = []
        for label, rx in specs:
            row = {"group": label, "regex": rx}
            for method in ("powerquant", "rtn"):
                ex = rf"(?!(?:{rx})\b).*" if only else rx
                r, cmd = pr.quantize("mobilenetv2", method, 3, exclude=ex)
                row[method] = r["accuracy"]["after"]
                row[method + "_quantized_layers"] = sum(1 for l in r["layers"] if l["quantized"])
                row[method + "_command"] = cmd
            res.append(row)
        return res
    out["only_group"] = ablation(MB_GROUPS, True)
    if not quick:
        out["float_group"] = ablation(MB_FLOAT, False)
        stem = mb.layers[0]
        out["mixed"] = {
            "pq_stem_rtn_elsewhere": mb.accuracy(x, y, {n: (pq[n] if n == stem else rt[n]) for n in mb.layers}),
            "rtn_stem_pq_elsewhere": mb.accuracy(x, y, {n: (rt[n] if n == stem else pq[n]) for n in mb.layers})}
        print(f"(c) mixed {out['mixed']}", flush=True)
    out["drift"] = {"powerquant": drift(mb, x[:300], y[:300], pq), "rtn": drift(mb, x[:300], y[:300], rt)}
    print("(c) drift done", flush=True)

    def row_gain_mean(wq):
        return mean([float(row_gain(mb.folded(n), wq[n]).mean()) for n in mb.layers])

    def werr(wq):
        return mean([rel_err(mb.folded(n), wq[n]) for n in mb.layers])
    variants = [{"variant": "PowerQuant (pare)", "top1": pare_json[("mobilenetv2", "powerquant")]["accuracy"]["after"],
                 "mean_weight_rel_err": werr(pq), "mean_row_gain": row_gain_mean(pq)}]
    for name, fn in (("PowerQuant, each row rescaled to gain 1", lambda n, w: unit_gain(power(w, 3, exps[n]), w)),
                     ("PowerQuant, nearest level in the linear domain", lambda n, w: power_nearest(w, 3, exps[n]))):
        wq = quantize_all(mb, fn)
        variants.append({"variant": name, "top1": mb.accuracy(x, y, wq), "mean_weight_rel_err": werr(wq),
                         "mean_row_gain": row_gain_mean(wq)})
        print(f"(c) {variants[-1]}", flush=True)
    variants.append({"variant": "RTN (pare)", "top1": pare_json[("mobilenetv2", "rtn")]["accuracy"]["after"],
                     "mean_weight_rel_err": werr(rt), "mean_row_gain": row_gain_mean(rt)})
    out["variants"] = variants
    return out


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--quick", action="store_true", help="leave out the slowest ablations (see the top of the file)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--doc-only", action="store_true", help="only rewrite the page from the JSON (--out)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results/data_free_diagnosis.json"))
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs/results/data_free_diagnosis.md"))
    args = ap.parse_args()
    if args.doc_only:
        write_doc(results_json.read_json(args.out), args.doc, os.path.relpath(args.out, ROOT))
        return 0
    torch.set_num_threads(args.threads)
    t0 = time.time()
    doc = results_json.header("bench/data_free_diagnosis.py")
    x, y = load_fmnist("test", 2000)
    r20, mb = Model("resnet20"), Model("mobilenetv2")
    with tempfile.TemporaryDirectory() as tmp:
        binary = copy_binary(args.build_dir, tmp)
        pr = PareRunner(binary, tmp)
        doc.update({"eval": EVAL, "quick": args.quick, "pare_binary_sha256_12": pare_tool.binary_id(binary)})
        exps = {}
        doc["agreement"], pare_json = agreement(pr, r20, mb, x, y, exps)
        doc["mquant"] = mquant_section(pr, r20, mb, x, y, args.quick, pare_json)
        doc["powerquant"] = powerquant_section(pr, mb, x, y, exps, args.quick, pare_json)
        doc["pare_runs"] = pr.count
    doc["seconds"] = time.time() - t0
    results_json.write_json(args.out, doc)
    write_doc(doc, args.doc, os.path.relpath(args.out, ROOT))
    print(f"done in {doc['seconds']:.0f} s", flush=True)
    return 0


# ---------------------------------------------------------------- the page

def f2(v):
    return fmt(v, ".2f")


def f3(v):
    return fmt(v, ".3f")


def f4(v):
    return fmt(v, ".4f")


def write_doc(doc, path, source):
    ag = doc["agreement"]
    mq, pq = doc["mquant"], doc["powerquant"]
    bn_mq = next(r for r in mq["bn_reestimation"]["rows"] if r["method"] == "mquant")
    groups_below = sum(g["pq_output_rel_err"] < g["rtn_output_rel_err"] for g in pq["groups"])
    mb_fp32 = next(r["pare_fp32"] for r in ag if r["model"] == "mobilenetv2")
    worst_only = max(mb_fp32 - r["powerquant"] for r in pq["only_group"])
    L = ["# Data-free ternary and PowerQuant: why they fail on the zoo CNNs", "",
         f"Generated by `/usr/bin/python3 {doc['command']}` on {doc['date']} ({doc['machine']}, pare "
         f"{doc['pare_commit']}) from `{source}`; do not edit by hand. Top-1 (%) on `{doc['eval']}` (the "
         "2,000-image seed-0 test subset), weights only, per channel, activations float. The script runs pare and an "
         "independent torch interpreter of the zoo ONNX graphs that folds BatchNorm as pare does and reimplements "
         "the ternary operators, RTN and the power grid (PowerQuant's per-layer exponents are taken from pare's "
         "`--json`). Relative error is ‖ŵ − w‖² / ‖w‖² on the BN-folded tensor (outputs alike); gain is "
         "⟨ŵ, w⟩ / ‖w‖² (outputs: ⟨ŷ, y⟩ / ‖y‖²). Method pages: [../methods/ternary.md](../methods/ternary.md), "
         "[../methods/powerquant.md](../methods/powerquant.md).", "",
         "**Verdict: neither result is a pare bug.** pare computes what the method pages specify (section 1). "
         "MQuant's least-squares scale shrinks every output channel; the shrinkage compounds over the layers until "
         "the features decorrelate, and re-estimating each channel's mean and std on a few train images restores "
         f"most of the accuracy ({f2(bn_mq['raw'])} → {f2(bn_mq['affine'])}, section 2). On mobilenetv2 at W3, "
         f"PowerQuant has the lower weight error on {pq['pq_weight_below_rtn']} of {len(pq['layers'])} layers and "
         f"the lower output error (float inputs) on {groups_below} of {len(pq['groups'])} layer groups, and no "
         f"group quantized alone costs it more than {worst_only:.2f} points, yet its error grows faster through "
         "the network than RTN's (section 3). A per-layer error proxy does not predict accuracy once errors "
         "compound over 20–41 layers.", "",
         "## 1. pare and the independent reimplementation agree", ""]
    body = [[r["model"], f"{r['method']} W{r['wbits']}", f"{f2(r['pare_fp32'])} / {f2(r['pare_top1'])}",
             f"{f2(r['sim_fp32'])} / {f2(r['sim_top1'])}", fmt(r["max_rel_dev_relative_error"], ".1e"),
             r["layers"]] for r in ag]
    L += table(["model", "method", "pare fp32 / quantized", "interpreter fp32 / quantized",
                "max relative deviation of a layer's relative error from pare's `--json`", "layers"], body)
    L += ["", f"Errors are compared on pare's BN-folded weight (`{ag[0]['weight_tensor']}` for the stem); the RTN "
          "row checks the weight errors only (its top-1 is pare's in section 3).", "",
          "## 2. MQuant on resnet20 at W2", "",
          f"### Per-layer errors with float inputs ({mq['layers']['images']} images), means over the "
          f"{len(mq['layers']['layers'])} layers", ""]
    s = mq["layers"]["summary"]
    L += table(["operator", "weight rel. err", "weight gain", "output rel. err", "output gain", "stem output rel. err",
                "stem zeros"],
               [[op, f3(v["mean_weight_rel_err"]), f3(v["mean_weight_gain"]), f3(v["mean_output_rel_err"]),
                 f3(v["mean_output_gain"]), f3(v["stem_output_rel_err"]), f3(v["stem_zero_share"])]
                for op, v in s.items()])
    L += ["", "MQuant has the lowest weight error and an output error close to TQuant's, but its outputs are shrunk "
          "more (α, the mean of the kept |w|, is the least-squares scale for its threshold, so ŵ ⊥ w − ŵ and "
          "‖ŵ‖² = ‖w‖² − ‖w − ŵ‖²). The stem (9 weights a row, 4 of them set to 0) is the one layer where its "
          "output error is much worse.", "",
          f"### Drift through the quantized network ({mq['drift']['mquant']['images']} images): rel. err / gain / "
          "cosine of each output against the float network's", ""]
    dm = {r["layer"]: r for r in mq["drift"]["mquant"]["layers"]}
    dt = {r["layer"]: r for r in mq["drift"]["tquant"]["layers"]}
    cell = lambda r: f"{r['rel_err']:.2f} / {r['gain']:.2f} / {r['cos']:.2f}"  # noqa: E731
    L += table(["layer", "MQuant", "TQuant"], [[n, cell(dm[n]), cell(dt[n])] for n in R20_DRIFT])
    hist = mq["drift"]["mquant"]["prediction_histogram"]
    top = int(np.argmax(hist))
    L += ["", f"On these images MQuant predicts class {top} for {hist[top]} of {sum(hist)} "
          f"(top-1 {f2(mq['drift']['mquant']['top1'])}; TQuant {f2(mq['drift']['tquant']['top1'])}).", "",
          f"### BatchNorm re-estimation on {mq['bn_reestimation']['calibration']}", "",
          "Each conv/gemm output's per-channel mean (and std) is matched to the float network's, layer by layer in "
          "graph order; the correction is affine per channel and folds into weights and bias.", ""]
    L += table(["resnet20 W2", "raw (pare)", "mean only", "mean and std"],
               [[r["method"], f2(r["raw"]), f2(r.get("mean")), f2(r.get("affine"))]
                for r in mq["bn_reestimation"]["rows"]])
    L += ["", "The mean (the folded bias) is not what breaks; the per-channel scale drift is. The ternary codes "
          "still hold the information.", "",
          "### Data-free rescaling variants (resnet20, interpreter)", ""]
    L += table(["variant", "what changes", "mean weight rel. err", "all layers", "stem float", "stem and fc float"],
               [[r["variant"], VARIANT_NOTES[r["variant"]], f3(r["mean_weight_rel_err"]), f2(r["all"]),
                 f2(r.get("stem_float")), f2(r.get("stem_last_float"))] for r in mq["variants_resnet20"]])
    so = mq["pare_stem_only"]
    L += ["", f"With pare, MQuant on the stem alone (the other {so['layers'] - so['quantized_layers']} layers float) gives "
          f"{f2(so['top1'])}: `{so['command']}`. No data-free rescaling recovers the accuracy of the whole net.", ""]
    if "variants_mobilenetv2" in mq:
        L += ["mobilenetv2 (interpreter):", ""]
        L += table(["variant", "all layers", "stem float", "stem and classifier float"],
                   [[r["variant"], f2(r["all"]), f2(r.get("stem_float")), f2(r.get("stem_last_float"))]
                    for r in mq["variants_mobilenetv2"]])
        L += [""]
    L += ["## 3. PowerQuant on mobilenetv2 at W3", "",
          f"### Per-layer errors against RTN (output errors with float inputs, {pq['output_error_images']} images)",
          "",
          f"Exponents {pq['exponent_range'][0]:.3f}–{pq['exponent_range'][1]:.3f}. PowerQuant's weight error is "
          f"below RTN's on {pq['pq_weight_below_rtn']} of {len(pq['layers'])} layers, its output error on "
          f"{pq['pq_output_below_rtn']} of {len(pq['layers'])}. Means per group:", ""]
    L += table(["group", "layers", "output rel. err PQ", "RTN", "weight rel. err PQ", "RTN"],
               [[g["group"], g["layers"], f4(g["pq_output_rel_err"]), f4(g["rtn_output_rel_err"]),
                 f4(g["pq_weight_rel_err"]), f4(g["rtn_weight_rel_err"])] for g in pq["groups"]])
    L += ["", "### One group quantized, the rest float (pare)", "",
          "Each row is `pare quantize examples/zoo/fmnist-mobilenetv2.onnx --method powerquant|rtn --wbits 3 "
          f"--abits 0 --exclude '(?!(?:REGEX)\\b).*' --eval {doc['eval']}`.", ""]
    L += table(["only this group at W3", "regex", "layers", "PowerQuant", "RTN"],
               [[r["group"], f"`{r['regex']}`", r["powerquant_quantized_layers"], f2(r["powerquant"]), f2(r["rtn"])]
                for r in pq["only_group"]])
    if "float_group" in pq:
        L += ["", "### One group kept float, the rest quantized (pare, `--exclude 'REGEX'`)", ""]
        L += table(["float group", "regex", "quantized layers", "PowerQuant", "RTN"],
                   [[r["group"], f"`{r['regex']}`", r["powerquant_quantized_layers"], f2(r["powerquant"]),
                     f2(r["rtn"])] for r in pq["float_group"]])
    if "mixed" in pq:
        L += ["", f"Interpreter: PowerQuant on the stem with RTN elsewhere {f2(pq['mixed']['pq_stem_rtn_elsewhere'])}, "
              f"RTN on the stem with PowerQuant elsewhere {f2(pq['mixed']['rtn_stem_pq_elsewhere'])}."]
    dp = {r["layer"]: r for r in pq["drift"]["powerquant"]["layers"]}
    dr = {r["layer"]: r for r in pq["drift"]["rtn"]["layers"]}
    cell = lambda r: f"{r['rel_err']:.2f} / {r['cos']:.2f}"  # noqa: E731
    L += ["", f"### Drift through the quantized network ({pq['drift']['powerquant']['images']} images): rel. err / "
          "cosine against the float network", ""]
    L += table(["layer", "PowerQuant", "RTN"], [[n, cell(dp[n]), cell(dr[n])] for n in MB_DRIFT])
    L += ["", "### Variants ruled out", ""]
    L += table(["variant", "top-1", "mean weight rel. err", "mean row gain"],
               [[v["variant"], f2(v["top1"]), f4(v["mean_weight_rel_err"]), f3(v["mean_row_gain"])]
                for v in pq["variants"]])
    L += ["", "Power-domain rounding (`round(n·u^a)`) biases magnitudes up slightly, but neither removing that bias nor "
          "rounding to the nearest level closes the gap to RTN. The loss needs many quantized layers: each layer's own "
          "error is lower, but the errors compound faster end to end. A plausible reason, not proven here: with "
          "a < 1 the grid spends its levels near zero, on the many small weights that dominate the squared error, "
          "and leaves the largest weights, which carry most of the signal, on coarse top levels.", "",
          f"Runtime {doc['seconds'] / 60:.1f} min, {doc['pare_runs']} pare runs"
          + (" (`--quick`)." if doc["quick"] else ".")]
    write_markdown(path, L)


if __name__ == "__main__":
    sys.exit(main())
