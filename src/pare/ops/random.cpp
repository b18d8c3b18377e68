// Random generators: RandomNormal/Uniform(+Like) and Bernoulli. A 'seed' attribute seeds a private
// generator (so runs repeat); values never match other runtimes' generators, only shapes and ranges.
#include <ATen/CPUGeneratorImpl.h>

#include "pare/ir/dtype.h"
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

c10::optional<at::Generator> generator(const OpContext& ctx) {
  if (!ctx.has_attr("seed")) return c10::nullopt;
  return at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(ctx.attr_float("seed", 0.0)));
}

at::ScalarType dtype_attr(const OpContext& ctx, at::ScalarType def) {
  return ctx.has_attr("dtype") ? ir::to_scalar_type(static_cast<ir::DType>(ctx.attr_int("dtype"))) : def;
}

// Like: the shape (and by default the type) of input 0; otherwise the 'shape' attribute.
template <bool Like, bool Normal>
Tensors random_fill(const OpContext& ctx, const Tensors& in) {
  std::vector<int64_t> shape = Like ? in.at(0).sizes().vec() : ctx.attr_ints("shape");
  const at::ScalarType type = dtype_attr(ctx, Like ? in.at(0).scalar_type() : at::kFloat);
  at::Tensor y = at::empty(shape, at::TensorOptions().dtype(at::kDouble));
  if (Normal)
    y.normal_(ctx.attr_float("mean", 0.0), ctx.attr_float("scale", 1.0), generator(ctx));
  else
    y.uniform_(ctx.attr_float("low", 0.0), ctx.attr_float("high", 1.0), generator(ctx));
  return {y.to(type)};
}

Tensors bernoulli(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& p = in.at(0);
  return {at::bernoulli(p.to(at::kDouble), generator(ctx)).to(dtype_attr(ctx, p.scalar_type()))};
}

}  // namespace

void register_random_ops(OpTable& t) {
  t.add({"RandomNormal", 1, random_fill<false, true>});
  t.add({"RandomUniform", 1, random_fill<false, false>});
  t.add({"RandomNormalLike", 1, random_fill<true, true>});
  t.add({"RandomUniformLike", 1, random_fill<true, false>});
  t.add({"Bernoulli", 15, bernoulli});
}

}  // namespace pare::ops
