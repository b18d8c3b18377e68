#!/usr/bin/env python3
# Data-free quantization (issue 7): `pare quantize` with RTN, DFQ, REx (residual expansion, order K, sparsity γ),
# PIPE (REx ensemble of M = 2 members), PowerQuant, and the ternary operators (ternary RTN, TQuant, MQuant), on
#   - the three Fashion-MNIST zoo models (examples/zoo/fmnist-*.onnx): top-1 on fmnist:test:N, weights only by
#     default (--abits 0), per-channel scales, bits 8, 6, 4, 3 and ternary (2);
#   - the brown-llama (examples/zoo/brown-llama), weights only, group:128 and per-channel scales: perplexity of
#     the quantized .pare package on the Brown held-out text (ctx 256), KL divergence and top-1 agreement against
#     the fp16 model (a reference stored once with `pare ppl --save-ref`).
# Every configuration records its command, accuracy (or perplexity), bits/weight, relative BOPs (bit operations
# relative to the same model at W8), the REx cost factor (1 + Σγ) and seconds. One configuration per method and
# model is also exported (--out X.pare) and evaluated again with `pare eval X.pare`: the top-1 must be exactly the
# one pare quantize measured. The claims of the issue (REx beats RTN at equal bits/weight; REx's weight error falls
# geometrically with K; PowerQuant beats uniform at 4 and 3 bits; TQuant/MQuant beat ternary rounding by a wide
# margin) are computed from the numbers and written with them.
#
# Each configuration is a pare recipe (the format at the top of src/pare/quant/recipe.h): the method, its bits and
# granularity, and the method's own options. Every run writes its recipe, with the run's activation bits, to
# WORK/recipes/KEY-aBITS.json and passes it as `pare quantize MODEL --recipe FILE`.
#
# Writes bench/results/data_free.json, docs/results/data_free.md and docs/results/data_free_<model>.svg
# (accuracy or perplexity vs bits/weight). Every run's JSON is kept in a work folder (--work, default
# build/bench-data-free/pare-<sha256 of build/pare>/): a rerun with the same pare binary skips the configurations
# whose JSON is there, so a long run can be stopped and resumed; a rebuilt pare starts a fresh cache. Failed runs
# are recorded (and retried by the next run); configurations whose method or options this pare lacks are listed as
# skipped.
#
#   /usr/bin/python3 bench/data_free.py                 # full grid (zoo at 10,000 images, brown-llama)
#   /usr/bin/python3 bench/data_free.py --quick         # smoke run: 1,000 images, reduced grid, a text subset;
#                                                       # outputs go to the work folder, not into the repository
#   /usr/bin/python3 bench/data_free.py --speed         # timing: bench/results/data_free_speed.json + doc table
#   /usr/bin/python3 bench/data_free.py --render        # rewrite the doc and plots from the JSON files only
#   /usr/bin/python3 bench/data_free.py --check-configs # check every grid's recipes (no pare needed)
# Options: --models, --no-llm, --abits, --eval-count, --llm-words, --threads, --work; see --help.
import argparse
import math
import os
import subprocess
import sys
import tempfile

from benchlib import pare as pare_tool
from benchlib import results as results_json
from benchlib import svg, timing
from benchlib.files import rm
from benchlib.markdown import fmt, table
from benchlib.markdown import write as write_markdown
from benchlib.paths import BENCH as HERE
from benchlib.paths import ROOT, rel
from benchlib.pare import command_string, first_error
from benchlib.results import read_json as load

ZOO = ["resnet20", "mobilenetv2", "vit"]
LLM = "brown-llama"
BITS = [8, 6, 4, 3]
WIDE_MARGIN_POINTS = 5.0  # "a wide margin" for the zoo: at least this many top-1 points over ternary RTN
WIDE_MARGIN_PPL = 0.5  # ... and for the LLM: perplexity at most this fraction of ternary RTN's
FLOAT_FLOOR = 1e-12  # relative squared weight errors below this are at float32 resolution (claim b)

FAMILY_STYLE = {  # family: (colour, marker)
    "RTN": ("#222222", "circle"),
    "DFQ": ("#1f77b4", "square"),
    "REx": ("#d62728", "triangle"),
    "PIPE": ("#9467bd", "diamond"),
    "PowerQuant": ("#2ca02c", "triangle-down"),
    "ternary RTN": ("#7f7f7f", "hollow-circle"),
    "TQuant": ("#ff7f0e", "plus"),
    "MQuant": ("#8c564b", "cross"),
}


# ---------------------------------------------------------------------------------------------------------------
# Configurations

# What a results row records of its configuration, in this order; None where the configuration leaves it out.
FIELDS = ["method", "wbits", "order", "sparsity", "ensemble", "pipe_split", "exponent", "operator", "granularity"]
# A method's own recipe keys (src/pare/quant/recipe.cpp accepts each only with that method).
METHOD_OPTIONS = {"order": "rex", "sparsity": "rex", "ensemble": "rex", "pipe_split": "rex", "exponent": "powerquant"}
TERNARY = ("ternary-rtn", "tquant", "mquant")


class Config:
    """One configuration: `recipe`, a dict in pare's recipe format ("method", "wbits", "granularity" and the
    method's own options; the activation bits are the run's, added by run_recipe()), and `operator`, REx's
    ternary base-term operator. The recipe format has no key for the operator: it is passed as `--operator`
    beside `--recipe`, and only to a pare whose `quantize --help` lists that flag (zoo_grid)."""

    def __init__(self, recipe, operator=None):
        self.recipe, self.operator = recipe, operator

    def fields(self):
        """The configuration as a results row records it: every field of FIELDS, None where it is left out."""
        f = {k: self.recipe.get(k) for k in FIELDS}
        f["operator"] = self.operator
        return f

    def __getitem__(self, k):
        return self.fields()[k]

    def with_granularity(self, granularity):
        return Config(dict(self.recipe, granularity=granularity), self.operator)

    def flags(self):
        """The configuration as `pare quantize` flags (the recipe's keys as options, then --operator)."""
        return recipe_flags(self.recipe) + (["--operator", self.operator] if self.operator else [])


def cfg(method, wbits, order=None, sparsity=None, ensemble=None, split=None, exponent=None, operator=None,
        granularity="channel"):
    r = {"method": method, "wbits": wbits, "granularity": granularity}
    if order is not None:
        r.update(order=order, sparsity=sparsity)
    if ensemble:
        r["ensemble"] = ensemble
    if split:
        r["pipe_split"] = split
    if exponent:
        r["exponent"] = exponent
    return Config(r, operator)


def recipe_flags(recipe):
    """The `pare quantize` flags that say what a recipe says, in the recipe's order (each key as --key-name)."""
    f = []
    for k, v in recipe.items():
        f += ["--" + k.replace("_", "-"), f"{v:g}" if isinstance(v, float) else str(v)]
    return f


def run_recipe(c, abits):
    """The recipe file of one run: c's recipe with the run's activation bits (0: float)."""
    r = {"method": c.recipe["method"], "wbits": c.recipe["wbits"], "abits": abits}
    r.update(c.recipe)
    return r


def recipe_file(work, c, abits):
    """Writes the run's recipe to WORK/recipes/KEY-aBITS.json; returns the path."""
    path = os.path.join(work, "recipes", f"{key(c)}-a{abits}.json")
    results_json.write_json(path, run_recipe(c, abits))
    return path


def recipe_args(work, c, abits):
    """`--recipe FILE` (and --operator) for one run of c."""
    return ["--recipe", recipe_file(work, c, abits)] + (["--operator", c.operator] if c.operator else [])


def family(c):
    m = c["method"]
    if m == "rex":
        return "PIPE" if (c["ensemble"] or 1) > 1 else "REx"
    return {"rtn": "RTN", "dfq": "DFQ", "powerquant": "PowerQuant", "ternary-rtn": "ternary RTN", "tquant": "TQuant",
            "mquant": "MQuant"}[m]


