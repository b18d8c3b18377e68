# PyTorch twins of pare's zoo builders (src/pare/ir/zoo/{resnet,mobilenet_v2,vit,zoo_common}.cpp): the same
# layers in the same order, strides, channel counts, activations, norm epsilons, attention layout and in-model input
# normalization, with the builders' initialization (the random draws happen in the builders' order, so
# `pare_init(model, seed)` reproduces `pare zoo NAME --seed SEED` bit for bit when both use the same libtorch).
# Used by bench/train_vs_torch.py as the PyTorch side of the training benchmark.
#
#   /usr/bin/python3 bench/torch_zoo.py --check [--build-dir build] [--models resnet20,mobilenetv2,vit]
#
# --check, per model: (a) parameter count (trainable + BatchNorm running statistics, as `pare zoo` counts
# initializers) equals the builder's; (b) weights copied from `pare zoo NAME --seed 1` (ONNX initializers matched by
# name, shape checked; MatMul weights transposed back to nn.Linear's [out, in]) give the same logits as `pare run` on a
# random batch, to 1e-4 relative to the largest logit, both as built and with every norm/bias tensor randomized (so
# BatchNorm statistics, LayerNorm and bias placement matter); (c) whether pare_init(seed 1) equals pare's weights.
# Needs /usr/bin/python3 (Debian's python3-torch, python3-onnx, numpy).
import argparse
import collections
import math
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F

from benchlib import pare as pare_tool
from benchlib.paths import ROOT

# What `pare zoo NAME` reports as "parameters": every initializer, i.e. trainable parameters plus the BatchNorm
# running mean/var (pare's ONNX graphs have no num_batches_tracked).
PARAM_COUNTS = {"resnet20": 273754, "mobilenetv2": 974794, "vit": 805130}
FMNIST_MEAN, FMNIST_STD = 0.2860, 0.3530


def scaled(channels, width, divisor=8):
    """zoo_common.h scaled(): round(channels * width / divisor) * divisor, at least divisor."""
    return max(divisor, int(round(channels * width / divisor)) * divisor)


class Normalize(nn.Module):
    """normalize_input(): (x - mean) * (1 / std) per channel, constants computed in float32 as the builder does."""

    def __init__(self, mean=(FMNIST_MEAN,), std=(FMNIST_STD,)):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1), persistent=False)
        inv = 1.0 / torch.tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.register_buffer("inv_std", inv, persistent=False)

    def forward(self, x):
        return (x - self.mean) * self.inv_std


class ZooModule(nn.Module):
    """Keeps the builder's random draws in order: each entry re-draws one tensor as the C++ builder does."""

    def __init__(self):
        super().__init__()
        self._inits = []

    def add_init(self, fn):
        self._inits.append(fn)

    def pare_init(self, seed):
        torch.manual_seed(seed)
        with torch.no_grad():
            for fn in self._inits:
                fn()
            for m in self.modules():
                if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
                    if isinstance(m, nn.BatchNorm2d):
                        m.reset_running_stats()
        return self


class ConvBN(nn.Sequential):
    """conv_bn(): Conv (no bias, pad k/2) + BatchNorm (eps 1e-5, ONNX momentum 0.9 = PyTorch 0.1) + ReLU/ReLU6/none.
    Init: normal(0, sqrt(2 / fan_out)) with fan_out = cout * k * k / groups (the /groups is the builder's choice,
    as in TF/timm; torch's kaiming_normal_(mode='fan_out') would not divide by groups)."""

    def __init__(self, root, cin, cout, k, stride, groups, act):
        layers = [("conv", nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)),
                  ("bn", nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1))]
        if act == "relu":
            layers.append(("act", nn.ReLU(inplace=True)))
        elif act == "relu6":
            layers.append(("act", nn.ReLU6(inplace=True)))
        else:
            assert act is None, act
        super().__init__(collections.OrderedDict(layers))
        fan_out = cout * k * k // groups
        w = self.conv.weight
        root.add_init(lambda: w.copy_(torch.randn(w.shape) * math.sqrt(2.0 / fan_out)))


