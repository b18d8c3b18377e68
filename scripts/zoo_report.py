#!/usr/bin/env python3
# Prints the tables of examples/zoo/README.md from the files they come from: examples/zoo/logs/NAME.json
# (pare train --json), NAME-eval.json (pare eval --json) and the models themselves (pare info --json).
# Usage: scripts/zoo_report.py [BUILD/pare]
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZOO = os.path.join(ROOT, "examples", "zoo")
PARE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "pare")
NAMES = ["resnet20", "mobilenetv2", "vit"]


def load(path):
    with open(path) as f:
        return json.load(f)


def main():
    rows, curves = [], []
    for m in NAMES:
        log, ev = os.path.join(ZOO, "logs", m + ".json"), os.path.join(ZOO, "logs", m + "-eval.json")
        model = os.path.join(ZOO, f"fmnist-{m}.onnx")
        if not (os.path.exists(log) and os.path.exists(ev) and os.path.exists(model)):
            continue
        j, e = load(log), load(ev)
        info = json.loads(subprocess.run([PARE, "info", "--json", model], check=True, capture_output=True,
                                         text=True).stdout)
        epochs = j["epochs"]
        step_s = j["train"]["seconds"]
        wall = f"{j['wall_seconds'] / 60:.1f} min" if "wall_seconds" in j else "?"
        console = os.path.join(ZOO, "logs", m + ".log")  # scripts/train_zoo.sh prints "NAME: trained in N s"
        if os.path.exists(console):
            for line in open(console, errors="replace"):
                if line.startswith(f"{m}: trained in "):
                    wall = f"{int(line.split()[3]) / 60:.1f} min"
        rows.append(f"| `fmnist-{m}.onnx` | {info['parameters']:,} | {len(epochs)} | {wall} | {step_s / 60:.1f} min "
                    f"| {j['train']['images_per_second']:.0f} | **{e['top1']:.2f} %** | {e['top5']:.2f} % "
                    f"| {e['loss']:.4f} |")
        curves.append(f"\n{m} (`logs/{m}.json`):\n\n| epoch | train loss | train top-1 | test top-1 | s | img/s |\n"
                      "|---|---|---|---|---|---|")
        for x in epochs:
            curves.append(f"| {x['epoch']} | {x['train_loss']:.4f} | {x['train_top1']:.2f} | {x['val_top1']:.2f} "
                          f"| {x['seconds']:.0f} | {x['images_per_second']:.0f} |")
    print("| model | parameters | epochs | wall time | of it in training steps | mean img/s | pare eval top-1 | top-5 "
          "| loss |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\n".join(curves))
    return 0


if __name__ == "__main__":
    sys.exit(main())
