#!/usr/bin/env python3
# AWQ and data-aware (imatrix) RTN scales against RTN and GPTQ, weights only, at equal bits, on the brown-llama
# (KL divergence and top-1 agreement against the float model on brown:heldout at ctx 256, calibration on
# brown:train tokens) and, unless --no-zoo, the zoo ViT (Fashion-MNIST test top-1, 10,000 images; its Linear
# layers follow LayerNorm, where AWQ folds its scales). RTN and GPTQ rows are run again unless
# --baselines-from names a results file of bench/gptq.py (same commands, same calibration: deterministic).
# Writes bench/results/awq.json and docs/results/awq.md.
#
#   /usr/bin/python3 bench/awq.py [--build-dir build] [--no-zoo] [--configs "W4 g128,W3 g128"] [--methods ...]
#       [--baselines-from bench/results/gptq.json] [--ref REF.safetensors]
#   /usr/bin/python3 bench/awq.py --merge A.json,B.json   (runs split over processes, one results file)
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

LLM = [("W4 g128", 4, "group:128"), ("W3 g128", 3, "group:128"), ("W4 channel", 4, "channel"),
       ("W3 channel", 3, "channel")]
ZOO = [("W4", 4, "channel"), ("W3", 3, "channel")]
# (label, extra flags); "calib" methods get the calibration spec.
METHODS = [("rtn", ["--method", "rtn"], False), ("rtn imatrix", ["--method", "rtn", "--weight-scale", "imatrix"], True),
           ("awq", ["--method", "awq"], True), ("awq clip", ["--method", "awq", "--clip", "true"], True),
           ("awq+gptq", ["--method", "awq", "--base", "gptq"], True),
           ("gptq", ["--method", "gptq"], True)]
BASELINES = {"rtn", "gptq"}


def run(cmd):
    """Wall seconds of one pare command (it stops the bench with its output's tail when it fails)."""
    return wall_and_peak_rss(cmd)[0]


def llm_rows(pare, args, tmp, configs, baselines):
    model = os.path.join(ROOT, "examples/zoo/brown-llama")
    ref = args.ref or os.path.join(tmp, "ref.safetensors")  # the float model's logits, computed once
    if not args.ref:
        run([pare, "ppl", model, "--text", "brown:heldout", "--ctx", "256", "--quiet", "--save-ref", ref])
    rows = []
    for name, wbits, gran in LLM:
        if name not in configs:
            continue
        for label, flags, calib in METHODS:
            if label not in args.methods:
                continue
            if label in BASELINES and (name, label) in baselines:
                rows.append(dict(baselines[(name, label)], reused_from=args.baselines_from))
                continue
            out = os.path.join(tmp, f"llm-{label.replace(' ', '-').replace('+', '-')}-{wbits}-{gran.replace(':', '')}.pare")
            cmd = [pare, "quantize", model] + flags + ["--wbits", str(wbits), "--granularity", gran, "--out", out,
                                                       "--quiet"] + (["--calib", args.llm_calib] if calib else [])
            secs = run(cmd)
            j = out + ".ppl.json"
            run([pare, "ppl", out, "--ref", ref, "--text", "brown:heldout", "--ctx", "256", "--quiet", "--json", j])
            r = results_json.read_json(j)
            kld = r["kld"]
            rows.append({"config": name, "method": label, "perplexity": r["perplexity"], "kld_mean": kld["mean"],
                         "kld_stderr": kld["stderr"], "top1_same": kld["top1_same_percent"],
                         "quantize_seconds": secs, "command": pare_tool.command_string(cmd)})
            print(f"brown-llama  {name:10s} {label:12s} KLD {kld['mean']:.4f}  ppl {r['perplexity']:.3f}  ({secs:.0f} s)",
                  flush=True)
    return rows


def zoo_rows(pare, args, tmp):
    model = os.path.join(ROOT, "examples/zoo/fmnist-vit.onnx")
    rows = []
    for name, wbits, gran in ZOO:
        for label, flags, _ in METHODS:
            if label not in args.methods:
                continue
            j = os.path.join(tmp, f"vit-{label.replace(' ', '-')}-{wbits}.json")
            cmd = [pare, "quantize", model] + flags + ["--wbits", str(wbits), "--abits", "0", "--granularity", gran,
                                                       "--calib", args.calib, "--eval", "fmnist:test", "--quiet",
                                                       "--json", j]
            secs = run(cmd)
            r = results_json.read_json(j)
            scaled = sum(1 for l in r["layers"] if (l.get("alpha") or 0) > 0)
            rows.append({"config": name, "method": label, "top1": r["accuracy"]["after"],
                         "fp32_top1": r["accuracy"]["before"], "awq_scaled_layers": scaled,
                         "seconds_with_eval": secs, "command": pare_tool.command_string(cmd[:-2])})
            print(f"vit {name:4s} {label:12s} top-1 {rows[-1]['top1']:6.2f} %  ({secs:.0f} s)", flush=True)
    return rows