def label(c):
    s = {"rtn": "RTN", "dfq": "DFQ", "powerquant": "PowerQuant", "ternary-rtn": "ternary RTN", "tquant": "TQuant",
         "mquant": "MQuant", "rex": "REx"}[c["method"]]
    if c["method"] == "rex":
        if (c["ensemble"] or 1) > 1:
            s = f"PIPE M={c['ensemble']} ({c['pipe_split'] or 'first'})"
        s += f" K={c['order']} γ={c['sparsity']:g}"
        if c["operator"]:
            s += f" op={c['operator']}"
    if c["exponent"]:
        s += f" ({c['exponent']} a)"
    if c["wbits"] == 2 and c["method"] in ("ternary-rtn", "tquant", "mquant"):
        return s
    return f"ternary {s}" if c["wbits"] == 2 and c["method"] == "rex" else f"W{c['wbits']} {s}"


def key(c):
    k = f"{c['method']}-w{c['wbits']}"
    if c["order"] is not None:
        k += f"-k{c['order']}-g{c['sparsity']:g}"
    if c["ensemble"]:
        k += f"-m{c['ensemble']}{c['pipe_split'] or ''}"
    if c["exponent"]:
        k += f"-{c['exponent']}"
    if c["operator"]:
        k += f"-op{c['operator']}"
    if c["granularity"] != "channel":
        k += "-" + c["granularity"].replace(":", "")
    return k


def needed_flags(c):
    """The pare quantize options a configuration needs: --recipe, and the flag of each of its settings (a pare
    whose --help lacks the flag lacks the recipe key too)."""
    return ["--recipe"] + [x for x in c.flags() if x.startswith("--")]


PIPE_SPLITS = ["first", "first-expanded"]


def zoo_grid(quick, have, cfg=cfg):
    g = []
    if quick:
        g += [cfg("rtn", b) for b in [8, 4, 3, 2]]
        g += [cfg("dfq", 4), cfg("powerquant", 4), cfg("powerquant", 3)]
        g += [cfg("rex", 4, 1, 1.0), cfg("rex", 4, 2, 0.5), cfg("rex", 4, 2, 1.0), cfg("rex", 4, 3, 1.0)]
        g += [cfg("rex", 4, 2, 1.0, 2, split) for split in PIPE_SPLITS]
        g += [cfg(m, 2) for m in ["ternary-rtn", "tquant", "mquant"]] + [cfg("rex", 2, 3, 0.5)]
        return g
    for b in BITS:
        g += [cfg("rtn", b), cfg("dfq", b)]
        g += [cfg("rex", b, k, s) for k in [2, 3, 4] for s in [0.25, 0.5, 1.0]]
        g += [cfg("rex", b, 2, 1.0, 2, split) for split in PIPE_SPLITS]
        g += [cfg("powerquant", b)]
        if b in (4, 3) and "--exponent" in have:
            g += [cfg("powerquant", b, exponent="global")]
    g += [cfg("rex", 4, 1, 1.0)]  # K = 1 must be RTN exactly
    g += [cfg("rtn", 2)] + [cfg(m, 2) for m in ["ternary-rtn", "tquant", "mquant"]]
    g += [cfg("rex", 2, k, s) for k in [2, 3, 4] for s in [0.5, 1.0]]
    if "--operator" in have:  # REx with ternary base terms from the TQuant/MQuant operators
        g += [cfg("rex", 2, k, 0.5, operator=op) for k in [2, 3] for op in ["tquant", "mquant"]]
    return g


# One configuration per method: exported to .pare and evaluated again (and timed by --speed).
def export_configs(cfg=cfg):
    return [cfg("rtn", 4), cfg("dfq", 4), cfg("rex", 4, 2, 0.5)] + [cfg("rex", 4, 2, 1.0, 2, s) for s in PIPE_SPLITS] + \
        [cfg("powerquant", 4), cfg("ternary-rtn", 2), cfg("tquant", 2), cfg("mquant", 2), cfg("rex", 2, 3, 0.5)]


def export_key(c):
    return key(c.with_granularity("channel"))


def llm_grid(quick, cfg=cfg):
    g = []
    grans = ["group:128"] if quick else ["group:128", "channel"]
    for gran in grans:
        bits = [4, 3] if quick else BITS
        for b in bits:
            g += [cfg("rtn", b, granularity=gran), cfg("powerquant", b, granularity=gran)]
            g += [cfg("rex", b, 2, s, granularity=gran) for s in ([0.25] if quick else [0.25, 0.5, 1.0])]
        g += [cfg(m, 2, granularity=gran) for m in (["ternary-rtn", "tquant"] if quick else
                                                    ["ternary-rtn", "tquant", "mquant"])]
    return g


# --speed: the brown-llama's configurations, and the random 1.1B Llama's.
def speed_llm_configs(cfg=cfg):
    return [cfg("rtn", 4, granularity="group:128"), cfg("powerquant", 4, granularity="group:128"),
            cfg("rex", 4, 2, 0.25, granularity="group:128"), cfg("ternary-rtn", 2, granularity="group:128"),
            cfg("tquant", 2, granularity="group:128"), cfg("mquant", 2, granularity="group:128")]


def speed_big_configs(cfg=cfg):
    return [cfg("rtn", 4, granularity="group:128"), cfg("rex", 4, 2, 0.25, granularity="group:128"),
            cfg("powerquant", 4, granularity="group:128"), cfg("tquant", 2, granularity="group:128")]


# ---------------------------------------------------------------------------------------------------------------
# --check-configs: the recipes against the flags this script passed before it wrote recipes


def legacy_cfg(method, wbits, order=None, sparsity=None, ensemble=None, split=None, exponent=None, operator=None,
               granularity="channel"):
    """A configuration as the script held it before recipes (kept for check_configs only)."""
    return {"method": method, "wbits": wbits, "order": order, "sparsity": sparsity, "ensemble": ensemble,
            "pipe_split": split, "exponent": exponent, "operator": operator, "granularity": granularity}


def legacy_flags(c):
    """The method flags the script passed for a legacy_cfg() configuration before recipes."""
    f = ["--method", c["method"], "--wbits", str(c["wbits"]), "--granularity", c["granularity"]]
    if c["order"] is not None:
        f += ["--order", str(c["order"]), "--sparsity", f"{c['sparsity']:g}"]
    if c["ensemble"]:
        f += ["--ensemble", str(c["ensemble"])]
    if c["pipe_split"]:
        f += ["--pipe-split", c["pipe_split"]]
    if c["exponent"]:
        f += ["--exponent", c["exponent"]]
    if c["operator"]:
        f += ["--operator", c["operator"]]
    return f


def check_recipe(r):
    """The rules of src/pare/quant/recipe.cpp a grid's recipe could break: known keys, a method's own options only
    with that method, ternary methods at 2 bits, a PIPE ensemble within the expansion orders."""
    keys = {"method", "wbits", "abits", "granularity"} | set(METHOD_OPTIONS)
    assert set(r) <= keys, f"unknown recipe keys {set(r) - keys} in {r}"
    for k, m in METHOD_OPTIONS.items():
        assert k not in r or r["method"] == m, f"'{k}' is an option of method {m}: {r}"
    assert r["method"] not in TERNARY or r["wbits"] == 2, f"ternary method at {r['wbits']} bits: {r}"
    assert r.get("ensemble", 1) <= r.get("order", 2), f"PIPE ensemble above the expansion order: {r}"
    assert 2 <= r["wbits"] <= 8 and 0 <= r.get("abits", 0) <= 8, r


