# ONNX Runtime cross-check of one exported model: pare's executor and ORT run the same input and must agree to
# max |pare - ORT| <= 1e-4 * max |ORT|; so must `pare run` (the CLI path, with its inference passes), and ORT
# running pare's re-export (io::save_onnx).
# Exits 77 (ctest SKIP_RETURN_CODE) only when torch, numpy, node or onnxruntime-node is missing.
import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
REL_TOL = 1e-4
# The check is only as strong as the outputs' dependence on the input: two batch items whose outputs differ by less
# than this (relative to max |ref|) mean saturated or vanishing activations, which would hide errors upstream.
MIN_BATCH_SPREAD = 1e-2


def skip(why):
    print("SKIP: " + why)
    sys.exit(SKIP)


def check_prerequisites(node):
    for mod in ("numpy", "torch"):
        if importlib.util.find_spec(mod) is None:
            skip(f"{sys.executable} has no '{mod}' module")
    if shutil.which(node) is None:
        skip(f"'{node}' is not on PATH")
    probe = subprocess.run([node, "-e", f"require({json.dumps(os.path.join(HERE, 'ort_run.js'))}).loadOrt()"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        skip("onnxruntime-node cannot be loaded: " + probe.stderr.strip().splitlines()[-1:][0]
             if probe.stderr.strip() else "onnxruntime-node cannot be loaded")


def export_sha():
    with open(os.path.join(HERE, "export_models.py"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def ensure_export(name, models_dir):
    """Exports `name` unless a manifest from the current export script is already there."""
    manifest = os.path.join(models_dir, name + ".json")
    if os.path.exists(manifest):
        with open(manifest) as f:
            entry = json.load(f)
        if entry.get("script_sha256") == export_sha():
            return entry
    run([sys.executable, os.path.join(HERE, "export_models.py"), models_dir, "--models", name], "export")
    with open(manifest) as f:
        return json.load(f)


def run(cmd, what):
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        print(f"FAIL: {what} exited {res.returncode}: {' '.join(cmd)}\n{res.stdout}{res.stderr}")
        sys.exit(1)
    return res


def compare(np, reference_dir, candidate_dir, label, check_spread=False):
    """Compares every .npy in reference_dir with the same file in candidate_dir; returns (ok, rows)."""
    rows, ok = [], True
    files = sorted(f for f in os.listdir(reference_dir) if f.endswith(".npy"))
    if not files:
        return False, [{"what": label, "error": "no outputs in " + reference_dir}]
    for fname in files:
        ref = np.load(os.path.join(reference_dir, fname))
        path = os.path.join(candidate_dir, fname)
        row = {"what": label, "output": fname[:-4], "shape": list(ref.shape)}
        if not os.path.exists(path):
            row["error"] = "missing " + path
            ok = False
        else:
            got = np.load(path)
            if got.shape != ref.shape:
                row["error"] = f"shape {list(got.shape)} != {list(ref.shape)}"
                ok = False
            elif not (np.isfinite(ref.astype(np.float64)).all() and np.isfinite(got.astype(np.float64)).all()):
                row["error"] = "non-finite values"
                ok = False
            else:
                scale = float(np.abs(ref.astype(np.float64)).max()) if ref.size else 0.0
                diff = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max()) if ref.size else 0.0
                row.update(max_abs_ref=scale, max_abs_diff=diff, rel=diff / scale if scale > 0 else diff)
                if diff > REL_TOL * scale:
                    row["error"] = f"max |diff| {diff:.3g} > {REL_TOL:g} * max |ref| {scale:.3g}"
                    ok = False
                elif check_spread and ref.dtype.kind == "f" and ref.ndim and ref.shape[0] >= 2:
                    spread = float(np.abs(ref[0].astype(np.float64) - ref[1].astype(np.float64)).max())
                    row["batch_spread"] = spread / scale if scale > 0 else 0.0
                    if row["batch_spread"] < MIN_BATCH_SPREAD:
                        row["error"] = (f"outputs barely depend on the input (batch items differ by "
                                        f"{row['batch_spread']:.2g} of max |ref|): the check would be weak; "
                                        "fix the weights or BatchNorm statistics in export_models.py")
                        ok = False
        rows.append(row)
    return ok, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--models-dir", required=True, help="where export_models.py writes (cached between runs)")
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--pare-tool", required=True, help="the pare_run_resave program")
    ap.add_argument("--pare-cli", default=None, help="the pare program (also checks `pare run`)")
    ap.add_argument("--node", default="node")
    args = ap.parse_args()
    check_prerequisites(args.node)
    import numpy as np

    entry = ensure_export(args.model, args.models_dir)
    model = os.path.join(args.models_dir, entry["model"])
    inputs = [f"{k}={os.path.join(args.models_dir, v)}" for k, v in entry["inputs"].items()]
    work = os.path.join(args.work_dir, args.model)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    dirs = {k: os.path.join(work, k) for k in ("pare", "pare_cli", "ort", "ort_resaved")}
    resaved = os.path.join(work, "pare_export.onnx")
    ort_run = os.path.join(HERE, "ort_run.js")

    run([args.pare_tool, model, dirs["pare"], resaved] + inputs, "pare")
    if args.pare_cli:
        run([args.pare_cli, "run", model, "--output-dir", dirs["pare_cli"], "--threads", "2"] +
            [a for i in inputs for a in ("--input", i)], "pare run")
    ort_inputs = [a for i in inputs for a in ("--input", i)]
    run([args.node, ort_run, model, "--output-dir", dirs["ort"]] + ort_inputs, "onnxruntime on the original model")
    run([args.node, ort_run, resaved, "--output-dir", dirs["ort_resaved"]] + ort_inputs,
        "onnxruntime on pare's export")

    ok1, rows1 = compare(np, dirs["ort"], dirs["pare"], "pare vs ORT", check_spread=True)
    ok2, rows2 = compare(np, dirs["ort"], dirs["ort_resaved"], "ORT(pare export) vs ORT")
    if args.pare_cli:
        ok3, rows3 = compare(np, dirs["ort"], dirs["pare_cli"], "pare run vs ORT")
        ok2, rows2 = ok2 and ok3, rows2 + rows3
    for r in rows1 + rows2:
        status = "FAIL " + r["error"] if "error" in r else "ok"
        meas = f"max|ref| {r['max_abs_ref']:.4g}  max|diff| {r['max_abs_diff']:.3g}  rel {r['rel']:.3g}" \
            if "rel" in r else ""
        print(f"{args.model:20s} {r['what']:24s} {r.get('output', ''):10s} {meas}  {status}")
    with open(os.path.join(work, "result.json"), "w") as f:
        json.dump({"model": args.model, "opset": entry["opset"], "input_shape": entry["input_shape"],
                   "tolerance": REL_TOL, "rows": rows1 + rows2}, f, indent=1)
    sys.exit(0 if ok1 and ok2 else 1)


if __name__ == "__main__":
    main()
