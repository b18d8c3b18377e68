// Activation quantization: calibrate observers on the inputs of the quantized layers, then insert
// QuantizeLinear -> DequantizeLinear pairs (uint8 codes with a zero point; one scale per tensor, or static
// per-channel scales along the activation's channel axis) in front of them. Below 8 bits the values are
// first clamped to the b-bit code range (Clip per tensor, Max/Min per channel), so that standard ONNX
// expresses b-bit activations exactly and ONNX Runtime computes the same values. Runs after BatchNorm
// folding, so that what is observed is what the folded layers read.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "pare/data/dataset.h"
#include "pare/ir/graph.h"
#include "pare/quant/format_types.h"
#include "pare/quant/observers/observer.h"
#include "pare/quant/recipe.h"

namespace pare::quant {

struct ActivationQuant {
  std::string value;      // the activation (an input of one or more quantized layers)
  Grid grid;              // uint-b; zero point 0 when nothing negative was seen
  at::Tensor scale;       // float: a scalar, or [C] along `axis`
  at::Tensor zero_point;  // uint8, shaped as `scale`
  int64_t axis = -1;      // channel axis of per-channel scales; -1: per tensor
  int64_t rank = 0;       // rank of the activation (per-channel only)
  double observed_min = 0, observed_max = 0;
};

struct CalibrationOptions {
  ObserverKind observer = ObserverKind::MinMax;
  bool per_channel = false;
  int64_t batch_size = 64;
  uint64_t seed = 0;
};

// Runs `calib` through `g` (float, inference) and returns one ActivationQuant per distinct activation
// input of the planned layers with abits > 0 (at the smallest bit width any of its readers asks for).
// `progress(done, total)` counts samples.
std::vector<ActivationQuant> calibrate_activations(const ir::Graph& g, const std::vector<LayerPlan>& plans,
                                                   const data::Dataset& calib, const CalibrationOptions& options,
                                                   const std::function<void(int64_t, int64_t)>& progress = {});

// Inserts the quantizers after each activation and rewires the quantized layers (only those) to read
// the dequantized value.
void insert_activation_qdq(ir::Graph& g, const std::vector<ActivationQuant>& acts, const std::vector<LayerPlan>& plans);

}  // namespace pare::quant