def check_configs():
    """Every configuration of every grid (full and --quick, with the flag-gated ones, the exports, --speed's):
    its recipe, turned back into flags, equals the flags the script passed before recipes; its key, label, family
    and results-row fields are the same; and the recipe (with the run's activation bits) obeys pare's rules."""
    have = {"--exponent", "--operator"}
    grids = [(name, make(cfg), make(legacy_cfg)) for name, make in [
        ("zoo", lambda f: zoo_grid(False, have, f)), ("zoo --quick", lambda f: zoo_grid(True, have, f)),
        ("brown-llama", lambda f: llm_grid(False, f)), ("brown-llama --quick", lambda f: llm_grid(True, f)),
        ("exports", export_configs), ("speed brown-llama", speed_llm_configs), ("speed 1.1B", speed_big_configs)]]
    n = 0
    for name, new, old in grids:
        assert len(new) == len(old), name
        for c, o in zip(new, old):
            assert c.flags() == legacy_flags(o), (name, c.flags(), legacy_flags(o))
            assert c.fields() == o, (name, c.fields(), o)
            assert (key(c), label(c), family(c)) == (key(o), label(o), family(o)), (name, key(c), key(o))
            check_recipe(c.recipe)
            for abits in (0, 8):
                r = run_recipe(c, abits)
                assert {k: v for k, v in r.items() if k != "abits"} == c.recipe and r["abits"] == abits
                assert list(r)[:4] == ["method", "wbits", "abits", "granularity"], r
                check_recipe(r)
            n += 1
        keys = [key(c) for c in new]
        assert len(set(keys)) == len(keys), f"{name}: two configurations share a key"
    print(f"check-configs: {n} configurations in {len(grids)} grids: recipes give the old flags, keys, labels, "
          "families and row fields, and follow pare's recipe rules")
    return 0


# ---------------------------------------------------------------------------------------------------------------
# Running pare


class Pare(pare_tool.Pare):
    def __init__(self, args):
        super().__init__(pare_tool.binary(args.build_dir), args.threads)
        self.work = args.work
        self.have = self.options(["quantize"])
        self.probes = {}

    def missing(self, c):
        """Why pare cannot run configuration c (options or method it lacks), or None."""
        miss = [f for f in needed_flags(c) if f not in self.have]
        if miss:
            return "pare quantize has no " + ", ".join(miss)
        probe_c = c.with_granularity("channel")
        pk = key(probe_c)
        if pk not in self.probes:
            model = os.path.join(ROOT, "examples/zoo/fmnist-resnet20.onnx")
            ok, _, out = self.run(["quantize", model] + recipe_args(self.work, probe_c, 0) + ["--dry-run"])
            self.probes[pk] = None if ok else first_error(out)
        return self.probes[pk]


# ---------------------------------------------------------------------------------------------------------------
# Zoo


def zoo_row(model, c, r, cmd, secs):
    layers = [l for l in r.get("layers", []) if l.get("quantized")]
    errs = [l["relative_error"] for l in layers if l.get("relative_error") is not None]
    row = {"model": model, "config": label(c), "family": family(c), "key": key(c), **c.fields(),
           "command": command_string(cmd), "top1": r["accuracy"]["after"], "fp32_top1": r["accuracy"]["before"],
           "bits_per_weight": r.get("bits_per_weight"), "relative_bops": r.get("relative_bops"),
           "cost_factor": r.get("cost_factor"), "model_bytes": r.get("model_bytes"),
           "float_model_bytes": r.get("float_model_bytes"), "seconds": secs,
           "mean_relative_error": sum(errs) / len(errs) if errs else None,
           "notes": [{"node": l.get("node"), "note": l["note"]} for l in layers if l.get("note")]}
    # The per-layer table only for the rows the doc's per-layer section and the K = 1 check read (the work
    # folder's JSON of each run has it for every row).
    if c["method"] in ("powerquant", "ternary-rtn", "tquant", "mquant") or c["order"] == 1 or \
            (c["method"] == "rtn" and c["wbits"] == 4):
        row["layers"] = [{k: l.get(k) for k in ["node", "relative_error", "exponent", "kurtosis", "note"] if k in l}
                         for l in layers]
    return row


def run_zoo(pare, args, work, results):
    n = args.eval_count
    data = f"fmnist:test:{n}"
    export_keys = {export_key(c) for c in export_configs()}
    for m in args.models:
        model = os.path.join(ROOT, "examples/zoo", f"fmnist-{m}.onnx")
        d = os.path.join(work, f"pare-{pare.id}", "zoo", m)
        os.makedirs(d, exist_ok=True)
        rows, skipped, failed, exports = [], [], [], []
        for c in zoo_grid(args.quick, pare.have):
            why = pare.missing(c)
            if why:
                skipped.append({"config": label(c), "key": key(c), "reason": why})
                continue
            base = os.path.join(d, f"{key(c)}-a{args.abits}-n{n}")
            j, pkg, ej = base + ".json", base + ".pare", base + ".eval.json"
            export = key(c) in export_keys
            cmd = ["quantize", model] + recipe_args(work, c, args.abits)
            if args.abits > 0 and c["method"] == "rtn":
                cmd += ["--calib", args.calib]
            cmd += ["--eval", data] + pare.thread_flags() + ["--json", j, "--quiet"]
            if export:
                cmd[-3:-3] = ["--out", pkg]
            shown = [x for x in cmd if x not in (j, pkg)]
            meta = base + ".meta.json"
            if not (os.path.exists(j) and (not export or os.path.exists(pkg)) and os.path.exists(meta)):
                rm(j, pkg, ej, meta)
                ok, secs, out = pare.run(cmd)
                if not ok:
                    failed.append({"config": label(c), "key": key(c), "command": command_string(shown),
                                   "error": out})
                    print(f"{m:12s} {label(c):40s} FAILED: {first_error(out)}", flush=True)
                    continue
                results_json.write_json(meta, {"seconds": secs}, indent=None, final_newline=False)
            secs = load(meta)["seconds"]
            row = zoo_row(m, c, load(j), shown, secs)
            rows.append(row)
            bops = row["relative_bops"]
            print(f"{m:12s} {label(c):40s} top-1 {row['top1']:6.2f} %  {row['bits_per_weight']:6.3f} bits/weight"
                  f"  BOPs {'-' if bops is None else f'{bops:.3f}'}  {secs:5.1f} s", flush=True)
            if export:
                if not os.path.exists(ej):
                    ecmd = ["eval", pkg, "--data", data] + pare.thread_flags() + ["--json", ej]
                    ok, _, out = pare.run(ecmd)
                    if not ok:
                        exports.append({"model": m, "method": family(c), "config": label(c), "error": out,
                                        "quantize_top1": row["top1"], "exact": False})
                        print(f"{m:12s} pare eval {rel(pkg)} FAILED: {first_error(out)}", flush=True)
                        continue
                e = load(ej)
                exports.append({"model": m, "method": family(c), "config": label(c), "quantize_top1": row["top1"],
                                "eval_top1": e["top1"], "exact": e["top1"] == row["top1"],
                                "package_bytes": os.path.getsize(pkg),
                                "command": command_string(["eval", rel(pkg), "--data", data])})
                print(f"{m:12s} pare eval {os.path.basename(pkg)}: top-1 {e['top1']:.2f} % "
                      f"({'exact' if e['top1'] == row['top1'] else 'DIFFERS'})", flush=True)
        for s in skipped:
            print(f"{m:12s} {s['config']:40s} skipped: {s['reason']}", flush=True)
        results["zoo"][m] = {"fp32_top1": rows[0]["fp32_top1"] if rows else None, "rows": rows,
                             "skipped": skipped, "failed": failed}
        results["exports"] += exports


# ---------------------------------------------------------------------------------------------------------------
# brown-llama


def llm_text(pare, args, work):
    """The --text argument: brown:heldout, or its first --llm-words words (whole lines) as a file."""
    if not args.llm_words:
        return "brown:heldout"
    full = os.path.join(work, "text", "heldout.txt")
    if not os.path.exists(full):
        ok, _, out = pare.run(["text", "brown", "--split", "heldout", "--out", full])
        if not ok:
            sys.exit("pare text brown failed:\n" + out)
    sub = os.path.join(work, "text", f"heldout-{args.llm_words}w.txt")
    if not os.path.exists(sub):
        words, lines = 0, []
        with open(full, encoding="utf-8") as f:
            for line in f:
                if words >= args.llm_words:
                    break
                lines.append(line)
                words += len(line.split())
        with open(sub, "w", encoding="utf-8") as f:
            f.writelines(lines)
    return "text:" + sub


