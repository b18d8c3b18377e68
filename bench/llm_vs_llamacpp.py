#!/usr/bin/env python3
# pare against llama.cpp on the same GGUF files: pare exports a Llama (default: the brown-llama) as F16, Q8_0
# and Q4_0 GGUF; then, on the same text and context, llama.cpp's `llama-perplexity` (the llama.cpp protocol)
# and `pare ppl --protocol llamacpp` score each file, and both tools measure the KL divergence and top-1
# agreement of Q8_0 and Q4_0 against F16 (`llama-perplexity --kl-divergence-base/--kl-divergence`,
# `pare ppl --ref`), pare both in float32 and with --llamacpp-numerics. Writes bench/results/llm_vs_llamacpp.json.
#
# llama.cpp is not part of pare: build it yourself from a snapshot (cmake -DLLAMA_CURL=OFF; targets
# llama-perplexity, llama-quantize) and pass its bin folder.
#
#   /usr/bin/python3 bench/llm_vs_llamacpp.py --llama-bin /path/to/llama.cpp/build/bin \
#       [--model examples/zoo/brown-llama] [--text brown:heldout] [--ctx 256] [--threads 2]
import argparse
import json
import os
import re
import sys
import tempfile

from benchlib import pare as pare_tool
from benchlib import results
from benchlib.paths import BENCH as HERE
from benchlib.paths import ROOT, rel
from benchlib.procs import run_or_exit as run


def grab(pattern, text, what):
    m = re.search(pattern, text)
    if not m:
        sys.exit(f"cannot find {what} in llama.cpp's output:\n{text[-3000:]}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-bin", required=True)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--model", default=os.path.join(ROOT, "examples/zoo/brown-llama"))
    ap.add_argument("--text", default="brown:heldout")
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "results/llm_vs_llamacpp.json"))
    a = ap.parse_args()
    pare = pare_tool.binary(a.build_dir)
    perplexity = os.path.join(a.llama_bin, "llama-perplexity")
    work = tempfile.mkdtemp(prefix="pare-vs-llamacpp-")
    text = pare_tool.text_file(pare, a.text, work)
    ctx, t = str(a.ctx), str(a.threads)
    files, rows = {}, {}
    for typ in ["f16", "q8_0", "q4_0"]:
        files[typ] = os.path.join(work, f"model-{typ}.gguf")
        run([pare, "export", a.model, "--format", "gguf", "--type", typ, "--out", files[typ]])
    # llama.cpp: perplexity of each file; the F16 run also stores its logits as the KL base.
    base = os.path.join(work, "f16.kld")
    for typ in ["f16", "q8_0", "q4_0"]:
        cmd = [perplexity, "-m", files[typ], "-f", text, "-c", ctx, "-b", ctx, "-t", t]
        cmd += ["--kl-divergence-base", base] if typ == "f16" else []
        out = run(cmd)
        rows[typ] = {"file_bytes": os.path.getsize(files[typ]),
                     "llamacpp_ppl": grab(r"Final estimate: PPL = ([0-9.]+)", out, "the perplexity")}
        if typ != "f16":
            out = run([perplexity, "-m", files[typ], "-f", text, "-c", ctx, "-b", ctx, "-t", t, "--kl-divergence-base",
                       base, "--kl-divergence"])
            rows[typ]["llamacpp_kld"] = grab(r"Mean\s+KLD:\s+([0-9.eE+-]+)", out, "the mean KLD")
            rows[typ]["llamacpp_top1"] = grab(r"Same top p:\s+([0-9.]+)", out, "the top-1 agreement")
    # pare on the same files, twice: in float32 (pare's own numbers: the weights' quantization alone), and
    # with --llamacpp-numerics (activations rounded as llama.cpp's CPU backend rounds them before each product),
    # which is what reproduces llama.cpp's figures.
    for mode, extra in [("", []), ("_llamacpp_numerics", ["--llamacpp-numerics"])]:
        for typ in ["f16", "q8_0", "q4_0"]:
            js = os.path.join(work, f"pare-{typ}{mode}.json")
            cmd = [pare, "ppl", files[typ], "--text", text, "--ctx", ctx, "--protocol", "llamacpp", "--threads", t,
                   "--quiet", "--json", js] + extra
            cmd += ["--ref", files["f16"]] if typ != "f16" else []
            run(cmd)
            with open(js) as f:
                j = json.load(f)
            row = rows[typ]
            row["pare_ppl" + mode] = j["perplexity"]
            row["ppl_relative_difference" + mode] = abs(j["perplexity"] - row["llamacpp_ppl"]) / row["llamacpp_ppl"]
            if typ != "f16":
                k = j["kld"]
                row["pare_kld" + mode] = k["mean"]
                row["pare_kld_stderr" + mode] = k["stderr"]
                row["pare_top1" + mode] = k["top1_same_percent"]
                row["kld_relative_difference" + mode] = abs(k["mean"] - row["llamacpp_kld"]) / row["llamacpp_kld"]
                row["top1_difference_points" + mode] = abs(k["top1_same_percent"] - row["llamacpp_top1"])
    result = {
        "date": results.utc_iso(), "machine": results.machine(), "model": rel(a.model),
        "text": a.text, "ctx": a.ctx, "protocol": "llamacpp", "threads": a.threads,
        "llamacpp": os.path.abspath(a.llama_bin),
        "note": "llama-perplexity prints its mean KLD with 6 decimals (%10.6lf), so its KLD carries a rounding "
                "error of up to 5e-7; pare's own figures are in float32, the _llamacpp_numerics ones round "
                "activations as llama.cpp does (pare ppl --llamacpp-numerics)",
        "types": rows,
    }
    results.write_json(a.out, result)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
