#!/usr/bin/env python3
# Streaming LLM quantization in bounded memory: a random-weight Llama of >= 1 B parameters (TinyLlama-1.1B
# shape, `pare zoo llama --config tinyllama-1.1b --random`, float16 safetensors) quantized with RTN W4 g128 by
# `pare quantize`, next to llama.cpp's `llama-quantize ... Q4_0` on the same model converted to GGUF F16 by
# `pare export`. Peak RSS and wall time from GNU time's -v report. Also an interrupted run: pare quantize
# is stopped with SIGINT part-way, started again with the same command, and must resume from the last finished
# block and write a package identical to the uninterrupted one. Writes bench/results/llm_quantize_rss.json.
#
#   /usr/bin/python3 bench/llm_quantize_rss.py --llama-bin /path/to/llama.cpp/build/bin [--threads 2] [--keep DIR]
#
# Needs about 6 GB of disk (the model, its GGUF, two packages, the Q4_0 file) in a temporary folder.
import argparse
import filecmp
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from benchlib import pare as pare_tool
from benchlib import results
from benchlib.files import rm
from benchlib.paths import BENCH as HERE
from benchlib.paths import ROOT
from benchlib.timing import timed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-bin", required=True)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--config", default="tinyllama-1.1b")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--interrupt-after", type=float, default=0.4, help="share of the units to finish first")
    ap.add_argument("--keep", help="work folder to use and keep (default: a temporary one, removed)")
    ap.add_argument("--out", default=os.path.join(HERE, "results/llm_quantize_rss.json"))
    a = ap.parse_args()
    pare = pare_tool.binary(a.build_dir)
    work = a.keep or tempfile.mkdtemp(prefix="pare-llm-rss-")
    os.makedirs(work, exist_ok=True)
    t = str(a.threads)
    model = os.path.join(work, "model")
    if not os.path.exists(os.path.join(model, "model.safetensors")):
        subprocess.run([pare, "zoo", "llama", "--config", a.config, "--random", "--out", model], check=True)
    model_bytes = sum(os.path.getsize(os.path.join(model, f)) for f in os.listdir(model))
    with open(os.path.join(model, "config.json")) as f:
        config = json.load(f)

    def fresh(path):
        rm(path, path + ".partial")

    whole = os.path.join(work, "w4g128.pare")
    fresh(whole)
    qjson = os.path.join(work, "w4g128.json")
    fresh(qjson)
    quantize = [pare, "quantize", model, "--wbits", "4", "--granularity", "group:128", "--threads", t, "--quiet"]
    wall, rss, _ = timed(quantize + ["--out", whole, "--json", qjson])
    with open(qjson) as f:
        q = json.load(f)
    pare_row = {"command": "pare quantize MODEL --wbits 4 --granularity group:128", "wall_s": wall,
                "peak_rss_bytes": rss, "out_bytes": os.path.getsize(whole),
                "quantized_bits_per_weight": q.get("bits_per_weight", q.get("quantized_bits_per_weight")),
                "file_bits_per_weight": q["file_bits_per_weight"], "units": q["units"]}

    # Interrupted, then resumed.
    resumed = os.path.join(work, "resumed.pare")
    fresh(resumed)
    # SIGINT back to its default in the child: a shell's background job inherits it ignored.
    proc = subprocess.Popen(quantize + ["--out", resumed], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    partial = resumed + ".partial"

    def finished_units():
        try:
            return len([f for f in os.listdir(partial) if f.startswith("unit-") and f.endswith(".json")])
        except FileNotFoundError:
            return 0

    # Interrupt once the given share of the units is finished (Ctrl-C, as a user would).
    while proc.poll() is None and finished_units() < a.interrupt_after * q["units"]:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    proc.wait()
    finished = finished_units()
    if proc.returncode == 0 or finished == 0:
        sys.exit("the run to interrupt finished before it could be interrupted")
    wall2, rss2, out2 = timed(quantize + ["--out", resumed])
    m = re.search(r"\((\d+) of (\d+) units resumed", out2)
    resume_row = {"interrupted_after_units": finished, "exit_code_of_interrupted_run": proc.returncode,
                  "units_finished_before_interrupt": finished, "units_resumed": int(m.group(1)) if m else 0,
                  "second_run_wall_s": wall2, "identical_to_uninterrupted": filecmp.cmp(whole, resumed, shallow=False)}
    os.remove(resumed)

    gguf = os.path.join(work, "model-f16.gguf")
    if not os.path.exists(gguf):
        # GGUF carries a vocabulary; the random model has none, so a SentencePiece BPE of its vocabulary size
        # is trained on the Brown corpus for it (what the tokens are does not matter to quantization).
        tok = os.path.join(work, "tokenizer.model")
        if not os.path.exists(tok):
            subprocess.run([pare, "text", "train-tokenizer", "--data", "brown:train", "--vocab-size",
                            str(config["vocab_size"]), "--seed", "1", "--out", tok], check=True)
        subprocess.run([pare, "export", model, "--format", "gguf", "--type", "f16", "--tokenizer", tok, "--out", gguf],
                       check=True)
    q40 = os.path.join(work, "model-q4_0.gguf")
    fresh(q40)
    wall3, rss3, _ = timed([os.path.join(a.llama_bin, "llama-quantize"), gguf, q40, "Q4_0", t])
    params = q["params"]
    llama_row = {"command": "llama-quantize MODEL-F16.gguf OUT.gguf Q4_0 THREADS", "wall_s": wall3,
                 "peak_rss_bytes": rss3, "in_bytes": os.path.getsize(gguf), "out_bytes": os.path.getsize(q40),
                 "file_bits_per_weight": 8.0 * os.path.getsize(q40) / params}
    result = {
        "date": results.utc_iso(), "machine": results.machine(), "cpus": os.cpu_count(), "threads": a.threads,
        "model": {"config": a.config, "params": params, "safetensors_bytes": model_bytes,
                  "hidden_size": config["hidden_size"], "layers": config["num_hidden_layers"]},
        "pare": pare_row, "pare_resume": resume_row, "llama_quantize": llama_row,
        "pare_peak_rss_over_model_bytes": rss / model_bytes,
        "llama_quantize_peak_rss_over_model_bytes": rss3 / model_bytes,
    }
    results.write_json(a.out, result)
    print(json.dumps(result, indent=2))
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