def read_baselines(path):
    if not path:
        return {}
    doc = results_json.read_json(path)
    return {(r["config"], r["method"]): r for r in doc.get("llm", [])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--calib", default="fmnist:train:512:0")
    ap.add_argument("--llm-calib", default="brown:train:16384")
    ap.add_argument("--configs", default=",".join(n for n, *_ in LLM))
    ap.add_argument("--baselines-from", default="", help="bench/gptq.py results to take the RTN and GPTQ rows from")
    ap.add_argument("--methods", default=",".join(m for m, *_ in METHODS))
    ap.add_argument("--no-zoo", action="store_true")
    ap.add_argument("--ref", default="", help="the float model's logits saved by pare ppl --save-ref (else computed)")
    ap.add_argument("--merge", default="", help="comma-separated results of runs on parts of the configs: combine "
                    "them into --out and the doc instead of running anything")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results/awq.json"))
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs/results/awq.md"))
    args = ap.parse_args()
    args.methods = args.methods.split(",")
    if args.merge:
        parts = [results_json.read_json(p) for p in args.merge.split(",")]
        doc = dict(parts[0], llm=[r for p in parts for r in p["llm"]], zoo=[r for p in parts for r in p["zoo"]],
                   merged_from=[p["command"] for p in parts])
        results_json.write_json(args.out, doc)
        write_doc(doc, args.doc, os.path.relpath(args.out, ROOT))
        return 0
    pare = pare_tool.binary(args.build_dir)
    doc = results_json.header("bench/awq.py")
    doc.update({"calib": args.calib, "llm_calib": args.llm_calib, "llm": [], "zoo": []})
    baselines = read_baselines(args.baselines_from)
    if baselines and doc["llm_calib"] != results_json.read_json(args.baselines_from)["llm_calib"]:
        sys.exit("--baselines-from was calibrated on other tokens")
    with tempfile.TemporaryDirectory() as tmp:
        doc["llm"] = llm_rows(pare, args, tmp, args.configs.split(","), baselines)
        if not args.no_zoo:
            doc["zoo"] = zoo_rows(pare, args, tmp)
    results_json.write_json(args.out, doc)
    write_doc(doc, args.doc, os.path.relpath(args.out, ROOT))
    return 0


def write_doc(doc, path, source):
    ran = {r["method"] for r in doc["llm"] + doc["zoo"]}
    labels = [m for m, *_ in METHODS if m in ran]
    cmd = "; ".join(f"`/usr/bin/python3 {c}`" for c in doc.get("merged_from", [doc["command"]]))
    lines = ["# AWQ and imatrix scales against RTN and GPTQ", "",
             f"Generated by {cmd} (merged with `bench/awq.py --merge` when several) on {doc['date']} ({doc['machine']}) from `{source}`; "
             "do not edit by hand. Weights only, symmetric; RTN and GPTQ with min-max scales, `rtn imatrix` with the "
             "importance-weighted scale search, `awq` with RTN (min-max) on the scaled weights, `awq clip` with AWQ's "
             "clipping search before RTN, `awq+gptq` with GPTQ on them. Rows marked * were taken from the bench/gptq.py results (same command and calibration). "
             "Method pages: [../methods/awq.md](../methods/awq.md), [../methods/rtn.md](../methods/rtn.md), "
             "[../methods/gptq.md](../methods/gptq.md).", ""]
    if doc["llm"]:
        lines += [f"## brown-llama: KL divergence against the float model on brown:heldout, ctx 256; calibration "
                  f"`{doc['llm_calib']}`", ""]
        by = {(r["config"], r["method"]): r for r in doc["llm"]}
        configs = [n for n, *_ in LLM if any(k[0] == n for k in by)]
        mark = lambda r: "*" if r.get("reused_from") else ""
        body = [[n] + [fmt(by[(n, m)]["kld_mean"], ".4f") + mark(by[(n, m)]) if (n, m) in by else "–" for m in labels]
                for n in configs]
        lines += table(["config"] + [f"KLD {m}" for m in labels], body) + [""]
        body = [[n] + [fmt(by[(n, m)]["top1_same"], ".2f") if (n, m) in by else "–" for m in labels] for n in configs]
        lines += ["Top-1 agreement with the float model (%):", ""] + table(["config"] + labels, body) + [""]
        body = [[n] + [fmt(by[(n, m)]["perplexity"], ".3f") if (n, m) in by else "–" for m in labels] for n in configs]
        lines += ["Perplexity on brown:heldout:", ""] + table(["config"] + labels, body) + [""]
    if doc["zoo"]:
        lines += [f"## Zoo ViT: Fashion-MNIST test top-1 (%), 10,000 images, calibration `{doc['calib']}`", ""]
        by = {(r["config"], r["method"]): r for r in doc["zoo"]}
        body = [[n, fmt(doc["zoo"][0]["fp32_top1"], ".2f")] +
                [fmt(by[(n, m)]["top1"], ".2f") if (n, m) in by else "–" for m in labels] for n, *_ in ZOO]
        lines += table(["config", "fp32"] + labels, body) + [""]
    write_markdown(path, lines)


if __name__ == "__main__":
    sys.exit(main())