def make_linear(root, din, dout, std_dev=0.0):
    """linear(): PyTorch's default Linear init (uniform +-1/sqrt(din) for weight, then bias) unless std_dev > 0
    (normal(0, std_dev) weight, zero bias)."""
    lin = nn.Linear(din, dout)
    bound = 1.0 / math.sqrt(din)

    def init():
        if std_dev > 0:
            lin.weight.copy_(torch.randn(dout, din) * std_dev)
            lin.bias.zero_()
        else:
            lin.weight.copy_((torch.rand(dout, din) * 2 - 1) * bound)
            lin.bias.copy_((torch.rand(dout) * 2 - 1) * bound)

    root.add_init(init)
    return lin


# ---------------------------------------------------------------------------------------------------- ResNet-6n+2
class BasicBlock(nn.Module):
    def __init__(self, root, cin, cout, stride):
        super().__init__()
        self.conv1 = ConvBN(root, cin, cout, 3, stride, 1, "relu")
        self.conv2 = ConvBN(root, cout, cout, 3, 1, 1, None)
        # Projection shortcut (1x1 conv + BN, the paper's option B) where the shape changes.
        self.shortcut = ConvBN(root, cin, cout, 1, stride, 1, None) if (stride != 1 or cin != cout) else None

    def forward(self, x):
        h = self.conv2(self.conv1(x))
        return F.relu(h + (self.shortcut(x) if self.shortcut is not None else x))


class ResNet(ZooModule):
    def __init__(self, depth=20, classes=10, in_channels=1, width=1.0):
        super().__init__()
        assert depth >= 8 and (depth - 2) % 6 == 0
        n = (depth - 2) // 6
        self.normalize = Normalize()
        c = scaled(16, width)
        self.stem = ConvBN(self, in_channels, c, 3, 1, 1, "relu")
        for stage in range(3):
            cout = scaled(16 << stage, width)
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(self, c, cout, 2 if (stage > 0 and i == 0) else 1))
                c = cout
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.fc = make_linear(self, c, classes)  # Gemm transB=1

    def forward(self, x):
        h = self.stem(self.normalize(x))
        h = self.layer3(self.layer2(self.layer1(h)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


# -------------------------------------------------------------------------------------------------- MobileNetV2
class InvertedResidual(nn.Module):
    def __init__(self, root, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.expand = ConvBN(root, cin, hidden, 1, 1, 1, "relu6") if expand != 1 else None
        self.depthwise = ConvBN(root, hidden, hidden, 3, stride, hidden, "relu6")
        self.project = ConvBN(root, hidden, cout, 1, 1, 1, None)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        h = self.expand(x) if self.expand is not None else x
        h = self.project(self.depthwise(h))
        return h + x if self.residual else h


class MobileNetV2(ZooModule):
    # (expansion t, channels c, repeats n, first stride s): 28x28 -> 28 -> 14 -> 14 -> 7 -> 7 -> 4
    STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 1), (6, 64, 3, 2), (6, 96, 2, 1), (6, 160, 2, 2)]

    def __init__(self, classes=10, in_channels=1, width=1.0):
        super().__init__()
        self.normalize = Normalize()
        c = scaled(32, width)
        self.stem = ConvBN(self, in_channels, c, 3, 1, 1, "relu6")
        blocks = []  # named block0, block1, ... as in the builder
        for t, ch, n, s in self.STAGES:
            cout = scaled(ch, width)
            for i in range(n):
                blocks.append(InvertedResidual(self, c, cout, s if i == 0 else 1, t))
                self.add_module(f"block{len(blocks) - 1}", blocks[-1])
                c = cout
        self.blocks = blocks  # a plain list: the modules are registered once, under the builder's names
        features = scaled(640, max(1.0, width))
        self.head = ConvBN(self, c, features, 1, 1, 1, "relu6")
        self.dropout = nn.Dropout(0.2)
        self.classifier = make_linear(self, features, classes, 0.01)  # Gemm transB=1

    def forward(self, x):
        h = self.stem(self.normalize(x))
        for b in self.blocks:
            h = b(h)
        h = self.head(h)
        h = torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)
        return self.classifier(self.dropout(h))


