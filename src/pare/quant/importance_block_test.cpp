// imatrix scales end to end: through the block pipeline on a zoo model, every layer gets its inputs'
// importance, and the quantized model's output on the calibration data is closer to the float model's than
// with the unweighted mse search or min-max scales; without calibration data, a clear refusal.
#include "pare/quant/importance_block.h"

#include <gtest/gtest.h>

#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/quant/quantize_model.h"
#include "pare/quant/zoo_calibration_test_util.h"

namespace pare::quant {
namespace {

TEST(Imatrix, QuantizesAZooModelCloserToFloatThanMseAndMinMax) {
  const testing::ZooCalibration z = testing::small_resnet_with_calibration();
  const ir::Graph& g = z.graph;
  const data::Dataset& calib = z.calib;
  QuantizeOptions o;
  o.calib = &calib;
  o.calibration.batch_size = 32;
  auto output_error = [&](const std::string& scale) {
    o.recipe = Recipe::from_json({{"wbits", 3}, {"abits", 0}, {"weight_scale", scale}}, "");
    const QuantizeResult r = quantize_model(g, o);
    for (const auto& l : r.layers) {
      if (scale == "imatrix") {
        EXPECT_TRUE(l.note.empty()) << l.plan.layer.node << ": " << l.note;
      }
    }
    return testing::output_error(r, calib);
  };
  const double imatrix = output_error("imatrix"), mse = output_error("mse"), minmax = output_error("minmax");
  EXPECT_LT(imatrix, mse) << "imatrix " << imatrix << ", mse " << mse << ", minmax " << minmax;
  EXPECT_LT(imatrix, minmax);
}

TEST(Imatrix, RefusesWithoutCalibrationDataOrWithADataFreeMethod) {
  ir::zoo::ZooOptions zo;
  zo.width = 0.5;
  const ir::Graph g = ir::zoo::build("resnet8", zo);
  QuantizeOptions o;
  o.recipe = Recipe::from_json({{"wbits", 4}, {"abits", 0}, {"weight_scale", "imatrix"}}, "");
  EXPECT_TRUE(o.recipe.learns());
  try {
    quantize_model(g, o);
    FAIL() << "imatrix without data";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--calib"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Recipe::from_json({{"method", "rex"}, {"wbits", 4}, {"weight_scale", "imatrix"}}, ""), Error);
  EXPECT_FALSE(Recipe::from_json({{"wbits", 4}, {"weight_scale", "mse"}}, "").learns());
}

}  // namespace
}  // namespace pare::quant
