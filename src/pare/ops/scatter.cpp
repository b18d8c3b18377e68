// Scatter/gather by index tensors: ScatterElements (and the older Scatter), ScatterND and GatherND.
// Index tensors may hold negative indices (counted from the end), as ONNX allows.
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

// Negative indices count from the end of an axis of size `size`.
at::Tensor wrap_index(const at::Tensor& idx, int64_t size) {
  at::Tensor i = idx.to(at::kLong);
  return at::where(i < 0, i + size, i);
}

Tensors scatter_elements(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& data = in.at(0);
  const at::Tensor& updates = in.at(2);
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), data.dim());
  at::Tensor idx = wrap_index(in.at(1), data.size(axis));
  const std::string reduction = ctx.opset() >= 16 ? ctx.attr_string("reduction", "none") : "none";
  if (reduction == "none") return {data.scatter(axis, idx, updates)};
  if (reduction == "add") return {data.scatter_add(axis, idx, updates)};
  if (reduction == "mul") {
    // One slice along `axis` at a time: within a slice every target is distinct, so repeats multiply in order.
    at::Tensor out = data;
    for (int64_t k = 0; k < idx.size(axis); ++k) {
      at::Tensor ik = idx.narrow(axis, k, 1);
      out = out.scatter(axis, ik, out.gather(axis, ik) * updates.narrow(axis, k, 1));
    }
    return {out};
  }
  ctx.fail("unknown reduction '" + reduction + "'", "use none, add or mul");
}

// For index tuples over the first k axes of `sizes`: the flat position within those k axes.
at::Tensor flat_position(const OpContext& ctx, const at::Tensor& indices, at::IntArrayRef sizes) {
  const int64_t k = indices.size(-1);
  if (k > static_cast<int64_t>(sizes.size())) ctx.fail("index tuples are longer than the data's rank");
  at::Tensor idx = indices.to(at::kLong);
  at::Tensor lin = at::zeros(idx.sizes().slice(0, idx.dim() - 1), at::kLong);
  for (int64_t j = 0; j < k; ++j) lin = lin * sizes[j] + wrap_index(idx.select(-1, j), sizes[j]);
  return lin;
}

Tensors scatter_nd(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& data = in.at(0);
  const at::Tensor& indices = in.at(1);
  const at::Tensor& updates = in.at(2);
  const int64_t k = indices.size(-1);
  at::Tensor lin = flat_position(ctx, indices, data.sizes()).reshape(-1);
  std::vector<int64_t> flat{-1};
  for (int64_t d = k; d < data.dim(); ++d) flat.push_back(data.size(d));
  at::Tensor out = data.reshape(flat).clone();
  at::Tensor upd = updates.reshape(flat);
  const std::string reduction = ctx.opset() >= 16 ? ctx.attr_string("reduction", "none") : "none";
  if (reduction == "none")
    out = out.index_put({lin}, upd);
  else if (reduction == "add")
    out = out.index_put({lin}, upd, true);
  else if (reduction == "mul")  // row by row, so that repeated indices multiply in order
    for (int64_t k = 0; k < lin.size(0); ++k) {
      at::Tensor lk = lin.narrow(0, k, 1);
      out = out.index_put({lk}, out.index_select(0, lk) * upd.narrow(0, k, 1));
    }
  else
    ctx.fail("unknown reduction '" + reduction + "'", "use none, add or mul");
  return {out.reshape(data.sizes())};
}

Tensors gather_nd(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& data = in.at(0);
  const at::Tensor& indices = in.at(1);
  const int64_t b = ctx.opset() >= 12 ? ctx.attr_int("batch_dims", 0) : 0;
  const int64_t k = indices.size(-1);
  if (b < 0 || b + k > data.dim() || b >= indices.dim()) ctx.fail("batch_dims/index length do not fit the data rank");
  int64_t batch = 1;
  for (int64_t d = 0; d < b; ++d) batch *= data.size(d);
  int64_t positions = 1;
  for (int64_t d = b; d < b + k; ++d) positions *= data.size(d);
  std::vector<int64_t> rest(data.sizes().begin() + b + k, data.sizes().end());
  std::vector<int64_t> flat{batch * positions};
  flat.insert(flat.end(), rest.begin(), rest.end());
  at::Tensor lin = flat_position(ctx, indices, data.sizes().slice(b)).reshape({batch, -1});
  lin = lin + at::arange(batch, at::kLong).unsqueeze(1) * positions;
  at::Tensor g = data.reshape(flat).index_select(0, lin.reshape(-1));
  std::vector<int64_t> shape(indices.sizes().begin(), indices.sizes().end() - 1);
  shape.insert(shape.end(), rest.begin(), rest.end());
  return {g.reshape(shape)};
}

}  // namespace

void register_scatter_ops(OpTable& t) {
  t.add({"Scatter", 9, scatter_elements});
  t.add({"ScatterElements", 11, scatter_elements});
  t.add({"ScatterND", 11, scatter_nd});
  t.add({"GatherND", 11, gather_nd});
}

}  // namespace pare::ops
