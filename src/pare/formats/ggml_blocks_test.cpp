// pare's grouped tensors and ggml's Q4_0 / Q8_0 blocks map onto each other without loss: the codes and
// float16 scales survive the trip, and ggml's own decoding of the blocks gives pare's dequantized values.
#include "pare/formats/ggml_blocks.h"

#include <gtest/gtest.h>

#include "pare/quant/methods/residual_expansion.h"
#include "pare/quant/quantize_weight.h"

namespace pare::formats {
namespace {

QuantizedTensor grouped(const at::Tensor& w, int bits, int64_t group = 32, bool symmetric = true) {
  quant::WeightQuantOptions o;
  o.grid = Grid::uniform(bits, symmetric);
  o.granularity = Granularity::group(group);
  o.scale.scale_bits = 16;
  return quant::quantize_weight(w, 0, o, "w");
}

TEST(GgmlBlocks, GroupedInt4AndInt8RoundTripExactly) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const at::Tensor w = at::randn({12, 96}, gen);
  w[3].zero_();  // a zero row: scale 0, codes 0
  for (auto [bits, type] : {std::pair<int, GgmlType>{4, GgmlType::Q4_0}, {8, GgmlType::Q8_0}}) {
    const QuantizedTensor q = grouped(w, bits);
    ASSERT_TRUE(ggml_exact(q, type));
    const std::string bytes = to_ggml_blocks(q, type);
    ASSERT_EQ(static_cast<int64_t>(bytes.size()), ggml_bytes(type, w.numel()));
    const QuantizedTensor back = from_ggml_blocks(reinterpret_cast<const uint8_t*>(bytes.data()), 12, 96, type);
    EXPECT_TRUE(at::equal(back.codes, q.codes)) << bits;
    EXPECT_TRUE(at::equal(back.scales, q.scales)) << bits;
    std::vector<float> decoded(static_cast<size_t>(w.numel()));
    ggml_type_traits(type).dequantize(reinterpret_cast<const uint8_t*>(bytes.data()), decoded.data(), w.numel());
    EXPECT_TRUE(at::equal(at::from_blob(decoded.data(), {12, 96}), q.dequantize())) << bits;
  }
}

TEST(GgmlBlocks, OnlyExactGridsMap) {
  const at::Tensor w = at::randn({4, 128});
  std::string why;
  EXPECT_FALSE(ggml_exact(grouped(w, 4, 128), GgmlType::Q4_0, &why));
  EXPECT_NE(why.find("group:32"), std::string::npos) << why;
  EXPECT_FALSE(ggml_exact(grouped(w, 4, 32, false), GgmlType::Q4_0, &why));  // zero points
  EXPECT_FALSE(ggml_exact(grouped(w, 8), GgmlType::Q4_0, &why));
  EXPECT_FALSE(ggml_exact(grouped(w, 4), GgmlType::Q8_0, &why));
  EXPECT_FALSE(ggml_exact(grouped(w, 4), GgmlType::F16, &why));
  quant::ExpansionOptions e;
  const QuantizedWeight expanded = quant::expand_residuals(
      w, 0, e, [](const at::Tensor& x, int64_t axis) { return grouped(x.movedim(axis, 0), 4); }, "w");
  EXPECT_FALSE(ggml_exact(expanded, GgmlType::Q4_0, &why));
  EXPECT_NE(why.find("residual"), std::string::npos) << why;
}

}  // namespace
}  // namespace pare::formats
