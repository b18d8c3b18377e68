// OpContext: what an op implementation sees of its node: attributes with ONNX defaults, the model's
// opset, training mode, and a way to fail with an Error that names the node.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "pare/ir/graph.h"

namespace pare::ops {

using Tensors = std::vector<at::Tensor>;

class OpContext {
 public:
  OpContext(const ir::Node& node, int64_t opset, bool training, bool channels_last = false)
      : node_(node), opset_(opset), training_(training), channels_last_(channels_last) {}

  const ir::Node& node() const { return node_; }
  int64_t opset() const { return opset_; }
  bool training() const { return training_; }
  // Convolutions should compute in NHWC (oneDNN's fast layout); values stay logically NCHW.
  bool channels_last() const { return channels_last_; }

  bool has_attr(const std::string& key) const { return node_.has_attr(key); }
  int64_t attr_int(const std::string& key) const;  // required
  int64_t attr_int(const std::string& key, int64_t def) const;
  double attr_float(const std::string& key, double def) const;
  std::string attr_string(const std::string& key, const std::string& def) const;
  std::vector<int64_t> attr_ints(const std::string& key, std::vector<int64_t> def = {}) const;
  std::vector<double> attr_floats(const std::string& key, std::vector<double> def = {}) const;
  std::vector<std::string> attr_strings(const std::string& key, std::vector<std::string> def = {}) const;
  at::Tensor attr_tensor(const std::string& key) const;  // required

  // Throws Error("<op>: what") naming this node.
  [[noreturn]] void fail(const std::string& what, const std::string& hint = "") const;

 private:
  const ir::Attribute& get(const std::string& key, ir::Attribute::Kind kind) const;
  const ir::Node& node_;
  int64_t opset_;
  bool training_;
  bool channels_last_;
};

// Input i, or an undefined tensor when the input is omitted (absent or named "").
inline at::Tensor opt_input(const Tensors& in, size_t i) { return i < in.size() ? in[i] : at::Tensor(); }
inline bool has_input(const Tensors& in, size_t i) { return i < in.size() && in[i].defined(); }

// Reads a 1-D int64/int32 tensor (shape, axes, pads inputs) into a vector.
std::vector<int64_t> to_int_vector(const at::Tensor& t);
// Resolves a possibly negative axis against `rank`; fails naming the node when out of range.
int64_t normalize_axis(const OpContext& ctx, int64_t axis, int64_t rank);

}  // namespace pare::ops
