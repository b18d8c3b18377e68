#!/usr/bin/env python3
# Prints the brown-llama section of examples/zoo/README.md from the files it comes from:
# examples/zoo/logs/brown-llama.json (pare train --json), brown-llama.log (the console of
# scripts/train_brown_llama.sh, for the wall time) and brown-llama-ppl-{windows,llamacpp}.json (pare ppl --json).
# Usage: scripts/brown_llama_report.py
import json
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOGS = os.path.join(ROOT, "examples", "zoo", "logs")


def load(name):
    with open(os.path.join(LOGS, name)) as f:
        return json.load(f)


def main():
    j = load("brown-llama.json")
    wall = None
    console = os.path.join(LOGS, "brown-llama.log")
    if os.path.exists(console):
        for line in open(console, errors="replace"):
            if line.startswith("brown-llama: trained in "):
                wall = int(line.split()[3])
    ctx = j["options"].get("ctx", 256)  # scripts/train_brown_llama.sh trains on windows of 256
    print(f"Trained with `scripts/train_brown_llama.sh` ({j['options']['epochs']} epochs, batch "
          f"{j['options']['batch_size']} windows of {ctx} tokens, AdamW {j['options']['lr']} cosine to "
          f"{j['options']['min_lr']}):" + (f" **{wall / 60:.1f} min** wall time" if wall else "") +
          f", {j['train']['seconds'] / 60:.1f} min of it in training steps.\n")
    print("| epoch | train loss | train token top-1 | valid loss | valid perplexity (windows of "
          f"{ctx}) | valid top-1 | s |")
    print("|---|---|---|---|---|---|---|")
    for x in j["epochs"]:
        print(f"| {x['epoch']} | {x['train_loss']:.4f} | {x['train_top1']:.2f} % | {x['val_loss']:.4f} | "
              f"{math.exp(x['val_loss']):.2f} | {x['val_top1']:.2f} % | {x['seconds']:.0f} |")
    print()
    print("| held-out perplexity (`brown:heldout`, ctx 256) | protocol | windows | scored tokens | perplexity | "
          "nll ± s.e. |")
    print("|---|---|---|---|---|---|")
    for p in ["windows", "llamacpp"]:
        path = os.path.join(LOGS, f"brown-llama-ppl-{p}.json")
        if not os.path.exists(path):
            continue
        r = load(f"brown-llama-ppl-{p}.json")
        print(f"| `logs/brown-llama-ppl-{p}.json` | {p} | {r['windows']} | {r['scored_tokens']} | **{r['perplexity']:.2f}** "
              f"| {r['nll']:.4f} ± {r['nll_stderr']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
