// Shape manipulation: Reshape, Flatten, Transpose, Squeeze/Unsqueeze, Shape/Size, Expand, Cast,
// Constant(OfShape), Range, Dropout. Opset changes (attributes becoming inputs) are handled per op.
#include "pare/ir/dtype.h"
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

Tensors reshape(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  std::vector<int64_t> shape = ctx.opset() < 5 ? ctx.attr_ints("shape") : to_int_vector(in.at(1));
  const bool allow_zero = ctx.attr_int("allowzero", 0) != 0;
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] == 0 && !allow_zero) {
      if (static_cast<int64_t>(i) >= x.dim())
        ctx.fail("shape has 0 at index " + std::to_string(i) + " beyond the input's rank");
      shape[i] = x.size(static_cast<int64_t>(i));
    }
  int64_t known = 1, unknown = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (unknown >= 0) ctx.fail("shape has more than one -1");
      unknown = static_cast<int64_t>(i);
    } else {
      known *= shape[i];
    }
  }
  if ((unknown < 0 && known != x.numel()) || (unknown >= 0 && (known == 0 || x.numel() % known != 0)))
    ctx.fail("cannot reshape " + ir::shape_string(x.sizes()) + " into " + ir::shape_string(shape),
             "the element counts differ; check the input shape");
  return {x.reshape(shape)};
}

Tensors flatten(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  int64_t axis = ctx.attr_int("axis", 1);
  if (axis < 0) axis += x.dim();
  if (axis < 0 || axis > x.dim()) ctx.fail("axis out of range");
  int64_t outer = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.size(i);
  int64_t inner = 1;
  for (int64_t i = axis; i < x.dim(); ++i) inner *= x.size(i);
  return {x.reshape({outer, inner})};
}

Tensors transpose(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  std::vector<int64_t> perm = ctx.attr_ints("perm", {});
  if (perm.empty())
    for (int64_t i = x.dim() - 1; i >= 0; --i) perm.push_back(i);
  if (static_cast<int64_t>(perm.size()) != x.dim()) ctx.fail("'perm' length differs from the input rank");
  return {x.permute(perm)};
}

std::vector<int64_t> axes_of(const OpContext& ctx, const Tensors& in, int64_t since_input) {
  if (ctx.opset() >= since_input) return has_input(in, 1) ? to_int_vector(in[1]) : std::vector<int64_t>{};
  return ctx.attr_ints("axes", {});
}

Tensors squeeze(const OpContext& ctx, const Tensors& in) {
  at::Tensor x = in.at(0);
  std::vector<int64_t> axes = axes_of(ctx, in, 13);
  if (axes.empty()) {
    std::vector<int64_t> shape;
    for (int64_t d : x.sizes())
      if (d != 1) shape.push_back(d);
    return {x.reshape(shape)};
  }
  std::vector<bool> drop(x.dim(), false);
  for (int64_t a : axes) {
    a = normalize_axis(ctx, a, x.dim());
    if (x.size(a) != 1) ctx.fail("cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(x.size(a)));
    drop[a] = true;
  }
  std::vector<int64_t> shape;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (!drop[i]) shape.push_back(x.size(i));
  return {x.reshape(shape)};
}

Tensors unsqueeze(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  std::vector<int64_t> axes = axes_of(ctx, in, 13);
  const int64_t rank = x.dim() + static_cast<int64_t>(axes.size());
  std::vector<bool> inserted(rank, false);
  for (int64_t a : axes) inserted[normalize_axis(ctx, a, rank)] = true;
  std::vector<int64_t> shape;
  int64_t k = 0;
  for (int64_t i = 0; i < rank; ++i) shape.push_back(inserted[i] ? 1 : x.size(k++));
  return {x.reshape(shape)};
}

Tensors shape_op(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  int64_t r = x.dim();
  int64_t start = ctx.attr_int("start", 0), end = ctx.attr_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  std::vector<int64_t> dims(x.sizes().begin() + start, x.sizes().begin() + std::max(start, end));
  return {at::tensor(dims, at::kLong)};
}

Tensors size_op(const OpContext&, const Tensors& in) { return {at::scalar_tensor(in.at(0).numel(), at::kLong)}; }

Tensors expand(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  std::vector<int64_t> shape = to_int_vector(in.at(1));
  // Bidirectional broadcast: the result has the broadcast of both shapes (torch's expand is one-way).
  const size_t rank = std::max<size_t>(shape.size(), x.dim());
  std::vector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t a = i < rank - x.dim() ? 1 : x.size(static_cast<int64_t>(i - (rank - x.dim())));
    int64_t b = i < rank - shape.size() ? 1 : shape[i - (rank - shape.size())];
    if (a != b && a != 1 && b != 1)
      ctx.fail("shapes " + ir::shape_string(x.sizes()) + " and " + ir::shape_string(shape) + " do not broadcast");
    out[i] = a == 1 ? b : a;
  }
  return {x.expand(out)};
}

