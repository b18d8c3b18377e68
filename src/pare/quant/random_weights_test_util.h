// Seeded synthetic weights for the quantizer tests: the bell-shaped distributions the method pages
// (docs/methods/powerquant.md, ternary.md) state their expected values on.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

namespace pare::quant::testing {

// Laplace(0, 1) by its inverse CDF, drawn in double and returned as float.
inline at::Tensor laplace(at::IntArrayRef shape, uint64_t seed) {
  at::manual_seed(seed);
  const at::Tensor u = at::rand(shape, at::kDouble) - 0.5;
  return (-u.sign() * at::log1p(-2 * u.abs())).to(at::kFloat);
}

inline at::Tensor gaussian(at::IntArrayRef shape, uint64_t seed) {
  at::manual_seed(seed);
  return at::randn(shape);
}

}  // namespace pare::quant::testing