# ---------------------------------------------------------------------------------------------------------- ViT
class Attention(nn.Module):
    """Separate q/k/v projections (as the builder: three MatMul+Add), softmax(q k^T / sqrt(dh)) v, output proj."""

    def __init__(self, root, dim, heads):
        super().__init__()
        self.heads, self.dh = heads, dim // heads
        self.q = make_linear(root, dim, dim, 0.02)
        self.k = make_linear(root, dim, dim, 0.02)
        self.v = make_linear(root, dim, dim, 0.02)
        self.proj = make_linear(root, dim, dim, 0.02)
        self.scale = 1.0 / math.sqrt(float(self.dh))

    def forward(self, x):
        n, t, d = x.shape
        q = self.q(x).reshape(n, t, self.heads, self.dh).transpose(1, 2)  # [N, H, T, Dh]
        k = self.k(x).reshape(n, t, self.heads, self.dh).permute(0, 2, 3, 1)  # [N, H, Dh, T]
        v = self.v(x).reshape(n, t, self.heads, self.dh).transpose(1, 2)
        p = torch.softmax(torch.matmul(q, k) * self.scale, dim=-1)
        o = torch.matmul(p, v).transpose(1, 2).reshape(n, t, d)
        return self.proj(o)


class Block(nn.Module):
    def __init__(self, root, dim, heads, mlp):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(root, dim, heads)
        self.ln2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = make_linear(root, dim, mlp, 0.02)
        self.gelu = nn.GELU()  # exact erf form, as the builder's Erf-based GELU
        self.fc2 = make_linear(root, mlp, dim, 0.02)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(self.gelu(self.fc1(self.ln2(x))))


class ViT(ZooModule):
    def __init__(self, classes=10, in_channels=1, image_size=28, width=1.0, depth=6):
        super().__init__()
        dim = int(round(128 * width))
        heads, patch = 4, 4
        mlp = 2 * dim
        assert dim % heads == 0 and image_size % patch == 0
        tokens = (image_size // patch) ** 2 + 1
        self.normalize = Normalize()
        self.patch = nn.Conv2d(in_channels, dim, patch, patch)
        fan_in = in_channels * patch * patch
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.zeros(1, tokens, dim))
        # Builder order of draws: patch weight (uniform +-1/sqrt(fan_in), zero bias), class token, position embedding,
        # then the blocks, then the head.
        self.add_init(lambda: (self.patch.weight.copy_((torch.rand(self.patch.weight.shape) * 2 - 1) / math.sqrt(fan_in)),
                               self.patch.bias.zero_()))
        self.add_init(lambda: self.cls_token.copy_(torch.randn(1, 1, dim) * 0.02))
        self.add_init(lambda: self.pos_embedding.copy_(torch.randn(1, tokens, dim) * 0.02))
        self.blocks = [Block(self, dim, heads, mlp) for _ in range(depth)]
        for i, b in enumerate(self.blocks):
            self.add_module(f"block{i}", b)  # the builder's names
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = make_linear(self, dim, classes, 0.02)

    def forward(self, x):
        h = self.patch(self.normalize(x))  # [N, D, 7, 7]
        h = h.flatten(2).transpose(1, 2)  # [N, 49, D]
        h = torch.cat([self.cls_token.expand(h.shape[0], -1, -1), h], dim=1) + self.pos_embedding
        for b in self.blocks:
            h = b(h)
        h = self.norm(h)
        return self.head(h[:, 0])


def build(name, classes=10, seed=0):
    """The PyTorch twin of `pare zoo NAME --classes C --seed S` (weights drawn as the builder draws them)."""
    if name.startswith("resnet") and name[6:].isdigit():
        m = ResNet(int(name[6:]), classes)
    elif name == "mobilenetv2":
        m = MobileNetV2(classes)
    elif name == "vit":
        m = ViT(classes)
    else:
        raise ValueError(f"unknown zoo model {name!r}")
    return m.pare_init(seed)


def count_like_pare(model):
    """Trainable parameters plus BatchNorm running mean/var: what `pare zoo` prints as parameters."""
    n = sum(p.numel() for p in model.parameters())
    for name, b in model.named_buffers():
        if name.endswith("running_mean") or name.endswith("running_var"):
            n += b.numel()
    return n