def run_llm(pare, args, work, results):
    d = os.path.join(work, f"pare-{pare.id}", "llm")
    os.makedirs(d, exist_ok=True)
    os.makedirs(os.path.join(work, "text"), exist_ok=True)
    model = os.path.join(ROOT, "examples/zoo", LLM)
    text = llm_text(pare, args, work)
    tag = "full" if not args.llm_words else f"{args.llm_words}w"
    ref = os.path.join(d, f"ref-{tag}-ctx{args.ctx}.safetensors")
    refj = os.path.join(d, f"ref-{tag}-ctx{args.ctx}.json")
    if not (os.path.exists(ref) and os.path.exists(refj)):
        rm(ref, refj)
        ok, secs, out = pare.run(["ppl", model, "--text", text, "--ctx", str(args.ctx), "--save-ref", ref, "--json",
                                  refj, "--quiet"] + pare.thread_flags())
        if not ok:
            sys.exit("pare ppl --save-ref failed:\n" + out)
    r = load(refj)
    info = {"model": rel(model), "text": rel(text.replace("text:", "")) if text.startswith("text:") else text,
            "text_tokens": r.get("text_tokens"), "ctx": args.ctx, "scored_tokens": r.get("scored_tokens"),
            "reference": {"perplexity": r["perplexity"], "linear_bits_per_weight":
                          r["size"]["linear_bits_per_weight"], "file_bits_per_weight": r["size"]["file_bits_per_weight"],
                          "seconds": r.get("seconds"),
                          "command": command_string(["ppl", model, "--text", text, "--ctx", str(args.ctx),
                                                     "--save-ref", "REF.safetensors"])},
            "rows": [], "failed": [], "skipped": []}
    print(f"{LLM:12s} fp16 perplexity {r['perplexity']:.4f} on {info['text']} ({r.get('scored_tokens')} tokens)",
          flush=True)

    def failed(c, shown, out, what):
        info["failed"].append({"config": label(c), "key": key(c), "command": command_string(shown), "error": out})
        print(f"{LLM:12s} {label(c):40s} {what}: {first_error(out)}", flush=True)

    for c in llm_grid(args.quick):
        why = pare.missing(c)
        if why:
            info["skipped"].append({"config": label(c), "key": key(c), "reason": why})
            print(f"{LLM:12s} {label(c):40s} {c['granularity']:9s} skipped: {why}", flush=True)
            continue
        base = os.path.join(d, f"{key(c)}-{tag}")
        q, pkg, p = base + ".quantize.json", base + ".pare", base + ".ppl.json"
        qcmd = ["quantize", model] + recipe_args(work, c, 0) + pare.thread_flags() + ["--out", pkg, "--json", q,
                                                                        "--quiet"]
        pcmd = ["ppl", pkg, "--ref", ref, "--text", text, "--ctx", str(args.ctx)] + pare.thread_flags() + \
            ["--json", p, "--quiet"]
        shown_q = [x for x in qcmd if x not in (q,)]
        shown_p = [x for x in pcmd if x not in (p,)]
        if not os.path.exists(p):
            if not os.path.exists(q) or not os.path.exists(pkg):
                rm(q, pkg, pkg + ".partial")
                ok, _, out = pare.run(qcmd)
                if not ok:
                    failed(c, shown_q, out, f"{c['granularity']:9s} FAILED")
                    continue
            ok, psecs, out = pare.run(pcmd)
            if not ok:
                failed(c, shown_p, out, "pare ppl FAILED")
                continue
            rm(pkg)  # the package is not needed again (its size is in the JSON)
        qj, pj = load(q), load(p)
        k = pj.get("kld", {})
        errs = [w["relative_error"] for w in qj.get("layers", qj.get("weights", [])) if w.get("quantized")]
        row = {"model": LLM, "config": label(c), "family": family(c), "key": key(c), **c.fields(),
               "command": command_string(shown_q), "ppl_command": command_string(shown_p),
               "perplexity": pj["perplexity"], "kld_mean": k.get("mean"), "kld_stderr": k.get("stderr"),
               "top1_same_percent": k.get("top1_same_percent"), "ppl_ratio": k.get("ppl_ratio"),
               "bits_per_weight": qj.get("bits_per_weight", qj.get("quantized_bits_per_weight")),
               "file_bits_per_weight": qj.get("file_bits_per_weight"),
               "relative_bops": qj.get("relative_bops"), "cost_factor": qj.get("cost_factor"),
               "seconds": qj.get("seconds"), "ppl_seconds": pj.get("seconds"),
               "mean_relative_error": sum(errs) / len(errs) if errs else None,
               "notes": [{"node": w.get("weight", w.get("name")), "note": w["note"]} for w in qj.get("layers", qj.get("weights", []))
                         if w.get("quantized") and w.get("note")]}
        info["rows"].append(row)
        print(f"{LLM:12s} {label(c):40s} {c['granularity']:9s} ppl {row['perplexity']:10.3f}  KLD "
              f"{fmt(row['kld_mean'], '.4f')}  {row['bits_per_weight']:.3f} bits/weight  quantize "
              f"{fmt(row['seconds'], '.1f')} s", flush=True)
    results["llm"] = info


# ---------------------------------------------------------------------------------------------------------------
# Claims


def interpolate(points, x):
    """Linear interpolation of y at x along points [(x, y)] sorted by x; None outside their range."""
    pts = sorted(points)
    if not pts or x < pts[0][0] - 1e-9 or x > pts[-1][0] + 1e-9:
        return None
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 - 1e-9 <= x <= x1 + 1e-9:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return pts[0][1]


def verdict(wins, total):
    if total == 0:
        return "not measured"
    if wins == total:
        return "holds"
    if wins == 0:
        return "does not hold"
    return f"holds in {wins} of {total} points only"


def testbeds(results):
    """(name, rows, metric, higher_is_better) for each zoo model and each LLM granularity."""
    out = []
    for m, z in results.get("zoo", {}).items():
        out.append((m, z["rows"], "top1", True))
    llm = results.get("llm")
    if llm:
        for gran in sorted({r["granularity"] for r in llm["rows"]}, reverse=True):
            out.append((f"{LLM} {gran}", [r for r in llm["rows"] if r["granularity"] == gran], "perplexity", False))
    return out


