// Quantizes the weights a plan names (round to nearest on each layer's grid, with its scale method) and
// puts the results back into a graph: dequantized values for fake-quant execution, or differentiable
// fake-quant overrides on an executor for methods that learn.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "pare/exec/executor.h"
#include "pare/ir/graph.h"
#include "pare/quant/quantized_tensor.h"
#include "pare/quant/recipe.h"

namespace pare::quant {

struct QuantizedLayer {
  LayerPlan plan;
  QuantizedTensor weight;     // undefined codes when plan.quantize is false
  double relative_error = 0;  // ||W - Q(W)||^2 / ||W||^2
  std::string note;           // a method's fallback on this layer (weight_method.h)
  double exponent = 0;        // powerquant: the layer's exponent
  std::string expands;        // a PIPE member's copy of a layer: the original weight (at the split, the
                              // member holds further orders of it: storage counts, weights are not recounted)
};

// Quantizes the weight of every planned layer with `recipe.method` (weight_method.h; the default recipe is
// round to nearest). `progress(done, total)` is called after each.
std::vector<QuantizedLayer> quantize_weights(const ir::Graph& g, const std::vector<LayerPlan>& plans,
                                             const std::function<void(size_t, size_t)>& progress = {},
                                             const Recipe& recipe = Recipe{});

// Replaces each quantized layer's weight by its dequantized value. A weight that other nodes read as
// well (a tied embedding) is copied for the quantized node first, so the others keep the float value.
void substitute_dequantized(ir::Graph& g, const std::vector<QuantizedLayer>& layers);

// Weight overrides that fake-quantize each layer's current float weight on the fly, with straight-through
// gradients (row_quantizer.h), using the scales found by quantize_weights. For methods that learn weights
// or scales: `scales` maps a node name to a tensor (requires_grad as wished) that replaces the stored scales.
void install_fake_quant(exec::Executor& ex, const std::vector<QuantizedLayer>& layers,
                        const std::map<std::string, at::Tensor>& scales = {});

// Total storage of the quantized model in bytes: quantized weights at their bit widths (bits_per_weight
// accounting) plus every other initializer at its stored width.
double model_bits(const ir::Graph& g, const std::vector<QuantizedLayer>& layers);

}  // namespace pare::quant
