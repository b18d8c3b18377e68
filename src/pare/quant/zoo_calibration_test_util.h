// A small zoo model with calibration samples, for the tests of methods that learn from data: a half-width
// ResNet-8 and 64 seeded uniform images of Fashion-MNIST's shape.
#pragma once
#include <ATen/ATen.h>

#include "pare/data/dataset.h"
#include "pare/ir/zoo/zoo.h"

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

}  // namespace pare::quant::testing
