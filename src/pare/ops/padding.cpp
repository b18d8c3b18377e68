// ONNX auto_pad rules: SAME_UPPER puts the odd extra pad at the end, SAME_LOWER at the beginning.
#include "pare/ops/padding.h"

namespace pare::ops {

Padding resolve_padding(const OpContext& ctx, at::IntArrayRef spatial, const std::vector<int64_t>& kernel,
                        const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations) {
  const size_t n = spatial.size();
  Padding p{std::vector<int64_t>(n, 0), std::vector<int64_t>(n, 0)};
  const std::string auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  if (auto_pad == "NOTSET") {
    std::vector<int64_t> pads = ctx.attr_ints("pads", std::vector<int64_t>(2 * n, 0));
    if (pads.size() != 2 * n)
      ctx.fail("'pads' has " + std::to_string(pads.size()) + " entries, expected " + std::to_string(2 * n));
    for (size_t i = 0; i < n; ++i) {
      p.begin[i] = pads[i];
      p.end[i] = pads[i + n];
    }
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (size_t i = 0; i < n; ++i) {
      const int64_t out = (spatial[i] + strides[i] - 1) / strides[i];
      const int64_t eff_k = (kernel[i] - 1) * dilations[i] + 1;
      const int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + eff_k - spatial[i]);
      const int64_t small = total / 2, big = total - small;
      p.begin[i] = auto_pad == "SAME_UPPER" ? small : big;
      p.end[i] = auto_pad == "SAME_UPPER" ? big : small;
    }
  } else if (auto_pad != "VALID") {
    ctx.fail("unknown auto_pad '" + auto_pad + "'", "use NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  }
  return p;
}

at::Tensor pad_spatial(const at::Tensor& x, const Padding& p, double value) {
  // constant_pad_nd takes (last dim begin, last dim end, previous dim begin, ...).
  std::vector<int64_t> torch_pad;
  for (size_t i = p.begin.size(); i-- > 0;) {
    torch_pad.push_back(p.begin[i]);
    torch_pad.push_back(p.end[i]);
  }
  return at::constant_pad_nd(x, torch_pad, value);
}

}  // namespace pare::ops