def claims(results):
    c = {}
    eval_count = int(results.get("eval", "fmnist:test:10000").split(":")[-1])
    # (a) REx (and PIPE) against the RTN curve at the same bits/weight (and the same relative BOPs).
    a = {"rule": "for each REx point, RTN's metric linearly interpolated at the same bits/weight along the RTN "
                 "curve (bits 8, 6, 4, 3, 2); points outside the curve's range are listed but not counted; a "
                 "difference under half a test image (top-1) or 0.01 % (perplexity) is a tie",
         "points": []}
    for name, rows, metric, higher in testbeds(results):
        rtn = [r for r in rows if r["method"] == "rtn"]
        for xkey in ["bits_per_weight", "relative_bops"]:
            curve = [(r[xkey], r[metric]) for r in rtn if r.get(xkey) is not None]
            for r in rows:
                if r["family"] not in ("REx", "PIPE") or r.get(xkey) is None or r.get("order") == 1:
                    continue
                y = interpolate(curve, r[xkey])
                p = {"testbed": name, "config": r["config"], "family": r["family"], "x": xkey, "at": r[xkey],
                     "metric": metric, "value": r[metric], "rtn_at_same_x": y}
                if y is not None:
                    # A tie: closer than half an image (top-1) or 0.01 % of the perplexity.
                    tol = 50.0 / eval_count if higher else 1e-4 * y
                    p["tie"] = abs(r[metric] - y) < tol
                    p["beats"] = not p["tie"] and (r[metric] > y if higher else r[metric] < y)
                a["points"].append(p)
    for fam in ["REx", "PIPE"]:
        for xkey in ["bits_per_weight", "relative_bops"]:
            pts = [p for p in a["points"] if p["family"] == fam and p["x"] == xkey and "beats" in p]
            a[f"{fam}_{xkey}"] = {"beats": sum(p["beats"] for p in pts), "ties": sum(p["tie"] for p in pts),
                                  "compared": len(pts), "outside_rtn_range":
                                  sum(1 for p in a["points"] if p["family"] == fam and p["x"] == xkey
                                      and "beats" not in p),
                                  "verdict": verdict(sum(p["beats"] for p in pts), len(pts))}
    c["a_rex_vs_rtn"] = a
    # (b) Geometric decay of the weight error with K (γ = 1; K = 1 is RTN).
    b = {"compared": "mean over quantized layers of relative_error = ||W - Ŵ||² / ||W||² (squared L2); if every "
                     "weight's error shrinks by r per order, this ratio shrinks by r², so each measured ratio is "
                     "put next to r² (and its square root next to r)",
         "rule": "holds when every successive ratio above the float32 floor is at least r²/4 (the error shrinks at "
                 "least r/2 per order, within a factor 2 of the bound's rate)", "rows": []}
    for name, rows, metric, higher in testbeds(results):
        for bits in [8, 6, 4, 3, 2]:
            n = 2 ** (bits - 1) - 1
            r_pred = 2 * n
            errs = {}
            for r in rows:
                if r["wbits"] != bits or r.get("mean_relative_error") is None:
                    continue
                if r["method"] == "rtn" or (r["method"] == "ternary-rtn" and 1 not in errs):
                    errs[1] = r["mean_relative_error"]
                elif (r["method"] == "rex" and (r["ensemble"] or 1) == 1 and r["sparsity"] == 1.0
                      and not r["operator"]):
                    errs.setdefault(r["order"], r["mean_relative_error"])
            if len(errs) < 2:
                continue
            ks = sorted(errs)
            steps = []
            for k0, k1 in zip(ks, ks[1:]):
                if k1 != k0 + 1:
                    continue
                e0, e1 = errs[k0], errs[k1]
                floor = e1 < FLOAT_FLOOR
                ratio = e0 / e1 if e1 > 0 else math.inf
                steps.append({"from_K": k0, "to_K": k1, "ratio": ratio, "sqrt_ratio": math.sqrt(ratio),
                              "float32_floor": floor})
            counted = [s for s in steps if not s["float32_floor"]]
            ok = bool(counted) and all(s["ratio"] >= r_pred ** 2 / 4 for s in counted)
            b["rows"].append({"testbed": name, "bits": bits, "r": r_pred, "r2": r_pred ** 2,
                              "mean_relative_error": {str(k): errs[k] for k in ks}, "steps": steps,
                              "verdict": "holds" if ok else ("not measured" if not counted else "does not hold")})
    c["b_geometric_decay"] = b
    # (c) PowerQuant against RTN at 4 and 3 bits.
    pq = {"rows": []}
    for name, rows, metric, higher in testbeds(results):
        for bits in [4, 3]:
            rt = [r for r in rows if r["method"] == "rtn" and r["wbits"] == bits]
            pw = [r for r in rows if r["method"] == "powerquant" and r["wbits"] == bits and not r["exponent"]]
            if rt and pw:
                better = pw[0][metric] > rt[0][metric] if higher else pw[0][metric] < rt[0][metric]
                pq["rows"].append({"testbed": name, "bits": bits, "metric": metric, "rtn": rt[0][metric],
                                   "powerquant": pw[0][metric], "rtn_bpw": rt[0]["bits_per_weight"],
                                   "powerquant_bpw": pw[0]["bits_per_weight"], "beats": better})
    pq["verdict"] = verdict(sum(r["beats"] for r in pq["rows"]), len(pq["rows"]))
    c["c_powerquant_vs_rtn"] = pq
    # (d) TQuant / MQuant against ternary RTN.
    t = {"wide_margin": f"at least {WIDE_MARGIN_POINTS:g} top-1 points (zoo); perplexity at most "
                        f"{WIDE_MARGIN_PPL:g}x ternary RTN's (LLM)", "rows": []}
    for name, rows, metric, higher in testbeds(results):
        base = [r for r in rows if r["method"] == "ternary-rtn"]
        if not base:
            continue
        for op in ["tquant", "mquant"]:
            o = [r for r in rows if r["method"] == op]
            if not o:
                continue
            v, b0 = o[0][metric], base[0][metric]
            if higher:
                better, wide, margin = v > b0, v - b0 >= WIDE_MARGIN_POINTS, v - b0
            else:
                better, wide, margin = v < b0, v <= WIDE_MARGIN_PPL * b0, v / b0
            t["rows"].append({"testbed": name, "operator": op, "metric": metric, "ternary_rtn": b0, "value": v,
                              "margin": margin, "beats": better, "wide": wide})
    for op in ["tquant", "mquant"]:
        rs = [r for r in t["rows"] if r["operator"] == op]
        t[op] = {"beats": sum(r["beats"] for r in rs), "wide": sum(r["wide"] for r in rs), "compared": len(rs),
                 "verdict": verdict(sum(r["wide"] for r in rs), len(rs))}
    c["d_ternary_operators"] = t
    # REx K = 1 against RTN at the same bits: must be identical.
    k1 = []
    for m, z in results.get("zoo", {}).items():
        for r in z["rows"]:
            if r["method"] == "rex" and r["order"] == 1:
                rt = [x for x in z["rows"] if x["method"] == "rtn" and x["wbits"] == r["wbits"]]
                if rt:
                    same_err = [l.get("relative_error") for l in r.get("layers", [])] == \
                        [l.get("relative_error") for l in rt[0].get("layers", [])]
                    k1.append({"model": m, "bits": r["wbits"], "rex_top1": r["top1"], "rtn_top1": rt[0]["top1"],
                               "rex_bpw": r["bits_per_weight"], "rtn_bpw": rt[0]["bits_per_weight"],
                               "same_layer_errors": same_err,
                               "identical": same_err and r["top1"] == rt[0]["top1"]
                               and r["bits_per_weight"] == rt[0]["bits_per_weight"]})
    c["rex_k1_is_rtn"] = k1
    return c


# ---------------------------------------------------------------------------------------------------------------
# SVG


def write_plots(results, doc_dir, source):
    paths = []
    fam_order = list(FAMILY_STYLE)
    for m, z in results.get("zoo", {}).items():
        rows = z["rows"]
        if not rows:
            continue
        pts = [(r["family"], r["bits_per_weight"], r["top1"], r["config"]) for r in rows]
        panel = {"title": f"fmnist-{m}: top-1 vs bits/weight", "xlabel": "bits per weight (quantized layers)",
                 "ylabel": f"top-1 (%), {results['eval']}", "points": pts, "line": "RTN", "x_unit": "bits/weight",
                 "hline": (z["fp32_top1"], f"fp32 {z['fp32_top1']:.2f} %")}
        path = os.path.join(doc_dir, f"data_free_{m}.svg")
        svg.write_svg(path, [panel], [f for f in fam_order if any(q[0] == f for q in pts)],
                      f"weights only (abits {results['abits']}), per-channel; source {source}; RTN line: bits 8..2",
                      FAMILY_STYLE, "method")
        paths.append(path)
    llm = results.get("llm")
    if llm and llm["rows"]:
        panels, fams = [], set()
        for gran in sorted({r["granularity"] for r in llm["rows"]}, reverse=True):
            rows = [r for r in llm["rows"] if r["granularity"] == gran]
            pts = [(r["family"], r["bits_per_weight"], r["perplexity"], r["config"]) for r in rows]
            fams |= {q[0] for q in pts}
            panels.append({"title": f"{LLM}, {gran}: perplexity vs bits/weight", "xlabel":
                           "bits per weight (block projections)", "ylabel": "perplexity (log scale)",
                           "points": pts, "logy": True, "line": "RTN", "x_unit": "bits/weight",
                           "hline": (llm["reference"]["perplexity"], f"fp16 {llm['reference']['perplexity']:.2f}")})
        path = os.path.join(doc_dir, f"data_free_{LLM}.svg")
        svg.write_svg(path, panels, [f for f in fam_order if f in fams],
                      f"weights only; ctx {llm['ctx']}, {llm['text']}; source {source}", FAMILY_STYLE, "method")
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------------------------------------------
# Markdown


