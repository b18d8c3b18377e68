# Exports real PyTorch architectures (torchvision ConvNets, a small ViT, a BERT-like encoder) with seeded random
# weights and non-trivial BatchNorm statistics to ONNX, plus one seeded random input per model and a manifest.
# Run with /usr/bin/python3 (it has torch); nothing it writes is committed.
import argparse
import hashlib
import json
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn
import torchvision.models as tvm
from torchvision.models.vision_transformer import VisionTransformer


class TinyBert(nn.Module):
    """Token + learned position embedding, a 2-layer post-norm encoder (batch_first), a per-token head."""

    def __init__(self, vocab=100, seq=16, d_model=64, heads=4, layers=2, classes=10):
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.randn(1, seq, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=2 * d_model, dropout=0.1,
                                           activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, classes)

    def forward(self, tokens):
        x = self.tok(tokens) + self.pos[:, : tokens.shape[1]]
        return self.head(self.norm(self.encoder(x)))


def small_vit():
    vit = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128,
                            num_classes=10)
    # torchvision starts the head at zero, which would make every output 0 and hide any error upstream.
    for m in vit.heads.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.2)
            nn.init.normal_(m.bias, std=0.2)
    nn.init.normal_(vit.class_token, std=0.5)
    return vit


# name -> (constructor, input shape without batch, opset). Resolutions are small so the test stays fast.
VISION = {
    "resnet18": (lambda: tvm.resnet18(), (3, 64, 64), 14),
    "mobilenet_v2": (lambda: tvm.mobilenet_v2(), (3, 64, 64), 14),
    "mobilenet_v3_small": (lambda: tvm.mobilenet_v3_small(), (3, 64, 64), 14),
    "efficientnet_b0": (lambda: tvm.efficientnet_b0(), (3, 64, 64), 14),
    "shufflenet_v2_x0_5": (lambda: tvm.shufflenet_v2_x0_5(), (3, 64, 64), 14),
    "squeezenet1_1": (lambda: tvm.squeezenet1_1(), (3, 64, 64), 14),
    "densenet121": (lambda: tvm.densenet121(), (3, 64, 64), 14),
    "googlenet": (lambda: tvm.googlenet(aux_logits=False, init_weights=True), (3, 64, 64), 14),
    "regnet_x_400mf": (lambda: tvm.regnet_x_400mf(), (3, 64, 64), 14),
    "mnasnet0_5": (lambda: tvm.mnasnet0_5(), (3, 64, 64), 14),
    "vit_tiny": (small_vit, (3, 32, 32), 14),
}
TEXT = {"bert_tiny_op14": 14, "bert_tiny_op17": 17}
ALL = list(VISION) + list(TEXT)


def script_sha256():
    """Identifies this script's version: a manifest written by another version is stale."""
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def seed_of(name):
    return sum(ord(c) * (i + 1) for i, c in enumerate(name)) % 100003


def settle_batchnorm(model, shape, seed):
    """Gives BatchNorm non-trivial affine parameters and running statistics measured on random data (cumulative
    average over a few train-mode passes), then switches to eval. Statistics that match the data keep activations
    in range, so the outputs depend on the input and the cross-check sees errors from every layer."""
    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.copy_(0.5 + torch.rand(bn.weight.shape, generator=gen))
            bn.bias.copy_(0.1 * torch.randn(bn.bias.shape, generator=gen))
            bn.reset_running_stats()
            bn.momentum = None  # cumulative moving average: the running stats become the data's statistics
        if bns:
            model.train()
            for _ in range(4):
                model(torch.randn((8,) + shape, generator=gen))
    model.eval()
    return model


def export(model, example, path, input_name, opset, dynamic_seq=False):
    axes = {input_name: {0: "batch"}, "output": {0: "batch"}}
    if dynamic_seq:
        axes[input_name][1] = "seq"
        axes["output"][1] = "seq"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, path, opset_version=opset, input_names=[input_name], output_names=["output"],
                          dynamic_axes=axes, do_constant_folding=True)


def export_one(name, out_dir, batch, image_size=None):
    seed = seed_of(name)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    path = os.path.join(out_dir, name + ".onnx")
    if name in VISION:
        ctor, shape, opset = VISION[name]
        if image_size and name != "vit_tiny":  # the ViT is built for 32x32
            shape = (shape[0], image_size, image_size)
        model = settle_batchnorm(ctor(), shape, seed)
        x = rng.standard_normal((batch,) + shape, dtype=np.float32)
        input_name = "input"
        export(model, torch.from_numpy(x), path, input_name, opset)
    else:
        opset = TEXT[name]
        model = TinyBert().eval()
        x = rng.integers(0, 100, size=(batch, 16), dtype=np.int64)
        input_name = "tokens"
        export(model, torch.from_numpy(x), path, input_name, opset)
    input_file = name + ".input.npy"
    np.save(os.path.join(out_dir, input_file), x)
    return {"name": name, "model": name + ".onnx", "opset": opset, "seed": seed,
            "inputs": {input_name: input_file}, "input_shape": list(x.shape)}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out_dir")
    ap.add_argument("--models", default=",".join(ALL), help="comma-separated subset of: " + ", ".join(ALL))
    ap.add_argument("--batch", type=int, default=2, help="batch of the saved input (the export has a dynamic batch)")
    ap.add_argument("--image-size", type=int, default=None, help="ConvNet input height/width (default 64)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.out_dir, exist_ok=True)
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in ALL]
    if unknown:
        sys.exit("unknown model(s): " + ", ".join(unknown) + "; known: " + ", ".join(ALL))
    for n in names:
        entry = export_one(n, args.out_dir, args.batch, args.image_size)
        entry["batch"] = args.batch
        entry["script_sha256"] = script_sha256()
        # One manifest per model, written last: its presence means the export is complete.
        tmp = os.path.join(args.out_dir, n + ".json.tmp")
        with open(tmp, "w") as f:
            json.dump(entry, f, indent=1)
        os.replace(tmp, os.path.join(args.out_dir, n + ".json"))


if __name__ == "__main__":
    main()
