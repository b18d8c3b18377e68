// The per-method weight operator (each registry entry's `weight`, through quantize_layer): its documented
// fallbacks, and PowerQuant's row-sampled exponent search agreeing with the search over the whole tensor.
#include "pare/quant/quantize_blocks.h"

#include <gtest/gtest.h>

#include "pare/error.h"
#include "pare/quant/methods/power_search.h"

namespace pare::quant {
namespace {

LayerPlan plan(int bits) {
  LayerPlan p;
  p.layer.node = p.layer.weight = "w";
  p.weight_grid = Grid::uniform(bits);
  return p;
}

at::Tensor heavy_tailed(int64_t rows, int64_t cols, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  // Rows of different scales with Laplace-like tails: what trained projections look like.
  const at::Tensor u = at::rand({rows, cols}, gen) - 0.5;
  return -u.sign() * (1 - 2 * u.abs()).log() * at::rand({rows, 1}, gen).add(0.5);
}

TEST(WeightMethod, PowerQuantSampledSearchMatchesTheFullSearch) {
  const at::Tensor w = heavy_tailed(2048, 256, 1);
  Recipe r;
  r.method = "powerquant";
  for (int bits : {3, 4}) {
    const QuantizedLayer lw = quantize_layer(w, plan(bits), r);
    const double a = lw.fields.at("exponent").get<double>();
    const double full = search_power_exponent({w}, {0}, Granularity::channel(), bits).exponent;
    // e(a) is flat near its minimum: what matters is the error at the sampled a*, not a* itself.
    const double e_sampled = power_error(w, 0, Granularity::channel(), bits, a),
                 e_full = power_error(w, 0, Granularity::channel(), bits, full);
    EXPECT_LT(e_sampled, 1.005 * e_full) << bits << ": a* " << a << " vs " << full;
    EXPECT_NEAR(a, full, 0.05) << bits;
    EXPECT_EQ(lw.weight.main.grid.kind, GridKind::Power);
  }
}

TEST(WeightMethod, FallbacksAreNamed) {
  const at::Tensor w = heavy_tailed(16, 64, 2);
  Recipe r;
  r.method = "tquant";
  r.wbits = 2;
  QuantizedLayer lw = quantize_layer(w, plan(8), r);  // e.g. a first layer kept at 8 bits
  EXPECT_EQ(lw.weight.main.grid.kind, GridKind::Uniform);
  EXPECT_NE(lw.note.find("RTN"), std::string::npos);
  r.method = "powerquant";
  lw = quantize_layer(w, plan(2), r);
  EXPECT_NE(lw.note.find("ternary"), std::string::npos);
  r.method = "mquant";
  lw = quantize_layer(w, plan(2), r);
  EXPECT_EQ(lw.weight.main.grid.kind, GridKind::Ternary);
  EXPECT_TRUE(lw.note.empty());
  r.method = "nonsense";
  EXPECT_THROW(quantize_layer(w, plan(4), r), Error);
}

}  // namespace
}  // namespace pare::quant