def write_doc(path, results, speed, source, speed_source, svgs):
    lines = ["# Data-free quantization: REx / PIPE, PowerQuant, TQuant / MQuant, DFQ", ""]
    if results:
        lines += [f"Generated by `/usr/bin/python3 {results['command']}` on {results['date']} from `{source}`"
                  f"{' and `' + speed_source + '`' if speed else ''}; do not edit by hand. pare at "
                  f"{results['pare_commit']}. Zoo: Fashion-MNIST top-1 (%) on `{results['eval']}`, weights "
                  f"quantized per output channel, activations {'float' if results['abits'] == 0 else str(results['abits']) + ' bits'}"
                  ", every layer quantized, no data seen by any method but RTN's activation calibration (none "
                  "when weights only). *bits/weight* counts codes and scales over the quantized layers (all REx "
                  "terms included); *rel. BOPs* = Σ MACs·wbits·cost / Σ MACs·8 (1.0 = the same model at W8); "
                  "*cost* = REx's storage/compute factor 1 + Σγ; *seconds*: wall time of the whole `pare quantize` run "
                  "(load, quantize, evaluate float and quantized). Each table is sorted by bits/weight.", ""]
        lines += ["Plots: " + ", ".join(f"[{os.path.basename(s)}]({os.path.basename(s)})" for s in svgs), ""]
        for s in svgs:
            lines += [f"![{os.path.basename(s)}]({os.path.basename(s)})", ""]
        for m, z in results.get("zoo", {}).items():
            lines += [f"## fmnist-{m} (fp32 {fmt(z['fp32_top1'], '.2f')} %)", ""]
            lines += table(["config", "method", "bits/weight", "rel. BOPs", "cost", "top-1", "Δ fp32", "seconds"],
                           [[r["config"], r["family"], f"{r['bits_per_weight']:.3f}", fmt(r["relative_bops"], ".3f"),
                             fmt(r["cost_factor"], ".2f"), f"{r['top1']:.2f}", f"{r['top1'] - r['fp32_top1']:+.2f}",
                             f"{r['seconds']:.1f}"]
                            for r in sorted(z["rows"], key=lambda r: (r["bits_per_weight"], r["config"]))])
            lines.append("")
            if z["failed"]:
                lines += ["Failed: " + "; ".join(f"{f['config']} (`{first_error(f['error'])}`)"
                                                 for f in z["failed"]), ""]
            if z["skipped"]:
                lines += ["Skipped (not in this pare): " + "; ".join(f"{s['config']} ({s['reason']})"
                                                                   for s in z["skipped"]), ""]
            lines += layer_section(m, z["rows"])
        llm = results.get("llm")
        if llm:
            ref = llm["reference"]
            lines += [f"## {LLM} (fp16 perplexity {ref['perplexity']:.3f}, {ref['linear_bits_per_weight']:.2f} / "
                      f"{ref['file_bits_per_weight']:.2f} bits/weight)", "",
                      f"Weights only; `pare ppl OUT.pare --ref REF --text {llm['text']} --ctx {llm['ctx']}` "
                      f"({llm['scored_tokens']} scored tokens), the reference stored once from the fp16 model "
                      f"(`{ref['command']}`). KLD: mean KL(fp16 ‖ quantized) per scored token (nats); top-1: "
                      "agreement of the arg-max token with fp16. bits/weight two ways: block projections "
                      "(what is quantized) and the whole file (embeddings, head, norms, scales).", ""]
            for gran in sorted({r["granularity"] for r in llm["rows"]}, reverse=True):
                rows = sorted([r for r in llm["rows"] if r["granularity"] == gran],
                              key=lambda r: (r["bits_per_weight"], r["config"]))
                lines += [f"### {gran}", ""]
                lines += table(["config", "method", "bits/weight (proj.)", "bits/weight (file)", "rel. BOPs", "cost",
                                "perplexity", "ppl ratio", "KLD", "top-1 agree %", "quantize s"],
                               [[r["config"], r["family"], f"{r['bits_per_weight']:.3f}",
                                 fmt(r["file_bits_per_weight"], ".3f"), fmt(r["relative_bops"], ".3f"),
                                 fmt(r["cost_factor"], ".2f"), f"{r['perplexity']:.3f}", fmt(r["ppl_ratio"], ".4f"),
                                 fmt(r["kld_mean"], ".4f"), fmt(r["top1_same_percent"], ".2f"),
                                 fmt(r["seconds"], ".1f")] for r in rows])
                lines.append("")
            if llm["failed"]:
                lines += ["Failed: " + "; ".join(f"{f['config']} {f['key']} (`{first_error(f['error'])}`)"
                                                 for f in llm["failed"]), ""]
            if llm.get("skipped"):
                lines += ["Skipped (not in this pare): " + "; ".join(f"{s['key']} ({s['reason']})"
                                                                   for s in llm["skipped"]), ""]
        lines += export_section(results.get("exports", []))
        lines += claims_section(results["claims"])
    if speed:
        lines += speed_section(speed, speed_source)
    write_markdown(path, lines)


def layer_section(m, rows):
    """Per-layer kurtosis, PowerQuant exponents, best ternary operator, and documented fallbacks."""
    out = []
    pq = {r["wbits"]: r for r in rows if r["method"] == "powerquant" and not r["exponent"]}
    tern = {r["method"]: r for r in rows if r["method"] in ("ternary-rtn", "tquant", "mquant")}
    for r in rows:
        r.setdefault("layers", [])
    any_layers = next((r["layers"] for r in rows if r["layers"]), [])
    has_k = any(l.get("kurtosis") is not None for r in rows for l in r["layers"])
    has_a = any(l.get("exponent") is not None for r in pq.values() for l in r["layers"])
    if any_layers and (has_k or has_a or len(tern) > 1):
        cols = ["layer"] + (["kurtosis"] if has_k else []) + [f"PowerQuant a* W{b}" for b in sorted(pq, reverse=True)
                                                               if has_a] + \
            ([f"rel. error {t}" for t in ["ternary-rtn", "tquant", "mquant"] if t in tern] + ["best ternary"]
             if len(tern) > 1 else [])
        out += [f"Per layer (fmnist-{m}): kurtosis of the weights, PowerQuant's exponent per layer, relative "
                "squared error of each ternary operator and the one with the lowest.", ""]
        body = []
        for i, l in enumerate(any_layers):
            cells = [l.get("node", "?")]
            if has_k:
                ks = [r["layers"][i].get("kurtosis") for r in rows if len(r["layers"]) > i and
                      r["layers"][i].get("kurtosis") is not None]
                cells.append(fmt(ks[0] if ks else None, ".2f"))
            if has_a:
                for b in sorted(pq, reverse=True):
                    ls = pq[b]["layers"]
                    cells.append(fmt(ls[i].get("exponent") if len(ls) > i else None, ".3f"))
            if len(tern) > 1:
                errs = {t: tern[t]["layers"][i].get("relative_error") for t in ["ternary-rtn", "tquant", "mquant"]
                        if t in tern and len(tern[t]["layers"]) > i}
                cells += [fmt(errs.get(t), ".3e") for t in ["ternary-rtn", "tquant", "mquant"] if t in tern]
                valid = {t: e for t, e in errs.items() if e is not None}
                cells.append(min(valid, key=valid.get) if valid else "–")
            body.append(cells)
        out += table(cols, body) + [""]
    notes = {}
    for r in rows:
        for l in r.get("notes", []):
            notes.setdefault((r["family"], l.get("node"), l["note"]), []).append(r["config"])
    if notes:
        out += [f"Layers where a method fell back to a documented default (fmnist-{m}):", ""]
        out += table(["method", "layer", "note", "configs"],
                     [[fam, node, note, len(cfgs)] for (fam, node, note), cfgs in sorted(notes.items())]) + [""]
    return out


