// Building blocks shared by the zoo builders: initializers with standard inits, conv+BN(+act), linear.
#pragma once
#include <cmath>
#include <string>

#include "pare/ir/graph_builder.h"
#include "pare/ir/zoo/zoo.h"

namespace pare::ir::zoo {

// Input normalization (x - mean) / std per channel, as graph nodes.
std::string normalize_input(GraphBuilder& b, const std::string& x, const ZooOptions& o);

// Conv (no bias) + BatchNormalization, optionally followed by "Relu" or "Relu6". Kaiming-normal (fan_out) init.
std::string conv_bn(GraphBuilder& b, const std::string& x, int64_t cin, int64_t cout, int64_t k, int64_t stride,
                    int64_t groups, const std::string& act, const std::string& name);

// y = x W^T + b over the last axis (Gemm for 2-D input, MatMul + Add otherwise). PyTorch's default
// Linear init (uniform +-1/sqrt(fan_in)) unless `std_dev` > 0 (normal(0, std_dev), zero bias).
std::string linear(GraphBuilder& b, const std::string& x, int64_t din, int64_t dout, const std::string& name,
                   bool two_d, double std_dev = 0.0);

inline int64_t scaled(int64_t channels, double width, int64_t divisor = 8) {
  int64_t c = static_cast<int64_t>(std::llround(channels * width / divisor)) * divisor;
  return std::max(divisor, c);
}

}  // namespace pare::ir::zoo
