#include "pare/quant/methods/awq_fold.h"

#include <algorithm>

namespace pare::quant {
namespace {

bool read_once(const ir::Graph& g, const std::string& v) { return g.consumers(v).size() == 1 && !g.is_output(v); }

// An initializer with one value per channel ([C], or [1, C]) that only one node reads.
bool per_channel(const ir::Graph& g, const std::string& name, int64_t c) {
  const auto it = g.initializers.find(name);
  return it != g.initializers.end() && it->second.numel() == c && it->second.size(-1) == c && read_once(g, name);
}

bool scalar(const ir::Graph& g, const std::string& name) {
  const auto it = g.initializers.find(name);
  return it != g.initializers.end() && it->second.numel() == 1;
}

// Ops that hand on a per-channel scale of their (first) input unchanged: reshapes of the channel axis (checked
// numerically by the caller) and ReLU.
bool transparent(const std::string& op) {
  static const std::vector<std::string> ops{"Relu", "Reshape", "Transpose", "Expand", "Unsqueeze", "Squeeze"};
  return std::find(ops.begin(), ops.end(), op) != ops.end();
}

}  // namespace

ScaleFold find_fold(const ir::Graph& g, const std::string& x, int64_t channels, const std::vector<std::string>& readers,
                    const std::map<std::string, LayerRef>& layers) {
  ScaleFold f;
  for (const auto id : g.consumers(x))
    if (std::find(readers.begin(), readers.end(), g.nodes[id].name) == readers.end()) {
      f.why_not = "its input is also read by " + g.nodes[id].name;
      return f;
    }
  std::string v = x;
  for (int depth = 0; depth < 32; ++depth) {
    const auto p = g.producer(v);
    if (!p) {
      f.why_not = "its input comes from the block before (nothing in the block to fold a scale into)";
      return f;
    }
    const ir::Node& n = g.nodes[*p];
    const auto layer = layers.find(n.name);
    std::string next;
    if (layer != layers.end()) {
      if (layer->second.out_channels != channels) {
        f.why_not = n.name + " makes " + std::to_string(layer->second.out_channels) + " channels, the input has " +
                    std::to_string(channels) + " (grouped-query attention?)";
        return f;
      }
      f.producers.push_back(layer->second.weight);
      if ((n.op_type == "Gemm" || n.op_type == "Conv") && n.inputs.size() > 2 && !n.inputs[2].empty()) {
        if (!per_channel(g, n.inputs[2], channels)) return f.why_not = "the bias of " + n.name + " is shared", f;
        f.vectors.push_back(n.inputs[2]);
      }
      return f;
    }
    if (n.op_type == "LayerNormalization") {
      for (size_t i = 1; i < n.inputs.size() && i < 3; ++i) {
        if (n.inputs[i].empty()) continue;
        if (!per_channel(g, n.inputs[i], channels)) return f.why_not = "LayerNormalization without own gain", f;
        f.vectors.push_back(n.inputs[i]);
      }
      return f;
    }
    if ((n.op_type == "Mul" || n.op_type == "Add") && n.inputs.size() == 2) {
      const int k = per_channel(g, n.inputs[0], channels) ? 0 : per_channel(g, n.inputs[1], channels) ? 1 : -1;
      if (k >= 0 && n.op_type == "Mul") {  // a gain absorbs the scale: x / s = y * (gain / s)
        f.vectors.push_back(n.inputs[static_cast<size_t>(k)]);
        return f;
      }
      if (k >= 0) {  // a bias: x / s = y / s + b / s
        f.vectors.push_back(n.inputs[static_cast<size_t>(k)]);
        next = n.inputs[static_cast<size_t>(1 - k)];
      } else if (n.op_type == "Mul" && (scalar(g, n.inputs[0]) || scalar(g, n.inputs[1]))) {
        next = scalar(g, n.inputs[0]) ? n.inputs[1] : n.inputs[0];
      } else if (n.op_type == "Mul" && !g.is_initializer(n.inputs[0]) && !g.is_initializer(n.inputs[1])) {
        // An elementwise product (SwiGLU): scale the factor a layer makes directly.
        for (const auto& in : n.inputs) {
          const auto q = g.producer(in);
          if (q && layers.count(g.nodes[*q].name)) next = in;
        }
      }
    } else if (n.op_type == "MatMul" && !g.is_initializer(n.inputs[0]) && !g.is_initializer(n.inputs[1])) {
      next = n.inputs[1];  // probs @ V: the channels are V's
    } else if (transparent(n.op_type)) {
      next = n.inputs[0];
    }
    if (next.empty()) return f.why_not = "its input is made by " + n.op_type + " " + n.name + " (no fold)", f;
    if (!read_once(g, next)) return f.why_not = "a value between it and the op that makes it has other readers", f;
    v = next;
  }
  f.why_not = "no op to fold into within 32 steps";
  return f;
}

}  // namespace pare::quant