def export_section(exports):
    if not exports:
        return []
    out = ["## `.pare` export", "",
           "One configuration per method and model quantized with `--out X.pare`, then `pare eval X.pare --data "
           "SAME`: the top-1 must equal the one `pare quantize` measured, exactly.", ""]
    out += table(["model", "method", "config", "quantize top-1", "pare eval top-1", "exact", "package bytes"],
                 [[e["model"], e["method"], e["config"], f"{e['quantize_top1']:.2f}",
                   fmt(e.get("eval_top1"), ".2f", "failed"), "yes" if e["exact"] else "**no**",
                   fmt(e.get("package_bytes"), "d")] for e in exports])
    n_exact = sum(e["exact"] for e in exports)
    out += ["", f"Exact in {n_exact} of {len(exports)} exports.", ""]
    return out


def claims_section(c):
    out = ["## Claims", "", "Computed by the script from the numbers above; a claim that does not hold is a result "
           "too.", ""]
    a = c["a_rex_vs_rtn"]
    s = a["REx_bits_per_weight"]
    out += [f"**(a) REx beats RTN at equal bits/weight: {s['verdict']}** (REx above the interpolated RTN curve in "
            f"{s['beats']} of {s['compared']} points, {s['ties']} ties; {s['outside_rtn_range']} points outside the "
            f"RTN range not counted). Rule: {a['rule']}."]
    sb = a["REx_relative_bops"]
    if sb["compared"]:
        out.append(f"At equal relative BOPs instead of bits/weight: {sb['verdict']} (REx above RTN in {sb['beats']} "
                   f"of {sb['compared']} points, {sb['ties']} ties).")
    sp = a["PIPE_bits_per_weight"]
    if sp["compared"]:
        out.append(f"PIPE (M = 2) at equal bits/weight: {sp['verdict']} (above RTN in {sp['beats']} of "
                   f"{sp['compared']} points, {sp['ties']} ties).")
    rows = []
    for p in a["points"]:
        if p["x"] != "bits_per_weight":
            continue
        y = p["rtn_at_same_x"]
        rows.append([p["testbed"], p["config"], f"{p['at']:.3f}", f"{p['value']:.3f}", fmt(y, ".3f", "outside"),
                     fmt(None if y is None else p["value"] - y, "+.3f"),
                     "–" if "beats" not in p else "yes" if p["beats"] else "tie" if p["tie"] else "no"])
    out += [""] + table(["testbed", "config", "bits/weight", "value", "RTN at same bits/weight", "Δ", "beats"], rows)
    b = c["b_geometric_decay"]
    vs = [r["verdict"] for r in b["rows"] if r["verdict"] != "not measured"]
    overall = verdict(sum(v == "holds" for v in vs), len(vs))
    out += ["", f"**(b) REx's weight error falls geometrically with K: {overall}** ({sum(v == 'holds' for v in vs)} "
            f"of {len(vs)} testbed/bit-width pairs). Measured: {b['compared']}. Predicted per-order factor "
            "r = 2n = 2(2^(b-1) − 1) in ∞-norm (the spec's bound); rule: "
            f"{b['rule']}. Ratios where the smaller error is below {FLOAT_FLOOR:g} (float32 resolution of the "
            "error computation) are shown but not counted. γ = 1; K = 1 is RTN.", ""]
    rows = []
    for r in b["rows"]:
        errs = ", ".join(f"{r['mean_relative_error'][k]:.3e}" for k in sorted(r["mean_relative_error"], key=int))
        ratios = ", ".join(f"{s['ratio']:.3g}{'*' if s['float32_floor'] else ''}" for s in r["steps"])
        roots = ", ".join(f"{s['sqrt_ratio']:.3g}" for s in r["steps"])
        rows.append([r["testbed"], r["bits"], errs, ratios, roots, r["r"], r["r2"], r["verdict"]])
    out += table(["testbed", "bits", "mean rel. sq. error K=1..4", "ratios K→K+1", "√ratio", "r", "r²", "verdict"],
                 rows) + [""]
    out.append(("(* below the float32 floor.) " if any(s["float32_floor"] for r in b["rows"] for s in r["steps"])
                else "") + "The ∞-norm bound itself is checked per tensor by the unit tests; the "
               "table compares the mean squared error, which the bound does not constrain exactly.")
    pq = c["c_powerquant_vs_rtn"]
    out += ["", f"**(c) PowerQuant beats uniform RTN at 4 and 3 bits: {pq['verdict']}**", ""]
    out += table(["testbed", "bits", "metric", "RTN", "PowerQuant", "RTN bits/weight", "PowerQuant bits/weight",
                  "beats"],
                 [[r["testbed"], r["bits"], r["metric"], f"{r['rtn']:.3f}", f"{r['powerquant']:.3f}",
                   fmt(r["rtn_bpw"], ".3f"), fmt(r["powerquant_bpw"], ".3f"), "yes" if r["beats"] else "no"]
                  for r in pq["rows"]])
    t = c["d_ternary_operators"]
    out += ["", f"**(d) TQuant / MQuant beat plain ternary rounding by a wide margin** ({t['wide_margin']}): "
            f"TQuant {t['tquant']['verdict']} ({t['tquant']['wide']} wide, {t['tquant']['beats']} better of "
            f"{t['tquant']['compared']}); MQuant {t['mquant']['verdict']} ({t['mquant']['wide']} wide, "
            f"{t['mquant']['beats']} better of {t['mquant']['compared']}).", ""]
    out += table(["testbed", "operator", "metric", "ternary RTN", "operator", "margin", "better", "wide"],
                 [[r["testbed"], r["operator"], r["metric"], f"{r['ternary_rtn']:.3f}", f"{r['value']:.3f}",
                   f"{r['margin']:+.2f} points" if r["metric"] == "top1" else f"{r['margin']:.3f}x",
                   "yes" if r["beats"] else "no", "yes" if r["wide"] else "no"] for r in t["rows"]])
    if c["rex_k1_is_rtn"]:
        out += ["", "**REx with K = 1 is RTN:** " + "; ".join(
            f"{k['model']} W{k['bits']}: top-1 {k['rex_top1']:.2f} vs {k['rtn_top1']:.2f}, bits/weight "
            f"{k['rex_bpw']:.3f} vs {k['rtn_bpw']:.3f}, per-layer errors {'equal' if k['same_layer_errors'] else 'differ'}"
            f" → {'identical' if k['identical'] else '**not identical**'}" for k in c["rex_k1_is_rtn"])]
    out.append("")
    return out


def speed_section(s, source):
    out = ["## Speed", "", f"From `{source}` ({s['date']}, {s['machine']}, {s['cpus']} CPUs). `pare quantize` "
           "without evaluation, writing a .pare package; wall time and peak RSS from "
           f"{s['timer']}. Threads: {s['threads_label']}.", ""]
    rows = []
    for r in s["rows"]:
        if "error" in r:
            rows.append([r["model"], r["method"], r["config"], r["threads"], "failed", "–", "–", "–"])
            continue
        mb = r["out_bytes"] / 1e6 if r.get("out_bytes") else None
        rows.append([r["model"], r["method"], r["config"], r["threads"], f"{r['wall_s']:.2f}",
                     fmt(r.get("pare_seconds"), ".2f"), f"{r['peak_rss_bytes'] / 1e6:.0f}", fmt(mb, ".2f")])
    out += table(["model", "method", "config", "threads", "wall s", "pare's own s", "peak RSS MB", "package MB"],
                 rows) + [""]
    big = [r for r in s["rows"] if r["model"].startswith("random") and "error" not in r]
    base = next((r for r in big if r["method"] == "RTN"), None)
    if base:
        out.append(f"Against RTN on the {base['model']} Llama (1 thread): " + "; ".join(
            f"{r['config']} {r['wall_s'] / base['wall_s']:.2f}x time, "
            f"{r['peak_rss_bytes'] / base['peak_rss_bytes']:.2f}x peak RSS"
            for r in big if r is not base and r["model"] == base["model"]) + ".")
        out.append("")
    return out


