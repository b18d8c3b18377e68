#!/usr/bin/env python3
# GGUF export of a quantized Llama package keeps its codes (issue 15): pare quantizes the brown-llama to W4
# group:32 (W8 group:32), exports the package to Q4_0 (Q8_0), and measures on the same text and context
#   - pare's perplexity of the package itself (llamacpp protocol), the numbers pare reports for it;
#   - llama.cpp's perplexity of the GGUF export (llama-perplexity), and pare's of the same GGUF file;
#   - the KL divergence of the GGUF export from the package (pare ppl GGUF --ref PACKAGE): 0 when the export
#     holds exactly the package's weights;
#   - with --old-pare (a pare built before the export kept codes): the same for its export, which rounded the
#     package's dequantized weights a second time.
# Also: the F16/Q4_0 exports of the float model itself, by both pares, byte for byte (that path is unchanged).
# Writes bench/results/gguf_export_exact.json.
#
#   /usr/bin/python3 bench/gguf_export_exact.py --llama-bin /path/to/llama.cpp/build/bin [--old-pare OLD/pare]
#       [--model examples/zoo/brown-llama] [--text brown:heldout] [--ctx 256] [--threads 2]
# llama.cpp is not part of pare: build it yourself from a snapshot (cmake -DLLAMA_CURL=OFF; target
# llama-perplexity) and pass its bin folder.
import argparse
import os
import re
import sys
import tempfile

from benchlib import files as files_lib
from benchlib import pare as pare_tool
from benchlib import results
from benchlib.paths import BENCH as HERE
from benchlib.paths import ROOT, rel
from benchlib.procs import run_or_exit as run

TYPES = {"q4_0": 4, "q8_0": 8}  # GGUF type -> the pare grid that maps onto it exactly (group:32, symmetric)
# What the package quantizes: the block projections only (embeddings and head stay float16 in the package, and
# the export rounds them with ggml's reference quantizer, as for any float weight), or every 2-D weight (the
# recipe's "embeddings"), so that the whole GGUF holds the package's own codes.


def llama_ppl(perplexity, model, text, ctx, threads):
    out = run([perplexity, "-m", model, "-f", text, "-c", ctx, "-b", ctx, "-t", threads])
    m = re.search(r"Final estimate: PPL = ([0-9.]+)", out)
    if not m:
        sys.exit("cannot find the perplexity in llama.cpp's output:\n" + out[-3000:])
    return float(m.group(1))


def measure(pare, a, work, text, typ, bits, embeddings, old_pare):
    ctx, t = str(a.ctx), str(a.threads)
    perplexity = os.path.join(a.llama_bin, "llama-perplexity")
    tag = f"w{bits}g32{'-all' if embeddings else ''}"
    pkg, gguf, recipe = (os.path.join(work, f"{tag}.{ext}") for ext in ["pare", f"{typ}.gguf", "json"])
    files_lib.rm(pkg, gguf)
    results.write_json(recipe, {"wbits": bits, "abits": 0, "granularity": "group:32", "embeddings": embeddings})
    q = [pare, "quantize", a.model, "--recipe", recipe, "--out", pkg, "--quiet"]
    run(q)
    export = run([pare, "export", pkg, "--format", "gguf", "--type", typ, "--out", gguf])
    row = {"type": typ, "quantized": "every 2-D weight" if embeddings else "block projections",
           "recipe": results.read_json(recipe), "export_report": export.strip().splitlines()}
    row["package_ppl_pare"] = ppl_json(pare, pkg, text, ctx)["perplexity"]
    row["gguf_ppl_pare"] = ppl_json(pare, gguf, text, ctx)["perplexity"]
    row["gguf_ppl_llamacpp"] = llama_ppl(perplexity, gguf, text, ctx, t)
    row["gguf_kld_from_package"] = ppl_json(pare, gguf, text, ctx, ref=pkg)["kld"]["mean"]
    if old_pare:
        old = os.path.join(work, f"{tag}.{typ}-old.gguf")
        files_lib.rm(old)
        run([old_pare, "export", pkg, "--format", "gguf", "--type", typ, "--out", old])
        row["old_gguf_ppl_llamacpp"] = llama_ppl(perplexity, old, text, ctx, t)
        row["old_gguf_kld_from_package"] = ppl_json(pare, old, text, ctx, ref=pkg)["kld"]["mean"]
    return row


def ppl_json(pare, model, text, ctx, ref=None):
    """pare ppl (llamacpp protocol) of `model`, against `ref` when given: its result JSON."""
    out = os.path.join(tempfile.mkdtemp(prefix="pare-ppl-"), "ppl.json")
    run([pare, "ppl", model, "--text", "text:" + text, "--ctx", ctx, "--protocol", "llamacpp", "--json", out, "--quiet"]
        + (["--ref", ref] if ref else []))
    return results.read_json(out)


def float_exports_identical(pare, old_pare, model, work):
    same = {}
    for typ in ["f16", "q4_0"]:
        new, old = os.path.join(work, f"float-{typ}.gguf"), os.path.join(work, f"float-{typ}-old.gguf")
        files_lib.rm(new, old)
        run([pare, "export", model, "--format", "gguf", "--type", typ, "--out", new])
        run([old_pare, "export", model, "--format", "gguf", "--type", typ, "--out", old])
        same[typ] = files_lib.sha256(new) == files_lib.sha256(old)
    return same


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-bin", required=True)
    ap.add_argument("--old-pare", help="a pare from before the export kept codes, to show the second rounding")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--model", default=os.path.join(ROOT, "examples/zoo/brown-llama"))
    ap.add_argument("--text", default="brown:heldout")
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "results/gguf_export_exact.json"))
    a = ap.parse_args()
    pare = pare_tool.binary(a.build_dir)
    work = tempfile.mkdtemp(prefix="pare-gguf-exact-")
    text = pare_tool.text_file(pare, a.text, work)
    doc = results.header(__file__)
    doc.update({"model": rel(a.model), "text": a.text, "ctx": a.ctx, "protocol": "llamacpp",
                "rows": [measure(pare, a, work, text, typ, bits, emb, a.old_pare) for typ, bits in TYPES.items()
                         for emb in [False, True]]})
    if a.old_pare:
        doc["float_exports_identical_to_old_pare"] = float_exports_identical(pare, a.old_pare, a.model, work)
    results.write_json(a.out, doc)
    for r in doc["rows"]:
        print(f"{r['type']} ({r['quantized']}): package {r['package_ppl_pare']:.4f} (pare), GGUF {r['gguf_ppl_pare']:.4f} (pare) "
              f"{r['gguf_ppl_llamacpp']:.4f} (llama.cpp), KLD from the package {r['gguf_kld_from_package']:.3g}"
              + (f"; old export {r['old_gguf_ppl_llamacpp']:.4f} (llama.cpp), KLD {r['old_gguf_kld_from_package']:.3g}"
                 if "old_gguf_ppl_llamacpp" in r else ""))
    print("wrote", rel(a.out))


if __name__ == "__main__":
    main()
