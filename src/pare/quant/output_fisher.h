// The diagonal empirical Fisher at intermediate values of a float model, what BRECQ weights its block
// reconstruction loss with: per sample, the squared gradient of the model's loss at each value. With no labels
// at hand the loss is the cross-entropy of the model's output with its own top-1 prediction (the empirical
// Fisher of the model's predictive distribution at its mode).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "pare/blocks/block_source.h"
#include "pare/ir/graph.h"

namespace pare::quant {

// Per value of `names`, per batch of `batches` (model inputs): the squared gradient, shaped as the value. A
// value the output does not depend on gets ones (its loss is then the plain squared error).
std::map<std::string, std::vector<at::Tensor>> output_fisher(const ir::Graph& g, const std::vector<std::string>& names,
                                                             const std::vector<blocks::Values>& batches);

}  // namespace pare::quant
