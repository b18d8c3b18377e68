// Shared zoo blocks. Initializations follow the papers' reference code conventions (He init for convs).
#include "pare/ir/zoo/zoo_common.h"

#include "pare/error.h"

namespace pare::ir::zoo {

std::string normalize_input(GraphBuilder& b, const std::string& x, const ZooOptions& o) {
  if (static_cast<int64_t>(o.mean.size()) != o.in_channels || static_cast<int64_t>(o.std.size()) != o.in_channels)
    throw Error("zoo: mean/std need one value per input channel")
        .expected(std::to_string(o.in_channels))
        .got(std::to_string(o.mean.size()) + "/" + std::to_string(o.std.size()));
  at::Tensor mean = at::tensor(std::vector<float>(o.mean.begin(), o.mean.end())).reshape({1, -1, 1, 1});
  at::Tensor inv_std = 1.0 / at::tensor(std::vector<float>(o.std.begin(), o.std.end())).reshape({1, -1, 1, 1});
  auto h = b.add1("Sub", {x, b.constant(mean, "input.mean")}, {}, "normalize.sub");
  return b.add1("Mul", {h, b.constant(inv_std, "input.inv_std")}, {}, "normalize.mul");
}

std::string conv_bn(GraphBuilder& b, const std::string& x, int64_t cin, int64_t cout, int64_t k, int64_t stride,
                    int64_t groups, const std::string& act, const std::string& name) {
  const double fan_out = static_cast<double>(cout * k * k / groups);
  auto w = b.initializer(name + ".weight", at::randn({cout, cin / groups, k, k}) * std::sqrt(2.0 / fan_out));
  const int64_t p = k / 2;
  auto h = b.add1("Conv", {x, w},
                  {{"kernel_shape", std::vector<int64_t>{k, k}},
                   {"pads", std::vector<int64_t>{p, p, p, p}},
                   {"strides", std::vector<int64_t>{stride, stride}},
                   {"group", groups}},
                  name);
  h = b.add1(
      "BatchNormalization",
      {h, b.initializer(name + ".bn.weight", at::ones({cout})), b.initializer(name + ".bn.bias", at::zeros({cout})),
       b.initializer(name + ".bn.running_mean", at::zeros({cout})),
       b.initializer(name + ".bn.running_var", at::ones({cout}))},
      {{"epsilon", 1e-5}, {"momentum", 0.9}}, name + ".bn");
  if (act == "Relu") return b.add1("Relu", {h}, {}, name + ".relu");
  if (act == "Relu6")
    return b.add1(
        "Clip",
        {h, b.constant(at::scalar_tensor(0.f), name + ".min"), b.constant(at::scalar_tensor(6.f), name + ".max")}, {},
        name + ".relu6");
  PARE_ASSERT(act.empty(), "unknown activation in zoo::conv_bn");
  return h;
}

std::string linear(GraphBuilder& b, const std::string& x, int64_t din, int64_t dout, const std::string& name,
                   bool two_d, double std_dev) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(din));
  at::Tensor w = std_dev > 0 ? at::randn({dout, din}) * std_dev : (at::rand({dout, din}) * 2 - 1) * bound;
  at::Tensor bias = std_dev > 0 ? at::zeros({dout}) : (at::rand({dout}) * 2 - 1) * bound;
  if (two_d)
    return b.add1("Gemm", {x, b.initializer(name + ".weight", w), b.initializer(name + ".bias", bias)}, {{"transB", 1}},
                  name);
  // MatMul wants [din, dout]: store the transposed weight so the exported graph needs no Transpose.
  auto h = b.add1("MatMul", {x, b.initializer(name + ".weight", w.t().contiguous())}, {}, name);
  return b.add1("Add", {h, b.initializer(name + ".bias", bias)}, {}, name + ".add");
}

}  // namespace pare::ir::zoo
