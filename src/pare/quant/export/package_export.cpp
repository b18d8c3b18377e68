#include "pare/quant/export/package_export.h"

namespace pare::quant {

std::vector<io::PackageWeight> package_weights(const std::vector<QuantizedLayer>& layers) {
  std::vector<io::PackageWeight> out;
  for (const auto& l : layers) {
    if (!l.plan.quantize) continue;
    io::PackageWeight w;
    w.node = l.plan.layer.node;
    w.weight = l.plan.layer.weight;
    w.weight_input = l.plan.layer.weight_input;
    w.op_type = l.plan.layer.op_type;
    w.q = l.weight;
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace pare::quant
