// Compute cost of a quantized model in bit operations (BOPs, as in Baskin et al. and the mixed-precision
// literature): a layer costs MACs x weight bits x activation bits x its expansion's cost factor (REx terms
// are extra integer GEMMs on the same input). MACs come from one run of the float graph on a zero input of
// batch 1 (data-free: only shapes matter), so they count per sample.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "pare/ir/graph.h"
#include "pare/quant/passes/weight_pass.h"

namespace pare::quant {

// Multiply-accumulates per sample of every planned layer's node (output elements x reduction length).
// Graph inputs with unknown dimensions are taken as 1 (batch). Throws Error when an input has no shape.
std::map<std::string, double> layer_macs(const ir::Graph& g, const std::vector<LayerPlan>& plans);

struct BitOperations {
  double macs = 0;       // over the planned layers, per sample
  double bops = 0;       // quantized as planned (float layers and float activations count 32 bits)
  double int8_bops = 0;  // the same layers at 8-bit weights, same activations, no expansion
  double relative() const { return int8_bops > 0 ? bops / int8_bops : 0; }
};

BitOperations bit_operations(const std::vector<QuantizedLayer>& layers, const std::map<std::string, double>& macs);

}  // namespace pare::quant
