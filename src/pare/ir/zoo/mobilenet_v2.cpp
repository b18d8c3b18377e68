// MobileNetV2-style network for small inputs: stem conv3x3 -> inverted residual blocks
// (1x1 expand + ReLU6, 3x3 depthwise + ReLU6, 1x1 linear projection; residual when shapes match)
// -> 1x1 conv to the feature width -> global average pool -> dropout -> linear.
#include "pare/ir/zoo/zoo_common.h"

namespace pare::ir::zoo {

static std::string inverted_residual(GraphBuilder& b, const std::string& x, int64_t cin, int64_t cout, int64_t stride,
                                     int64_t expand, const std::string& name) {
  const int64_t hidden = cin * expand;
  std::string h = x;
  if (expand != 1) h = conv_bn(b, h, cin, hidden, 1, 1, 1, "Relu6", name + ".expand");
  h = conv_bn(b, h, hidden, hidden, 3, stride, hidden, "Relu6", name + ".depthwise");
  h = conv_bn(b, h, hidden, cout, 1, 1, 1, "", name + ".project");
  if (stride == 1 && cin == cout) h = b.add1("Add", {h, x}, {}, name + ".add");
  return h;
}

Graph mobilenet_v2(const ZooOptions& o) {
  at::manual_seed(o.seed);
  GraphBuilder b("mobilenetv2", 17);
  auto x = b.input("input", DType::Float, {-1, o.in_channels, o.image_size, o.image_size});
  auto h = normalize_input(b, x, o);
  // (expansion t, channels c, repeats n, first stride s); 28x28 -> 14 -> 14 -> 7 -> 7 -> 4. Leaving 28x28
  // after the first block keeps the expanded (144-channel) activations small: 2.5x faster to train.
  struct Stage {
    int64_t t, c, n, s;
  };
  const Stage stages[] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 1}, {6, 64, 3, 2}, {6, 96, 2, 1}, {6, 160, 2, 2}};
  int64_t c = scaled(32, o.width);
  h = conv_bn(b, h, o.in_channels, c, 3, 1, 1, "Relu6", "stem");
  int block = 0;
  for (const Stage& st : stages) {
    const int64_t cout = scaled(st.c, o.width);
    for (int64_t i = 0; i < st.n; ++i) {
      h = inverted_residual(b, h, c, cout, i == 0 ? st.s : 1, st.t, "block" + std::to_string(block++));
      c = cout;
    }
  }
  const int64_t features = scaled(640, std::max(1.0, o.width));
  h = conv_bn(b, h, c, features, 1, 1, 1, "Relu6", "head");
  h = b.add1("GlobalAveragePool", {h}, {}, "pool");
  h = b.add1("Flatten", {h}, {{"axis", 1}}, "flatten");
  h = b.add1("Dropout", {h, b.constant(at::scalar_tensor(0.2f), "dropout.ratio")}, {}, "dropout");
  h = linear(b, h, features, o.classes, "classifier", true, 0.01);
  b.output(h, "logits");
  return b.finish();
}

}  // namespace pare::ir::zoo
