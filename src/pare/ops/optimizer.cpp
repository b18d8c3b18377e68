// Optimizer steps of the ai.onnx.preview.training domain: Adagrad, Momentum, Adam. Inputs are
// R (learning rate), T (step count), then the tensors X..., G..., and the optimizer states.
#include <cmath>

#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

constexpr const char* kTrainingDomain = "ai.onnx.preview.training";

// Splits inputs 2.. into `groups` equal lists (X, G, state...).
std::vector<Tensors> groups_of(const OpContext& ctx, const Tensors& in, size_t groups) {
  if (in.size() < 2 || (in.size() - 2) % groups != 0)
    ctx.fail("expects R, T and " + std::to_string(groups) + " equally long lists of tensors");
  const size_t n = (in.size() - 2) / groups;
  std::vector<Tensors> out(groups);
  for (size_t g = 0; g < groups; ++g) out[g].assign(in.begin() + 2 + g * n, in.begin() + 2 + (g + 1) * n);
  return out;
}

double scalar(const at::Tensor& t) { return t.reshape(-1)[0].item<double>(); }

Tensors adagrad(const OpContext& ctx, const Tensors& in) {
  auto g = groups_of(ctx, in, 3);  // X, G, H
  const double r = scalar(in.at(0)) / (1 + scalar(in.at(1)) * ctx.attr_float("decay_factor", 0.0));
  const double eps = ctx.attr_float("epsilon", 0.0), norm = ctx.attr_float("norm_coefficient", 0.0);
  Tensors xs, hs;
  for (size_t i = 0; i < g[0].size(); ++i) {
    at::Tensor grad = norm * g[0][i] + g[1][i];
    at::Tensor h = g[2][i] + grad * grad;
    xs.push_back(g[0][i] - r * grad / (at::sqrt(h) + eps));
    hs.push_back(h);
  }
  xs.insert(xs.end(), hs.begin(), hs.end());
  return xs;
}

Tensors momentum(const OpContext& ctx, const Tensors& in) {
  auto g = groups_of(ctx, in, 3);  // X, G, V
  const double r = scalar(in.at(0));
  const double alpha = ctx.attr_float("alpha", 0.0), norm = ctx.attr_float("norm_coefficient", 0.0);
  const double beta = scalar(in.at(1)) > 0 ? ctx.attr_float("beta", 0.0) : 1.0;
  const std::string mode = ctx.attr_string("mode", "standard");
  if (mode != "standard" && mode != "nesterov") ctx.fail("unknown mode '" + mode + "'", "use standard or nesterov");
  Tensors xs, vs;
  for (size_t i = 0; i < g[0].size(); ++i) {
    at::Tensor grad = norm * g[0][i] + g[1][i];
    at::Tensor v = alpha * g[2][i] + beta * grad;
    xs.push_back(mode == "standard" ? g[0][i] - r * v : g[0][i] - r * (grad + alpha * v));
    vs.push_back(v);
  }
  xs.insert(xs.end(), vs.begin(), vs.end());
  return xs;
}

Tensors adam(const OpContext& ctx, const Tensors& in) {
  auto g = groups_of(ctx, in, 4);  // X, G, V, H
  const double alpha = ctx.attr_float("alpha", 0.9), beta = ctx.attr_float("beta", 0.999);
  const double eps = ctx.attr_float("epsilon", 1e-6), norm = ctx.attr_float("norm_coefficient", 0.0);
  const double post = ctx.attr_float("norm_coefficient_post", 0.0);
  const double t = scalar(in.at(1));
  double r = scalar(in.at(0));
  if (t > 0) r = r * std::sqrt(1 - std::pow(beta, t)) / (1 - std::pow(alpha, t));
  Tensors xs, vs, hs;
  for (size_t i = 0; i < g[0].size(); ++i) {
    at::Tensor grad = norm * g[0][i] + g[1][i];
    at::Tensor v = alpha * g[2][i] + (1 - alpha) * grad;
    at::Tensor h = beta * g[3][i] + (1 - beta) * grad * grad;
    xs.push_back((1 - post) * (g[0][i] - r * (v / (at::sqrt(h) + eps))));
    vs.push_back(v);
    hs.push_back(h);
  }
  xs.insert(xs.end(), vs.begin(), vs.end());
  xs.insert(xs.end(), hs.begin(), hs.end());
  return xs;
}

}  // namespace

void register_optimizer_ops(OpTable& t) {
  t.add({"Adagrad", 1, adagrad, kTrainingDomain});
  t.add({"Momentum", 1, momentum, kTrainingDomain});
  t.add({"Adam", 1, adam, kTrainingDomain});
}

}  // namespace pare::ops
