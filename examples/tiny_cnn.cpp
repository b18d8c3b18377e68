// Writes the bundled demo model examples/models/tiny-cnn.onnx (a small Fashion-MNIST-shaped CNN with
// seeded random weights, built with pare's GraphBuilder) and a matching input, tiny-cnn-input.npy.
// Usage: pare_example_tiny_cnn OUT_DIR
#include <iostream>
#include <string>

#include "pare/error.h"
#include "pare/io/npy.h"
#include "pare/io/onnx_export.h"
#include "pare/ir/graph_builder.h"

using pare::ir::DType;

static std::string conv_bn_relu(pare::ir::GraphBuilder& b, const std::string& x, int64_t cin, int64_t cout,
                                int64_t stride, const std::string& name) {
  auto w = b.initializer(name + ".weight", at::randn({cout, cin, 3, 3}) * std::sqrt(2.0 / (9.0 * cin)));
  auto h = b.add1("Conv", {x, w},
                  {{"kernel_shape", std::vector<int64_t>{3, 3}},
                   {"pads", std::vector<int64_t>{1, 1, 1, 1}},
                   {"strides", std::vector<int64_t>{stride, stride}}},
                  name);
  auto s = b.initializer(name + ".bn.weight", at::rand({cout}) * 0.5 + 0.75);
  auto bias = b.initializer(name + ".bn.bias", at::randn({cout}) * 0.1);
  auto mean = b.initializer(name + ".bn.running_mean", at::randn({cout}) * 0.1);
  auto var = b.initializer(name + ".bn.running_var", at::rand({cout}) + 0.5);
  h = b.add1("BatchNormalization", {h, s, bias, mean, var}, {{"epsilon", 1e-5}}, name + ".bn");
  return b.add1("Relu", {h}, {}, name + ".relu");
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: pare_example_tiny_cnn OUT_DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  try {
    at::manual_seed(2026);
    pare::ir::GraphBuilder b("tiny-cnn", 17);
    auto x = b.input("input", DType::Float, {-1, 1, 28, 28});
    auto h = conv_bn_relu(b, x, 1, 16, 1, "stem");
    h = conv_bn_relu(b, h, 16, 32, 2, "block1");
    h = conv_bn_relu(b, h, 32, 64, 2, "block2");
    h = b.add1("GlobalAveragePool", {h}, {}, "pool");
    h = b.add1("Flatten", {h}, {{"axis", 1}}, "flatten");
    auto w = b.initializer("fc.weight", at::randn({10, 64}) * 0.1);
    auto bias = b.initializer("fc.bias", at::zeros({10}));
    h = b.add1("Gemm", {h, w, bias}, {{"transB", 1}}, "fc");
    b.output(h, "logits");
    pare::ir::Graph g = b.finish();
    g.doc = "pare demo model: random weights, Fashion-MNIST input shape (N x 1 x 28 x 28, values in [0, 1])";
    pare::io::save_onnx(g, dir + "/tiny-cnn.onnx");
    pare::io::save_npy(at::rand({4, 1, 28, 28}), dir + "/tiny-cnn-input.npy");
  } catch (const pare::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
