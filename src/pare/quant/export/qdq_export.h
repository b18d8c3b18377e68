// QDQ ONNX: each quantized weight becomes an integer initializer read through DequantizeLinear (per
// tensor, or per output channel with `axis`), the form ONNX Runtime's quantizer writes and its CPU
// provider fuses into integer kernels. Activations already carry their Q/DQ pairs (activation_pass.h).
#pragma once
#include <vector>

#include "pare/ir/graph.h"
#include "pare/quant/passes/bias_pass.h"
#include "pare/quant/passes/weight_pass.h"

namespace pare::quant {

// Whether QDQ ONNX (opset 13-20) can hold the layer's weight exactly: a uniform grid with per-tensor or
// per-channel scales. Otherwise `why` says what cannot be expressed.
bool qdq_expressible(const QuantizedLayer& layer, std::string* why = nullptr);

// Throws Error, before any work, when quantizing `g` under `recipe` would give a model that QDQ ONNX cannot
// hold (the method's grid or terms, group scales spanning more than one group), with a hint that fits the
// reason. to_qdq_graph checks the result again.
void check_qdq_export(const ir::Graph& g, const Recipe& recipe);

// `g` (float weights, activation Q/DQ inserted) with every quantized weight replaced by int8 codes and a
// DequantizeLinear node. Codes of 2..7-bit grids are stored in int8 (ONNX INT4 needs opset 21): the
// values, and so the accuracy, are exact; the file is as large as an 8-bit one. Throws Error naming the
// first layer that QDQ cannot express, with a hint to write a .pare package instead. Each of `biases`
// (already rounded in `g`) is stored as int32 codes read through DequantizeLinear at scale s_x * s_w,
// the form ONNX Runtime's QLinearConv takes as it is.
ir::Graph to_qdq_graph(const ir::Graph& g, const std::vector<QuantizedLayer>& layers,
                       const std::vector<QuantizedBias>& biases = {});

}  // namespace pare::quant
