"""Writes ONNX-backend-style test folders from torch.onnx exports (torch's own outputs as references),
covering export paths the ONNX test data misses: Resize/Upsample at opsets 9-13, multi-layer and
batch-first recurrent layers, GridSample modes. Usage: /usr/bin/python3 torch_exports.py OUT_ROOT
then `pare_conformance OUT_ROOT --exceptions /dev/null`."""
import os
import sys
import warnings

import torch
import torch.nn.functional as F
from onnx import numpy_helper

warnings.filterwarnings("ignore")
ROOT = os.path.join(sys.argv[1] if len(sys.argv) > 1 else "torch_exports", "node")
torch.manual_seed(0)


def save(name, model, inputs, opset):
    d = os.path.join(ROOT, f"test_torch_{name}")
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    model.eval()
    names = [f"x{i}" for i in range(len(inputs))]
    torch.onnx.export(model, tuple(inputs), os.path.join(d, "model.onnx"), opset_version=opset, input_names=names)
    with torch.no_grad():
        y = model(*inputs)
    y = y[0] if isinstance(y, tuple) else y
    for i, x in enumerate(inputs):
        with open(os.path.join(d, "test_data_set_0", f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(x.numpy(), names[i]).SerializeToString())
    with open(os.path.join(d, "test_data_set_0", "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(y.numpy(), "y").SerializeToString())


class Interp(torch.nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.kw = kw

    def forward(self, x):
        return F.interpolate(x, **self.kw)


class Rnn(torch.nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.cell = cell

    def forward(self, x):
        return self.cell(x)[0]


class GridSample(torch.nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.kw = kw

    def forward(self, x, grid):
        return F.grid_sample(x, grid, **self.kw)


class TopkCumsumTril(torch.nn.Module):
    def forward(self, x):
        return torch.topk(x, 3, dim=1)[0] + torch.cumsum(x, 1)[:, :3] + torch.tril(x)[:, :3]


resize_cases = {
    "nearest_x2": dict(scale_factor=2, mode="nearest"),
    "nearest_down": dict(size=(3, 5), mode="nearest"),
    "bilinear_x2": dict(scale_factor=2, mode="bilinear", align_corners=False),
    "bilinear_ac": dict(size=(7, 9), mode="bilinear", align_corners=True),
    "bilinear_down": dict(size=(3, 4), mode="bilinear", align_corners=False),
    "bicubic_x2": dict(scale_factor=2, mode="bicubic", align_corners=False),
    "bicubic_ac": dict(size=(5, 11), mode="bicubic", align_corners=True),
}
x = torch.randn(2, 3, 6, 8)
for name, kw in resize_cases.items():
    for opset in (9, 10, 11, 13):
        if opset < 11 and (kw["mode"] != "nearest" or "size" in kw):
            continue  # torch exports these only from opset 11 on
        save(f"{name}_op{opset}", Interp(**kw), [x], opset)
save("lstm_bi_2layer", Rnn(torch.nn.LSTM(5, 4, num_layers=2, bidirectional=True)), [torch.randn(6, 3, 5)], 14)
save("gru_batchfirst", Rnn(torch.nn.GRU(5, 4, batch_first=True)), [torch.randn(3, 6, 5)], 14)
save("rnn_relu", Rnn(torch.nn.RNN(5, 4, nonlinearity="relu")), [torch.randn(6, 3, 5)], 14)
for mode in ("bilinear", "nearest", "bicubic"):
    for pad in ("zeros", "border", "reflection"):
        save(f"gridsample_{mode}_{pad}", GridSample(mode=mode, padding_mode=pad, align_corners=False),
             [torch.randn(1, 2, 5, 6), torch.rand(1, 4, 3, 2) * 2.4 - 1.2], 16)
save("topk_cumsum_tril", TopkCumsumTril(), [torch.randn(4, 6)], 14)
