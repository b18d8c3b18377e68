#!/usr/bin/env python3
# Block reconstruction on the zoo: the engine's axes swept one at a time from its defaults, next to RTN, GPTQ and
# the named presets (AdaRound, BRECQ, QDrop), at W4A4 and W2A8 with the first and last layers at 8 bits.
# Fashion-MNIST test top-1 on all 10,000 images; calibration `--calib` train images. Every run is a `pare
# quantize` command; the JSON is rewritten after each one (`--resume` keeps the runs already there), and
# docs/results/reconstruct.md is generated from it.
#
#   /usr/bin/python3 bench/reconstruct.py [--build-dir build] [--models resnet20] [--iters 200] [--resume]
import argparse
import os
import sys
import tempfile

from benchlib import pare as pare_tool
from benchlib import results as results_json
from benchlib.markdown import fmt, table
from benchlib.markdown import write as write_markdown
from benchlib.paths import ROOT
from benchlib.timing import wall_and_peak_rss

BITS = [("W4A4", 4, 4), ("W2A8", 2, 8)]
BASE = "--variable adaround --lr 0.01"
# (name, method, extra flags). BASE: the flags of the sweep's baseline (later expanded into the argument list).
CONFIGS = [
    ("rtn", "rtn", []),
    ("gptq", "gptq", []),
    ("adaround", "adaround", []),
    ("brecq", "brecq", []),
    ("qdrop", "qdrop", []),
    ("nupes", "nupes", []),
    ("reconstruct (defaults)", "reconstruct", []),
    # The sweep's baseline, QDrop's setting without learned activation scales, then one axis changed at a time.
    ("baseline: adaround V", "reconstruct", [BASE]),
    ("variable latent", "reconstruct", ["--variable", "latent", "--lr", "0.005"]),
    ("variable latent, full space", "reconstruct", ["--variable", "latent", "--lr", "0.005", "--full-space", "true"]),
    ("learned activation scales", "reconstruct", [BASE, "--learn-act", "true"]),
    ("learned weight scales", "reconstruct", [BASE, "--learn-scale", "true"]),
    ("input quantized", "reconstruct", [BASE, "--input", "quantized"]),
    ("input float", "reconstruct", [BASE, "--input", "float"]),
    ("loss fisher", "reconstruct", [BASE, "--loss", "fisher"]),
    ("unit layer", "reconstruct", [BASE, "--unit", "layer"]),
    ("optimizer sgd", "reconstruct", ["--variable", "adaround", "--optimizer", "sgd", "--lr", "1"]),
    ("noise 0.1", "reconstruct", [BASE, "--noise", "0.1"]),
    ("start from gptq", "reconstruct", [BASE, "--init", "gptq"]),
    # 2-bit only: ternary weights {-a, 0, a} from the data-free operators' scales, then learned codes.
    ("ternary, tquant start", "reconstruct", ["--init", "tquant"]),
    ("ternary, mquant start", "reconstruct", ["--init", "mquant"]),
    ("tquant (data-free)", "tquant", []),
]
# Configurations that apply at some bit widths only: ternary starts at 2 bits; the power grid has a shape above.
ONLY_AT = {"ternary, tquant start": {"W2A8"}, "ternary, mquant start": {"W2A8"}, "tquant (data-free)": {"W2A8"},
           "nupes": {"W4A4"}}
DATA_FREE = {"tquant", "mquant", "dfq"}
ENGINE = {"adaround", "brecq", "qdrop", "reconstruct"}


def run(cmd):
    """Wall seconds of one pare command (it stops the bench with its output's tail when it fails)."""
    return wall_and_peak_rss(cmd)[0]


