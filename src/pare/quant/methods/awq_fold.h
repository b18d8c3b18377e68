// Where AWQ's per-input-channel scale goes (awq.h): a group of layers reading value x computes the same
// function with weights W·diag(s) on the input x·diag(1/s) when 1/s can be folded into the op that makes x:
//   - a norm's gain (and bias): x = y * gain [+ beta] (RMSNorm, decomposed LayerNorm) or LayerNormalization;
//   - a layer's output channels (its weight's rows and its bias): x = that layer's output, possibly through a
//     bias Add, ReLU (positively homogeneous), an elementwise product with another value (SwiGLU's
//     silu(gate) * up), or the attention product with its head reshapes (probs @ V: the value projection),
//     as long as x has exactly the layer's output channels (no grouped-query repetition).
// Every value on the way must be read only by the next op (else the fold would change another reader), and
// everything folded into must be held by the block. The caller verifies the fold numerically.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "pare/ir/graph.h"

namespace pare::quant {

struct ScaleFold {
  std::vector<std::string> vectors;    // 1-D initializers with one value per channel, divided by s
  std::vector<std::string> producers;  // layer weights (names) whose output channels are divided by s
  std::string why_not;                 // set when there is nowhere to fold
};

// A layer of the block that may make x: its weight and its number of output channels.
struct LayerRef {
  std::string weight;
  int64_t out_channels = 0;
};

// For the layers whose nodes are `readers` (all of x's readers must be among them), reading `x` with
// `channels` channels. `layers`: the block's layers by node name (the possible producers).
ScaleFold find_fold(const ir::Graph& g, const std::string& x, int64_t channels, const std::vector<std::string>& readers,
                    const std::map<std::string, LayerRef>& layers);

}  // namespace pare::quant
