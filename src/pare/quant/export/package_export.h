// The quantized layers of a model as the weights of a .pare package (io/pare_package.h).
#pragma once
#include <vector>

#include "pare/io/pare_package.h"
#include "pare/quant/passes/weight_pass.h"

namespace pare::quant {

// One package weight per quantized layer (layers kept in float are left out), in order.
std::vector<io::PackageWeight> package_weights(const std::vector<QuantizedLayer>& layers);

}  // namespace pare::quant