# ---------------------------------------------------------------------------------------------------------------
# Speed


def run_speed(pare, args, work):
    rows = []
    tmp = tempfile.mkdtemp(prefix="pare-data-free-speed-")

    def one(model_name, model, c, threads):
        why = pare.missing(c.with_granularity("channel"))
        row = {"model": model_name, "method": family(c), "config": label(c) + (
            f" {c['granularity']}" if c["granularity"] != "channel" else ""), "key": key(c),
            "threads": threads if threads is not None else "default"}
        if why:
            row["error"] = why
            print(f"{model_name:14s} {row['config']:44s} skipped: {why}", flush=True)
            rows.append(row)
            return
        out, js = os.path.join(tmp, "out.pare"), os.path.join(tmp, "out.json")
        rm(out, out + ".partial", js)
        cmd = [pare.bin, "quantize", model] + recipe_args(work, c, 0) + ["--out", out, "--json", js, "--quiet"] + \
            (["--threads", str(threads)] if threads is not None else [])
        try:
            wall, rss = timing.wall_and_peak_rss(cmd)
        except SystemExit as e:
            row["error"] = str(e)[-2000:]
            print(f"{model_name:14s} {row['config']:44s} FAILED", flush=True)
            rows.append(row)
            return
        row.update({"command": command_string([x for x in cmd[1:] if x not in (out, js)]), "wall_s": wall,
                    "peak_rss_bytes": rss, "out_bytes": os.path.getsize(out),
                    "pare_seconds": load(js).get("seconds")})  # pare's own time (Llama only), no process start
        rm(out, out + ".partial", js)
        print(f"{model_name:14s} {row['config']:44s} {wall:7.2f} s  {rss / 1e6:7.0f} MB", flush=True)
        rows.append(row)

    try:
        for m in args.models:
            for c in export_configs():
                one(f"fmnist-{m}", os.path.join(ROOT, "examples/zoo", f"fmnist-{m}.onnx"), c, args.threads)
        if args.llm:
            for c in speed_llm_configs():
                one(LLM, os.path.join(ROOT, "examples/zoo", LLM), c, args.threads)
        if args.big:
            # The random TinyLlama-shaped model of bench/llm_quantize_rss.py, in its layout (DIR/model), so that
            # its --keep folder can be reused with --llama-dir.
            model = os.path.join(args.llama_dir, "model")
            if not os.path.exists(os.path.join(model, "model.safetensors")):
                os.makedirs(args.llama_dir, exist_ok=True)
                subprocess.run([pare.bin, "zoo", "llama", "--config", args.llama_config, "--random", "--out", model],
                               check=True)
            for c in speed_big_configs():
                one(f"random {args.llama_config}", model, c, 1)
    finally:
        rm(tmp)
    return {**results_json.header("bench/data_free.py"), "timer": timing.timer_name(),
            "threads_label": (f"{args.threads}" if args.threads is not None else "pare's default (one per core)")
            + f" for the zoo and brown-llama, 1 for the random {args.llama_config}", "rows": rows}


def main():
    ap = argparse.ArgumentParser(description="Data-free quantization benchmark (issue 7); see the comment at the "
                                 "top of bench/data_free.py")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default=",".join(ZOO), help="zoo models (comma-separated)")
    ap.add_argument("--abits", type=int, default=0, help="activation bits for the zoo (0: float, weights only)")
    ap.add_argument("--calib", default="fmnist:train:512:0", help="RTN's activation calibration when --abits > 0")
    ap.add_argument("--eval-count", type=int, help="test images (default 10000, --quick 1000)")
    ap.add_argument("--llm", dest="llm", action="store_true", default=True, help="run the brown-llama part (default)")
    ap.add_argument("--no-llm", dest="llm", action="store_false")
    ap.add_argument("--llm-words", type=int, help="score only the first N words of brown:heldout "
                    "(default: all of it; --quick 15000)")
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--pipe-splits", default=",".join(PIPE_SPLITS), help="PIPE --pipe-split values to measure")
    ap.add_argument("--threads", type=int, help="pare --threads (default: pare's, one per core)")
    ap.add_argument("--quick", action="store_true", help="smoke run: reduced grid, 1000 images, a text subset")
    ap.add_argument("--speed", action="store_true", help="time pare quantize per method instead of the grid")
    ap.add_argument("--no-1b", dest="big", action="store_false", default=True,
                    help="--speed: skip the random 1.1B Llama")
    ap.add_argument("--llama-dir", help="--speed: folder holding (or to hold) the random 1.1B Llama as DIR/model "
                    "(bench/llm_quantize_rss.py --keep DIR is the same layout); default WORK/llama-CONFIG")
    ap.add_argument("--llama-config", default="tinyllama-1.1b", help="--speed: pare zoo llama preset of the "
                    "random model")
    ap.add_argument("--render", action="store_true", help="only rewrite the doc and plots from the JSON files")
    ap.add_argument("--check-configs", action="store_true", help="check that every grid's recipes say what the "
                    "script's flags said before recipes, and follow pare's recipe rules (needs no pare)")
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "bench-data-free"),
                    help="folder for every run's JSON (the cache) and packages")
    ap.add_argument("--out", help="results JSON (default bench/results/data_free.json; --quick: in the work folder)")
    ap.add_argument("--speed-out", help="default bench/results/data_free_speed.json (--quick: in the work folder)")
    ap.add_argument("--doc-dir", help="folder for data_free.md and the SVGs (default docs/results; --quick: the "
                    "work folder)")
    args = ap.parse_args()
    if args.check_configs:
        return check_configs()
    args.models = [m for m in args.models.split(",") if m]
    PIPE_SPLITS[:] = [s for s in args.pipe_splits.split(",") if s]
    if args.eval_count is None:
        args.eval_count = 1000 if args.quick else 10000
    if args.llm_words is None:
        args.llm_words = 15000 if args.quick else 0
    out_base = os.path.join(args.work, "quick") if args.quick else None
    args.out = args.out or (os.path.join(out_base, "data_free.json") if out_base else
                            os.path.join(HERE, "results", "data_free.json"))
    args.speed_out = args.speed_out or (os.path.join(out_base, "data_free_speed.json") if out_base else
                                        os.path.join(HERE, "results", "data_free_speed.json"))
    args.doc_dir = args.doc_dir or (out_base or os.path.join(ROOT, "docs", "results"))
    args.llama_dir = args.llama_dir or os.path.join(args.work, "llama-" + args.llama_config)
    for p in [args.work, os.path.dirname(args.out), os.path.dirname(args.speed_out), args.doc_dir]:
        os.makedirs(p, exist_ok=True)

    results = speed = None
    if not args.render:
        pare = Pare(args)
        if args.speed:
            speed = run_speed(pare, args, args.work)
            results_json.write_json(args.speed_out, speed)
        else:
            results = {**results_json.header("bench/data_free.py"), "eval": f"fmnist:test:{args.eval_count}",
                       "abits": args.abits, "quick": args.quick,
                       "pare_quantize_flags": sorted(pare.have), "zoo": {}, "exports": []}
            run_zoo(pare, args, args.work, results)
            if args.llm:
                run_llm(pare, args, args.work, results)
            results["claims"] = claims(results)
            results_json.write_json(args.out, results)
    if results is None and os.path.exists(args.out):
        results = load(args.out)
        results["claims"] = claims(results)
    if speed is None and os.path.exists(args.speed_out):
        speed = load(args.speed_out)
    source, speed_source = rel(args.out), rel(args.speed_out)
    svgs = write_plots(results, args.doc_dir, source) if results else []
    doc = os.path.join(args.doc_dir, "data_free.md")
    write_doc(doc, results, speed, source, speed_source, svgs)
    print(f"wrote {rel(doc)}" + "".join(f", {rel(s)}" for s in svgs) +
          (f", {rel(args.out)}" if results and not args.render else "") +
          (f", {rel(args.speed_out)}" if args.speed else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