Tensors cast(const OpContext& ctx, const Tensors& in) {
  const auto to = static_cast<ir::DType>(ctx.attr_int("to"));
  if (!ir::has_scalar_type(to)) ctx.fail("cast to " + ir::dtype_name(to) + " is not supported");
  return {in.at(0).to(ir::to_scalar_type(to))};
}

Tensors cast_like(const OpContext&, const Tensors& in) { return {in.at(0).to(in.at(1).scalar_type())}; }

Tensors constant(const OpContext& ctx, const Tensors&) {
  if (ctx.has_attr("value")) return {ctx.attr_tensor("value")};
  if (ctx.has_attr("value_float")) return {at::scalar_tensor(ctx.attr_float("value_float", 0), at::kFloat)};
  if (ctx.has_attr("value_floats")) {
    auto v = ctx.attr_floats("value_floats");
    return {at::tensor(std::vector<float>(v.begin(), v.end()), at::kFloat)};
  }
  if (ctx.has_attr("value_int")) return {at::scalar_tensor(ctx.attr_int("value_int"), at::kLong)};
  if (ctx.has_attr("value_ints")) return {at::tensor(ctx.attr_ints("value_ints"), at::kLong)};
  ctx.fail("needs a value attribute (sparse and string constants are not supported)");
}

Tensors constant_of_shape(const OpContext& ctx, const Tensors& in) {
  std::vector<int64_t> shape = to_int_vector(in.at(0));
  if (ctx.has_attr("value")) {
    at::Tensor v = ctx.attr_tensor("value");
    return {at::full(shape, v.reshape({-1})[0].item(), v.options())};
  }
  return {at::zeros(shape, at::kFloat)};
}

Tensors range(const OpContext&, const Tensors& in) {
  const at::Tensor &start = in.at(0), &limit = in.at(1), &delta = in.at(2);
  if (at::isFloatingType(start.scalar_type())) {
    // ONNX: n = max(ceil((limit - start) / delta), 0), values start + i * delta
    double s = start.item<double>(), l = limit.item<double>(), d = delta.item<double>();
    int64_t n = std::max<int64_t>(static_cast<int64_t>(std::ceil((l - s) / d)), 0);
    return {(at::arange(n, at::kDouble) * d + s).to(start.scalar_type())};
  }
  int64_t s = start.item<int64_t>(), l = limit.item<int64_t>(), d = delta.item<int64_t>();
  int64_t n = std::max<int64_t>((l - s + d + (d > 0 ? -1 : 1)) / d, 0);
  return {(at::arange(n, at::kLong) * d + s).to(start.scalar_type())};
}

Tensors dropout(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  double ratio = ctx.opset() >= 12 ? (has_input(in, 1) ? in[1].item<double>() : 0.5) : ctx.attr_float("ratio", 0.5);
  bool train = ctx.training() || (ctx.opset() >= 12 && has_input(in, 2) && in[2].item<bool>());
  const bool want_mask = ctx.node().outputs.size() > 1 && !ctx.node().outputs[1].empty();
  if (!train || ratio == 0.0) {
    if (want_mask) return {x, at::ones_like(x, x.options().dtype(at::kBool))};
    return {x};
  }
  if (ctx.has_attr("seed") && !ctx.training()) at::manual_seed(ctx.attr_int("seed"));
  at::Tensor mask = at::rand_like(x, x.options().dtype(at::kFloat)) >= ratio;
  at::Tensor y = x * mask.to(x.scalar_type()) / (1.0 - ratio);
  if (want_mask) return {y, mask};
  return {y};
}

}  // namespace

void register_shape_ops(OpTable& t) {
  t.add({"Reshape", 1, reshape});
  t.add({"Flatten", 1, flatten});
  t.add({"Transpose", 1, transpose});
  t.add({"Squeeze", 1, squeeze});
  t.add({"Unsqueeze", 1, unsqueeze});
  t.add({"Shape", 1, shape_op});
  t.add({"Size", 1, size_op});
  t.add({"Expand", 8, expand});
  t.add({"Cast", 6, cast});
  t.add({"CastLike", 15, cast_like});
  t.add({"Constant", 1, constant});
  t.add({"ConstantOfShape", 9, constant_of_shape});
  t.add({"Range", 11, range});
  t.add({"Dropout", 1, dropout});
}

}  // namespace pare::ops
