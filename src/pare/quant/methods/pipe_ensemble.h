// PIPE ensemble (Yvinec et al., arXiv 2311.15806), as reconstructed in docs/methods/rex.md: the
// residual expansion of the first quantized layer is split over M members that run in parallel on the same
// input and whose outputs are summed. It rests on σ(a + b) ≈ σ(a) + σ(b) for a small residual b, so
// member m ≥ 2 carries no bias anywhere (the sum would otherwise count every later bias M times).
//
// Two variants (the paper's construction is not in its abstract), chosen by `split` (rex option pipe_split):
//   first           candidate A of the spec: member 1 uses the first order in every layer; member m ≥ 2
//                   applies residual orders group m at the first layer and member 1's weights after it.
//   first-expanded  ours: the same split at the first layer, but every later layer keeps all its orders
//                   (summed per layer), so the deeper layers lose nothing of the expansion.
// Orders 2..K of the first layer are split into M - 1 contiguous groups.
//
// It applies only when every op after the split distributes over a sum of members (linear layers, ReLU
// family, pooling, reshapes, residual Add). Otherwise (LayerNorm, Softmax, GELU, ...: the ViT, Llamas) the
// model keeps the per-layer summed expansion and `note` says why.
#pragma once
#include <string>
#include <vector>

#include "pare/ir/graph.h"
#include "pare/quant/passes/weight_pass.h"

namespace pare::quant {

struct PipeEnsemble {
  bool applied = false;
  std::string note;  // why not, when not applied
  int members = 1;
  ir::Graph graph;                     // members side by side, outputs summed
  std::vector<QuantizedLayer> layers;  // member 1's layers (by their original names), then the others'
};

// `g`: the float graph the `layers` (REx expansions) belong to; `members` M; `split` "first" or "first-expanded".
// Throws Error for an ensemble of fewer than 2 members or more members than the first layer has orders.
PipeEnsemble build_pipe_ensemble(const ir::Graph& g, const std::vector<QuantizedLayer>& layers, int members,
                                 const std::string& split);

}  // namespace pare::quant
