#include "pare/formats/granularity.h"

#include <fmt/format.h>

#include "pare/error.h"

namespace pare::formats {

Granularity Granularity::group(int64_t g) {
  if (g < 8 || (g & (g - 1)) != 0)
    throw Error("group size must be a power of two, at least 8")
        .got(std::to_string(g))
        .hint("common sizes are 32, 64 and 128");
  return {Kind::Group, g};
}

Granularity Granularity::parse(const std::string& text) {
  if (text == "tensor") return tensor();
  if (text == "channel") return channel();
  if (text.rfind("group:", 0) == 0) {
    const std::string n = text.substr(6);
    if (!n.empty() && n.find_first_not_of("0123456789") == std::string::npos && n.size() < 10)
      return group(std::stoll(n));
  }
  throw Error("unknown granularity '" + text + "'").expected("tensor, channel or group:G (e.g. group:128)");
}

std::string Granularity::str() const {
  switch (kind) {
    case Kind::Tensor:
      return "tensor";
    case Kind::Channel:
      return "channel";
    case Kind::Group:
      return fmt::format("group:{}", group_size);
  }
  return "?";
}

int64_t Granularity::groups(int64_t r) const { return kind == Kind::Group ? (r + group_size - 1) / group_size : 1; }

at::Tensor to_matrix(const at::Tensor& w, int64_t out_axis) {
  if (w.dim() == 0) return w.reshape({1, 1});
  if (w.dim() == 1) return w.reshape({-1, 1});
  return w.movedim(out_axis, 0).reshape({w.size(out_axis), -1});
}

at::Tensor from_matrix(const at::Tensor& m, at::IntArrayRef shape, int64_t out_axis) {
  if (shape.size() <= 1) return m.reshape(shape);
  std::vector<int64_t> moved(shape.begin(), shape.end());
  moved.erase(moved.begin() + out_axis);
  moved.insert(moved.begin(), shape[out_axis]);
  return m.reshape(moved).movedim(0, out_axis).contiguous();
}

at::Tensor to_rows(const at::Tensor& matrix, const Granularity& g) {
  switch (g.kind) {
    case Granularity::Kind::Tensor:
      return matrix.reshape({1, -1});
    case Granularity::Kind::Channel:
      return matrix;
    case Granularity::Kind::Group: {
      const int64_t o = matrix.size(0), r = matrix.size(1), n = g.groups(r), gs = g.group_size;
      if (r <= gs) return matrix;  // one group per row
      at::Tensor m = matrix;
      if (n * gs != r) m = at::constant_pad_nd(matrix, {0, n * gs - r}, 0);
      return m.reshape({o * n, gs});
    }
  }
  return matrix;
}

at::Tensor from_rows(const at::Tensor& rows, int64_t o, int64_t r, const Granularity& g) {
  if (g.kind != Granularity::Kind::Group || r <= g.group_size) return rows.reshape({o, r});
  return rows.reshape({o, -1}).slice(1, 0, r);
}

std::vector<int64_t> scale_shape(int64_t o, int64_t r, const Granularity& g) {
  switch (g.kind) {
    case Granularity::Kind::Tensor:
      return {1, 1};
    case Granularity::Kind::Channel:
      return {o, 1};
    case Granularity::Kind::Group:
      return {o, g.groups(r)};
  }
  return {1, 1};
}

}  // namespace pare::formats
