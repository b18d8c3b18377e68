// Puts quantized layers (quantize_blocks.h) back into a graph: dequantized values for fake-quant execution,
// or differentiable fake-quant overrides on an executor for methods that learn; and the model's storage.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "pare/exec/executor.h"
#include "pare/ir/graph.h"
#include "pare/quant/layer_result.h"

namespace pare::quant {

// Replaces each quantized layer's weight by its dequantized value. A weight that other nodes read as
// well (a tied embedding) is copied for the quantized node first, so the others keep the float value.
void substitute_dequantized(ir::Graph& g, const std::vector<QuantizedLayer>& layers);

// Weight overrides that fake-quantize each layer's current float weight on the fly, with straight-through
// gradients (fake_quantize.h), using the scales the quantized layers hold. For methods that learn weights
// or scales: `scales` maps a node name to a tensor (requires_grad as wished) that replaces the stored scales.
void install_fake_quant(exec::Executor& ex, const std::vector<QuantizedLayer>& layers,
                        const std::map<std::string, at::Tensor>& scales = {});

// Total storage of the quantized model in bytes: quantized weights at their bit widths (bits_per_weight
// accounting) plus every other initializer at its stored width.
double model_bits(const ir::Graph& g, const std::vector<QuantizedLayer>& layers);

}  // namespace pare::quant
