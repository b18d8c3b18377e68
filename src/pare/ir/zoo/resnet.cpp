// CIFAR-style ResNet-(6n+2): conv3x3(16w) -> 3 stages x n basic blocks (16w, 32w, 64w; stride 2 at
// stages 2 and 3) -> global average pool -> linear. Projection shortcuts (1x1 conv + BN) where the
// shape changes (the paper's option B).
#include "pare/error.h"
#include "pare/ir/zoo/zoo_common.h"

namespace pare::ir::zoo {

static std::string basic_block(GraphBuilder& b, const std::string& x, int64_t cin, int64_t cout, int64_t stride,
                               const std::string& name) {
  auto h = conv_bn(b, x, cin, cout, 3, stride, 1, "Relu", name + ".conv1");
  h = conv_bn(b, h, cout, cout, 3, 1, 1, "", name + ".conv2");
  std::string shortcut = x;
  if (stride != 1 || cin != cout) shortcut = conv_bn(b, x, cin, cout, 1, stride, 1, "", name + ".shortcut");
  h = b.add1("Add", {h, shortcut}, {}, name + ".add");
  return b.add1("Relu", {h}, {}, name + ".relu");
}

Graph resnet(const ZooOptions& o) {
  const int64_t depth = o.depth ? o.depth : 20;
  if (depth < 8 || (depth - 2) % 6 != 0)
    throw Error("ResNet depth must be 6n+2 (8, 14, 20, 32, 44, 56, 110)").got(std::to_string(depth));
  const int64_t n = (depth - 2) / 6;
  at::manual_seed(o.seed);
  GraphBuilder b("resnet" + std::to_string(depth), 17);
  auto x = b.input("input", DType::Float, {-1, o.in_channels, o.image_size, o.image_size});
  auto h = normalize_input(b, x, o);
  int64_t c = scaled(16, o.width);
  h = conv_bn(b, h, o.in_channels, c, 3, 1, 1, "Relu", "stem");
  for (int stage = 0; stage < 3; ++stage) {
    const int64_t cout = scaled(16 << stage, o.width);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t stride = (stage > 0 && i == 0) ? 2 : 1;
      h = basic_block(b, h, c, cout, stride, "layer" + std::to_string(stage + 1) + "." + std::to_string(i));
      c = cout;
    }
  }
  h = b.add1("GlobalAveragePool", {h}, {}, "pool");
  h = b.add1("Flatten", {h}, {{"axis", 1}}, "flatten");
  h = linear(b, h, c, o.classes, "fc", true);
  b.output(h, "logits");
  return b.finish();
}

}  // namespace pare::ir::zoo
