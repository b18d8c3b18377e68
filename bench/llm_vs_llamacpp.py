#!/usr/bin/env python3
# pare against llama.cpp on the same GGUF files: pare exports a Llama (default: the brown-llama) as F16, Q8_0
# and Q4_0 GGUF; then, on the same text and context, llama.cpp's `llama-perplexity` (the llama.cpp protocol)
# and `pare ppl --protocol llamacpp` score each file, and both tools measure the KL divergence and top-1
# agreement of Q8_0 and Q4_0 against F16 (`llama-perplexity --kl-divergence-base/--kl-divergence`,
# `pare ppl --ref`). Writes bench/results/llm_vs_llamacpp.json.
#
# llama.cpp is not part of pare: build it yourself from a snapshot (cmake -DLLAMA_CURL=OFF; targets
# llama-perplexity, llama-quantize) and pass its bin folder.
#
#   /usr/bin/python3 bench/llm_vs_llamacpp.py --llama-bin /path/to/llama.cpp/build/bin \
#       [--model examples/zoo/brown-llama] [--text brown:heldout] [--ctx 256] [--threads 2]
import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd, **kw):
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", **kw)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return p.stdout + p.stderr


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
    pare = os.path.join(a.build_dir, "pare")
    perplexity = os.path.join(a.llama_bin, "llama-perplexity")
    work = tempfile.mkdtemp(prefix="pare-vs-llamacpp-")
    text = os.path.join(work, "text.txt")
    if a.text.startswith("brown:"):
        run([pare, "text", "brown", "--split", a.text.split(":", 1)[1], "--out", text])
    else:
        text = a.text
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
    # pare on the same files.
    for typ in ["f16", "q8_0", "q4_0"]:
        js = os.path.join(work, f"pare-{typ}.json")
        cmd = [pare, "ppl", files[typ], "--text", text, "--ctx", ctx, "--protocol", "llamacpp", "--threads", t,
               "--quiet", "--json", js]
        cmd += ["--ref", files["f16"]] if typ != "f16" else []
        run(cmd)
        with open(js) as f:
            j = json.load(f)
        rows[typ]["pare_ppl"] = j["perplexity"]
        rows[typ]["ppl_relative_difference"] = abs(j["perplexity"] - rows[typ]["llamacpp_ppl"]) / rows[typ]["llamacpp_ppl"]
        if typ != "f16":
            k = j["kld"]
            rows[typ]["pare_kld"] = k["mean"]
            rows[typ]["pare_kld_stderr"] = k["stderr"]
            rows[typ]["pare_top1"] = k["top1_same_percent"]
            rows[typ]["kld_relative_difference"] = abs(k["mean"] - rows[typ]["llamacpp_kld"]) / rows[typ]["llamacpp_kld"]
            rows[typ]["top1_difference_points"] = abs(k["top1_same_percent"] - rows[typ]["llamacpp_top1"])
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": platform.processor() or platform.machine(),
        "model": os.path.relpath(a.model, ROOT) if a.model.startswith(ROOT) else a.model,
        "text": a.text, "ctx": a.ctx, "protocol": "llamacpp", "threads": a.threads,
        "llamacpp": os.path.abspath(a.llama_bin),
        "types": rows,
    }
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