def one(pare, model_name, bits, config, args, tmp):
    (bname, wbits, abits), (cname, method, extra) = bits, config
    model = os.path.join(ROOT, "examples/zoo", f"fmnist-{model_name}.onnx")
    j = os.path.join(tmp, "r.json")
    calib = [] if method in DATA_FREE else ["--calib", args.calib]  # data-free methods refuse data
    cmd = [pare, "quantize", model, "--method", method, "--wbits", str(wbits), "--abits", str(abits),
           "--first-last", "int8", "--eval", args.eval] + calib + [f for e in extra for f in e.split()]
    if method in ENGINE:
        cmd += ["--iters", str(args.iters)]
    secs = run(cmd + ["--quiet", "--json", j])
    r = results_json.read_json(j)
    kept = sum(1 for l in r["layers"] if "start kept" in l.get("note", ""))
    return {"model": model_name, "bits": bname, "config": cname, "method": method, "top1": r["accuracy"]["after"],
            "fp32_top1": r["accuracy"]["before"], "bits_per_weight": r["bits_per_weight"],
            "layers_kept_start": kept, "seconds_with_eval": secs, "command": pare_tool.command_string(cmd)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default="resnet20")
    ap.add_argument("--calib", default="fmnist:train:512:0")
    ap.add_argument("--eval", default="fmnist:test")
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--configs", default="", help="config names separated by ; (default: all)")
    ap.add_argument("--resume", action="store_true", help="keep the runs already in --out")
    ap.add_argument("--doc-only", action="store_true", help="write the page from --out, run nothing")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results/reconstruct.json"))
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs/results/reconstruct.md"))
    args = ap.parse_args()
    if args.doc_only:
        write_doc(results_json.read_json(args.out), args.doc, os.path.relpath(args.out, ROOT))
        return 0
    pare = pare_tool.binary(args.build_dir)
    doc = results_json.header("bench/reconstruct.py")
    doc.update({"calib": args.calib, "eval": args.eval, "iters": args.iters, "runs": []})
    if args.resume and os.path.exists(args.out):
        doc["runs"] = results_json.read_json(args.out)["runs"]
    done = {(r["model"], r["bits"], r["config"]) for r in doc["runs"]}
    wanted = set(args.configs.split(";")) if args.configs else None
    with tempfile.TemporaryDirectory() as tmp:
        for m in args.models.split(","):
            for config in CONFIGS:
                for bits in BITS:
                    if (m, bits[0], config[0]) in done or (wanted and config[0] not in wanted):
                        continue
                    if bits[0] not in ONLY_AT.get(config[0], {bits[0]}):
                        continue
                    row = one(pare, m, bits, config, args, tmp)
                    doc["runs"].append(row)
                    print(f"{m:12s} {bits[0]} {config[0]:30s} top-1 {row['top1']:6.2f} %  "
                          f"({row['seconds_with_eval']:.0f} s)", flush=True)
                    results_json.write_json(args.out, doc)
                    write_doc(doc, args.doc, os.path.relpath(args.out, ROOT))
    return 0


def write_doc(doc, path, source):
    lines = ["# Block reconstruction: the engine's axes, AdaRound, BRECQ, QDrop, GPTQ and RTN", "",
             f"Generated by `/usr/bin/python3 {doc['command']}` on {doc['date']} ({doc['machine']}) from `{source}`; "
             f"do not edit by hand. Fashion-MNIST test top-1 (%) on `{doc['eval']}`, calibration `{doc['calib']}`, "
             f"{doc['iters']} steps per block for every reconstruction, first and last layers at 8 bits, activations "
             f"per tensor. The rows after `baseline` change one axis from it (`{BASE}`, QDrop's setting without "
             "learned activation scales). Method page: "
             "[../methods/reconstruct.md](../methods/reconstruct.md).", ""]
    for m in dict.fromkeys(r["model"] for r in doc["runs"]):
        rows = [r for r in doc["runs"] if r["model"] == m]
        lines += [f"## {m} (fp32 {rows[0]['fp32_top1']:.2f} %)", ""]
        by = {(r["config"], r["bits"]): r for r in rows}
        body = []
        for cname, method, extra in CONFIGS:
            cells = [cname, f"`{method} {' '.join(extra)}`".replace(" `", "`")]
            have = False
            for bname, *_ in BITS:
                r = by.get((cname, bname))
                have |= r is not None
                cells += [fmt(r and r["top1"], ".2f"), fmt(r and r["seconds_with_eval"], ".0f"),
                          fmt(r and r["layers_kept_start"], "d")]
            if have:
                body.append(cells)
        header = ["config", "flags"]
        for bname, *_ in BITS:
            header += [f"{bname} top-1", f"{bname} s", f"{bname} layers kept"]
        lines += table(header, body) + [""]
    lines += ["*s*: wall time of the whole command (quantize, and evaluate float and quantized on the eval set). "
              "*layers kept*: layers of blocks whose calibration loss did not go down, which keep their starting "
              "(RTN) weights.", ""]
    write_markdown(path, lines)


if __name__ == "__main__":
    sys.exit(main())
