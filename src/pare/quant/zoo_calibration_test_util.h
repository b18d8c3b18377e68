// A small zoo model with calibration samples, for the tests of methods that learn from data: a half-width
// ResNet-8 and 64 seeded uniform images of Fashion-MNIST's shape, and a result's output error on them.
#pragma once
#include <ATen/ATen.h>

#include "pare/data/dataset.h"
#include "pare/exec/executor.h"
#include "pare/ir/zoo/zoo.h"
#include "pare/quant/quantize_model.h"

namespace pare::quant::testing {

struct ZooCalibration {
  ir::Graph graph;
  data::Dataset calib;
};

inline ZooCalibration small_resnet_with_calibration() {
  ir::zoo::ZooOptions zo;
  zo.width = 0.5;
  ZooCalibration z{ir::zoo::build("resnet8", zo), {}};
  at::manual_seed(1);
  z.calib.name = "random";
  z.calib.inputs = at::rand({64, 1, 28, 28});
  return z;
}

// Mean squared difference between the outputs of r's quantized model and of its float (folded) model on
// `calib`: how far a method left the model from float on its own calibration data.
inline double output_error(const QuantizeResult& r, const data::Dataset& calib) {
  const std::string in = r.folded.inputs.at(0).name, out = r.folded.outputs.at(0).name;
  exec::Executor fl(r.folded), q(r.fake);
  const at::Tensor ref = fl.run({{in, calib.inputs}}).at(out);
  return (q.run({{in, calib.inputs}}).at(out) - ref).pow(2).mean().item<double>();
}

}  // namespace pare::quant::testing
