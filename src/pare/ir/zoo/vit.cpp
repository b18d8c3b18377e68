// A small VisionTransformer: patch embedding (conv k=s=patch), class token, learned position
// embedding, pre-norm blocks (multi-head self-attention, GELU MLP), final LayerNorm, linear head on
// the class token. Written with plain ONNX ops (opset 17: LayerNormalization, Erf-based GELU).
#include <cmath>

#include "pare/error.h"
#include "pare/ir/zoo/zoo_common.h"

namespace pare::ir::zoo {
namespace {

struct VitDims {
  int64_t dim, heads, mlp, patch, tokens;
};

std::string layer_norm(GraphBuilder& b, const std::string& x, int64_t dim, const std::string& name) {
  return b.add1("LayerNormalization",
                {x, b.initializer(name + ".weight", at::ones({dim})), b.initializer(name + ".bias", at::zeros({dim}))},
                {{"axis", -1}, {"epsilon", 1e-6}}, name);
}

// [N, T, D] -> [N, H, T, Dh] (or [N, H, Dh, T] when `keys`, ready for q @ k).
std::string split_heads(GraphBuilder& b, const std::string& x, const VitDims& d, bool keys, const std::string& name) {
  auto h =
      b.add1("Reshape", {x, b.constant_ints({0, 0, d.heads, d.dim / d.heads}, name + ".shape")}, {}, name + ".reshape");
  return b.add1("Transpose", {h},
                {{"perm", keys ? std::vector<int64_t>{0, 2, 3, 1} : std::vector<int64_t>{0, 2, 1, 3}}},
                name + ".transpose");
}

std::string attention(GraphBuilder& b, const std::string& x, const VitDims& d, const std::string& name) {
  auto q = split_heads(b, linear(b, x, d.dim, d.dim, name + ".q", false, 0.02), d, false, name + ".q");
  auto k = split_heads(b, linear(b, x, d.dim, d.dim, name + ".k", false, 0.02), d, true, name + ".k");
  auto v = split_heads(b, linear(b, x, d.dim, d.dim, name + ".v", false, 0.02), d, false, name + ".v");
  auto s = b.add1("MatMul", {q, k}, {}, name + ".scores");
  const float scale = 1.0f / std::sqrt(static_cast<float>(d.dim / d.heads));
  s = b.add1("Mul", {s, b.constant(at::scalar_tensor(scale), name + ".scale")}, {}, name + ".scaled");
  auto p = b.add1("Softmax", {s}, {{"axis", -1}}, name + ".softmax");
  auto o = b.add1("MatMul", {p, v}, {}, name + ".context");
  o = b.add1("Transpose", {o}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}}, name + ".merge");
  o = b.add1("Reshape", {o, b.constant_ints({0, 0, d.dim}, name + ".merge_shape")}, {}, name + ".merge_reshape");
  return linear(b, o, d.dim, d.dim, name + ".proj", false, 0.02);
}

// GELU(x) = 0.5 x (1 + erf(x / sqrt(2))), the exact form (ONNX has no Gelu op before opset 20).
std::string gelu(GraphBuilder& b, const std::string& x, const std::string& name) {
  auto e = b.add1("Erf", {b.add1("Mul", {x, b.constant(at::scalar_tensor(float(M_SQRT1_2)), name + ".c")})}, {},
                  name + ".erf");
  e = b.add1("Add", {e, b.constant(at::scalar_tensor(1.0f), name + ".one")}, {}, name + ".plus1");
  auto h = b.add1("Mul", {x, e}, {}, name + ".mul");
  return b.add1("Mul", {h, b.constant(at::scalar_tensor(0.5f), name + ".half")}, {}, name);
}

}  // namespace

Graph vit(const ZooOptions& o) {
  VitDims d{static_cast<int64_t>(std::llround(128 * o.width)), 4, 0, 4, 0};
  d.mlp = 2 * d.dim;
  if (d.dim % d.heads != 0)
    throw Error("ViT width must give a dimension divisible by 4 heads").got(std::to_string(d.dim));
  if (o.image_size % d.patch != 0)
    throw Error("ViT image size must be a multiple of the patch size 4").got(std::to_string(o.image_size));
  const int64_t depth = o.depth ? o.depth : 6;
  const int64_t grid = o.image_size / d.patch;
  d.tokens = grid * grid + 1;
  at::manual_seed(o.seed);
  GraphBuilder b("vit", 17);
  auto x = b.input("input", DType::Float, {-1, o.in_channels, o.image_size, o.image_size});
  auto h = normalize_input(b, x, o);
  const double fan_in = static_cast<double>(o.in_channels * d.patch * d.patch);
  h = b.add1(
      "Conv",
      {h,
       b.initializer("patch.weight", (at::rand({d.dim, o.in_channels, d.patch, d.patch}) * 2 - 1) / std::sqrt(fan_in)),
       b.initializer("patch.bias", at::zeros({d.dim}))},
      {{"kernel_shape", std::vector<int64_t>{d.patch, d.patch}}, {"strides", std::vector<int64_t>{d.patch, d.patch}}},
      "patch");
  h = b.add1("Reshape", {h, b.constant_ints({0, d.dim, -1}, "patch.shape")}, {}, "patch.flatten");
  h = b.add1("Transpose", {h}, {{"perm", std::vector<int64_t>{0, 2, 1}}}, "patch.tokens");  // [N, T-1, D]
  // Class token broadcast to the batch: shape [N, 1, D] built from the input's batch size.
  auto n = b.add1(
      "Slice", {b.add1("Shape", {h}, {}, "cls.shape"), b.constant_ints({0}, "cls.s0"), b.constant_ints({1}, "cls.s1")},
      {}, "cls.batch");
  auto shape = b.add1("Concat", {n, b.constant_ints({1, d.dim}, "cls.rest")}, {{"axis", 0}}, "cls.target");
  auto cls = b.add1("Expand", {b.initializer("cls_token", at::randn({1, 1, d.dim}) * 0.02), shape}, {}, "cls.expand");
  h = b.add1("Concat", {cls, h}, {{"axis", 1}}, "tokens");
  h = b.add1("Add", {h, b.initializer("pos_embedding", at::randn({1, d.tokens, d.dim}) * 0.02)}, {}, "pos");
  for (int64_t i = 0; i < depth; ++i) {
    const std::string name = "block" + std::to_string(i);
    auto a = attention(b, layer_norm(b, h, d.dim, name + ".ln1"), d, name + ".attn");
    h = b.add1("Add", {h, a}, {}, name + ".res1");
    auto m = linear(b, layer_norm(b, h, d.dim, name + ".ln2"), d.dim, d.mlp, name + ".fc1", false, 0.02);
    m = linear(b, gelu(b, m, name + ".gelu"), d.mlp, d.dim, name + ".fc2", false, 0.02);
    h = b.add1("Add", {h, m}, {}, name + ".res2");
  }
  h = layer_norm(b, h, d.dim, "norm");
  h = b.add1("Gather", {h, b.constant(at::scalar_tensor(0, at::kLong), "cls.index")}, {{"axis", 1}}, "cls.take");
  h = linear(b, h, d.dim, o.classes, "head", true, 0.02);
  b.output(h, "logits");
  return b.finish();
}

}  // namespace pare::ir::zoo