def decay_groups(model, weight_decay):
    """pare train's rule: decay Conv/Linear weights only (not norms, biases, class token, position embedding)."""
    decay, no_decay = [], []
    for m in model.modules():
        for pname, p in m.named_parameters(recurse=False):
            (decay if isinstance(m, (nn.Conv2d, nn.Linear)) and pname == "weight" else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


# ------------------------------------------------------------------------------------------------ ONNX weights
def onnx_weights(path):
    """{initializer name: (numpy array, used as MatMul's B)} of an ONNX file."""
    import onnx
    from onnx import numpy_helper
    g = onnx.load(path).graph
    matmul_b = {n.input[1] for n in g.node if n.op_type == "MatMul" and len(n.input) > 1}
    return {i.name: (numpy_helper.to_array(i), i.name in matmul_b) for i in g.initializer}


def load_onnx_weights(model, weights):
    """Copy ONNX initializers into `model`: same names, except a ConvBN's conv weight ('X.weight' -> 'X.conv.weight');
    MatMul weights are stored [in, out] and go back to nn.Linear's [out, in]. Every tensor on both sides must be used."""
    state = model.state_dict()
    wanted = {k for k in state if not k.endswith("num_batches_tracked")}
    new = {}
    for name, (arr, is_matmul_b) in weights.items():
        key = name if name in state else name[: -len(".weight")] + ".conv.weight" if name.endswith(".weight") else name
        if key not in state:
            raise KeyError(f"ONNX initializer {name} has no PyTorch counterpart")
        t = torch.from_numpy(arr.copy())
        if is_matmul_b:
            t = t.t().contiguous()
        if tuple(t.shape) != tuple(state[key].shape):
            raise ValueError(f"{name}: ONNX {tuple(t.shape)} vs PyTorch {key} {tuple(state[key].shape)}")
        new[key] = t
    missing = wanted - set(new)
    if missing:
        raise KeyError(f"PyTorch tensors with no ONNX initializer: {sorted(missing)[:5]}")
    model.load_state_dict(new, strict=False)
    return model


def perturb_onnx(src, dst, seed=123, matmul_gain=1.0, embedding_gain=1.0):
    """A copy of `src` whose 1-D initializers (BN/LN scales, shifts, statistics; biases) are random, so a check
    on it would catch a wrong epsilon, a swapped mean/var or a missing bias, which ones/zeros hide. With gains,
    MatMul weights are scaled by `matmul_gain` (larger GELU inputs: the tanh form of GELU then shows) and the class
    token and position embedding by `embedding_gain` (a small-variance class row: LayerNorm's epsilon then shows)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper
    rng = np.random.default_rng(seed)
    m = onnx.load(src)
    matmul_b = {n.input[1] for n in m.graph.node if n.op_type == "MatMul" and len(n.input) > 1}
    for i, init in enumerate(m.graph.initializer):
        a = numpy_helper.to_array(init)
        if a.ndim != 1:
            gain = (matmul_gain if init.name in matmul_b else
                    embedding_gain if init.name in ("cls_token", "pos_embedding") else 1.0)
            if gain != 1.0:
                m.graph.initializer[i].CopyFrom(numpy_helper.from_array((a * gain).astype(a.dtype), init.name))
            continue
        if init.name.endswith("running_var"):
            b = rng.uniform(0.5, 2.0, a.shape)
        elif init.name.endswith("running_mean"):
            b = rng.normal(0, 0.2, a.shape)
        elif init.name.endswith(".weight"):  # norm scales
            b = rng.uniform(0.5, 1.5, a.shape)
        else:
            b = rng.normal(0, 0.1, a.shape)
        m.graph.initializer[i].CopyFrom(numpy_helper.from_array(b.astype(a.dtype), init.name))
    onnx.save(m, dst)


def pare_logits(pare, model_path, x, workdir):
    import numpy as np
    inp = os.path.join(workdir, "input.npy")
    out_dir = os.path.join(workdir, "out")
    np.save(inp, x)
    res = subprocess.run([pare, "run", model_path, "--input", inp, "--output-dir", out_dir],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"pare run failed ({res.returncode}): {res.stderr.strip()}")
    return np.load(os.path.join(out_dir, "logits.npy"))


def compare(a, b):
    """max |a - b| relative to the largest |b| (logits near zero make per-element relative errors meaningless)."""
    import numpy as np
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def check_model(name, pare, tol=1e-4, batch=8):
    lines, ok = [], True
    twin = build(name, seed=1).eval()
    n = count_like_pare(twin)
    good = n == PARAM_COUNTS[name]
    ok &= good
    trainable = sum(p.numel() for p in twin.parameters())
    lines.append(f"  parameters {n} (expected {PARAM_COUNTS[name]}; trainable {trainable}) {'ok' if good else 'MISMATCH'}")
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = os.path.join(tmp, name + ".onnx")
        res = subprocess.run([pare, "zoo", name, "--out", onnx_path, "--seed", "1"], capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"pare zoo {name} failed: {res.stderr.strip()}")
        w = onnx_weights(onnx_path)
        onnx_count = sum(a.size for a, _ in w.values())
        good = onnx_count == PARAM_COUNTS[name]
        ok &= good
        lines.append(f"  pare zoo initializers {onnx_count} {'ok' if good else 'MISMATCH'}")
        # (c) informational: does pare_init(1) draw the very same weights? (same libtorch generator and order)
        sd = twin.state_dict()
        same = True
        for k, (arr, mm) in w.items():
            key = k if k in sd else k[: -len(".weight")] + ".conv.weight"
            t = torch.from_numpy(arr.copy())
            same &= torch.equal(t.t() if mm else t, sd[key])
        lines.append(f"  pare_init(seed 1) reproduces pare's weights bit for bit: {'yes' if same else 'no (weights are copied)'}")
        x = torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(7)).numpy()
        variants = [("as built", onnx_path)]
        pert = os.path.join(tmp, name + ".perturbed.onnx")
        perturb_onnx(onnx_path, pert)
        variants.append(("random norms/biases", pert))
        if name == "vit":
            stress = os.path.join(tmp, name + ".stress.onnx")
            perturb_onnx(onnx_path, stress, matmul_gain=8.0, embedding_gain=0.05)
            variants.append(("random norms/biases, MatMul weights x8, cls/pos x0.05", stress))
        for label, path in variants:
            model = load_onnx_weights(build(name, seed=1), onnx_weights(path)).eval()
            with torch.no_grad():
                mine = model(torch.from_numpy(x)).numpy()
            ref = pare_logits(pare, path, x, tmp)
            err = compare(mine, ref)
            good = mine.shape == ref.shape and err <= tol
            ok &= good
            lines.append(f"  logits {label}: shape {list(mine.shape)}, max|diff|/max|pare| = {err:.2e} "
                         f"{'ok' if good else 'FAIL'}")
        if name == "vit":
            # Negative controls on the last (stress) variant: the check must be able to tell these apart.
            for label, change in [("tanh GELU", lambda m: [setattr(b, "gelu", nn.GELU(approximate="tanh"))
                                                           for b in m.blocks]),
                                  ("LayerNorm eps 1e-5", lambda m: [setattr(ln, "eps", 1e-5) for ln in m.modules()
                                                                    if isinstance(ln, nn.LayerNorm)])]:
                wrong = load_onnx_weights(build(name, seed=1), onnx_weights(path)).eval()
                change(wrong)
                with torch.no_grad():
                    e = compare(wrong(torch.from_numpy(x)).numpy(), ref)
                good = e > tol
                ok &= good
                lines.append(f"  negative control, {label}: {e:.2e} {'(caught) ok' if good else 'NOT CAUGHT'}")
        # Smoke test of the training-mode path bench/train_vs_torch.py uses (not compared with pare).
        model.train()
        model(torch.from_numpy(x)).sum().backward()
    return ok, lines


def main():
    ap = argparse.ArgumentParser(description="PyTorch twins of pare's zoo models")
    ap.add_argument("--check", action="store_true", help="compare the twins with pare zoo/pare run")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default="resnet20,mobilenetv2,vit")
    args = ap.parse_args()
    if not args.check:
        for name in args.models.split(","):
            print(f"{name}: {count_like_pare(build(name))} parameters (pare's count)")
        return 0
    pare = pare_tool.binary(args.build_dir)
    all_ok = True
    for name in args.models.split(","):
        try:
            ok, lines = check_model(name, pare)
        except Exception as e:  # report, and go on with the next model
            ok, lines = False, [f"  error: {type(e).__name__}: {e}"]
        all_ok &= ok
        print(f"{name}: {'OK' if ok else 'FAIL'}")
        for line in lines:
            print(line)
        sys.stdout.flush()
    print("OK" if all_ok else "FAIL")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
