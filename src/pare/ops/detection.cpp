// Object-detection ops: NonMaxSuppression (greedy, per batch and class) and RoiAlign (average mode,
// as separable bilinear sampling matrices so that gradients reach the feature map).
#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

Tensors non_max_suppression(const OpContext& ctx, const Tensors& in) {
  // Indices are computed on a detached double copy: NMS outputs selections, not differentiable values.
  const at::Tensor boxes = in.at(0).detach().to(at::kDouble).contiguous();   // [B, N, 4]
  const at::Tensor scores = in.at(1).detach().to(at::kDouble).contiguous();  // [B, C, N]
  if (boxes.dim() != 3 || boxes.size(2) != 4 || scores.dim() != 3 || scores.size(0) != boxes.size(0) ||
      scores.size(2) != boxes.size(1))
    ctx.fail("boxes must be [B, N, 4] and scores [B, C, N], got " + ir::shape_string(boxes.sizes()) + " and " +
             ir::shape_string(scores.sizes()));
  const int64_t max_out = has_input(in, 2) ? in[2].reshape(-1)[0].item<int64_t>() : 0;
  const double iou_limit = has_input(in, 3) ? in[3].reshape(-1)[0].item<double>() : 0.0;
  const bool use_score = has_input(in, 4);
  const double score_min = use_score ? in[4].reshape(-1)[0].item<double>() : 0.0;
  const bool center = ctx.attr_int("center_point_box", 0) != 0;
  auto b = boxes.accessor<double, 3>();
  auto s = scores.accessor<double, 3>();
  // Box i of batch n as (y1, x1, y2, x2) with y1 <= y2 and x1 <= x2.
  auto corners = [&](int64_t n, int64_t i) {
    std::array<double, 4> c;
    if (center) {
      c = {b[n][i][1] - b[n][i][3] / 2, b[n][i][0] - b[n][i][2] / 2, b[n][i][1] + b[n][i][3] / 2,
           b[n][i][0] + b[n][i][2] / 2};
    } else {
      c = {std::min(b[n][i][0], b[n][i][2]), std::min(b[n][i][1], b[n][i][3]), std::max(b[n][i][0], b[n][i][2]),
           std::max(b[n][i][1], b[n][i][3])};
    }
    return c;
  };
  auto iou = [](const std::array<double, 4>& a, const std::array<double, 4>& c) {
    const double ih = std::max(0.0, std::min(a[2], c[2]) - std::max(a[0], c[0]));
    const double iw = std::max(0.0, std::min(a[3], c[3]) - std::max(a[1], c[1]));
    const double inter = ih * iw;
    const double uni = (a[2] - a[0]) * (a[3] - a[1]) + (c[2] - c[0]) * (c[3] - c[1]) - inter;
    return uni <= 0 ? 0.0 : inter / uni;
  };
  std::vector<int64_t> out;
  const int64_t nbox = boxes.size(1);
  for (int64_t n = 0; n < boxes.size(0); ++n)
    for (int64_t cl = 0; cl < scores.size(1); ++cl) {
      std::vector<int64_t> order;
      for (int64_t i = 0; i < nbox; ++i)
        if (!use_score || s[n][cl][i] > score_min) order.push_back(i);
      std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return s[n][cl][i] > s[n][cl][j]; });
      std::vector<std::array<double, 4>> kept;
      for (int64_t i : order) {
        if (static_cast<int64_t>(kept.size()) >= max_out) break;
        auto c = corners(n, i);
        bool suppressed = false;
        for (const auto& k : kept) suppressed = suppressed || iou(k, c) > iou_limit;
        if (suppressed) continue;
        kept.push_back(c);
        out.insert(out.end(), {n, cl, i});
      }
    }
  return {at::tensor(out, at::kLong).reshape({-1, 3})};
}

// Bilinear sampling weights along one axis: [samples, size]; samples outside [-1, size] weigh 0.
at::Tensor sampling_matrix(const std::vector<double>& pos, int64_t size) {
  std::vector<double> w(pos.size() * size, 0.0);
  for (size_t k = 0; k < pos.size(); ++k) {
    double p = pos[k];
    if (p < -1.0 || p > static_cast<double>(size)) continue;
    p = std::max(p, 0.0);
    int64_t lo = static_cast<int64_t>(std::floor(p)), hi = lo + 1;
    if (lo >= size - 1) {
      lo = hi = size - 1;
      p = static_cast<double>(lo);
    }
    const double frac = p - static_cast<double>(lo);
    w[k * size + lo] += 1 - frac;
    w[k * size + hi] += frac;
  }
  return at::tensor(w, at::kDouble).reshape({static_cast<int64_t>(pos.size()), size});
}

Tensors roi_align(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);  // [N, C, H, W]
  const at::Tensor rois = in.at(1).detach().to(at::kDouble).contiguous();
  const at::Tensor batch = in.at(2).to(at::kLong).contiguous();
  if (x.dim() != 4 || rois.dim() != 2 || rois.size(1) != 4) ctx.fail("X must be NCHW and rois [R, 4]");
  if (ctx.attr_string("mode", "avg") != "avg") ctx.fail("only mode=avg is supported", "export with mode='avg'");
  const int64_t oh = ctx.attr_int("output_height", 1), ow = ctx.attr_int("output_width", 1);
  const int64_t ratio = ctx.attr_int("sampling_ratio", 0);
  const double scale = ctx.attr_float("spatial_scale", 1.0);
  const bool half_pixel =
      ctx.opset() >= 16 && ctx.attr_string("coordinate_transformation_mode", "half_pixel") == "half_pixel";
  const double offset = half_pixel ? 0.5 : 0.0;
  auto r = rois.accessor<double, 2>();
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < rois.size(0); ++i) {
    const double x1 = r[i][0] * scale - offset, y1 = r[i][1] * scale - offset;
    double rw = r[i][2] * scale - offset - x1, rh = r[i][3] * scale - offset - y1;
    if (!half_pixel) rw = std::max(rw, 1.0), rh = std::max(rh, 1.0);
    const int64_t gh = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rh / oh));
    const int64_t gw = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rw / ow));
    std::vector<double> ys, xs;
    for (int64_t p = 0; p < oh; ++p)
      for (int64_t k = 0; k < gh; ++k) ys.push_back(y1 + p * rh / oh + (k + 0.5) * rh / oh / gh);
    for (int64_t p = 0; p < ow; ++p)
      for (int64_t k = 0; k < gw; ++k) xs.push_back(x1 + p * rw / ow + (k + 0.5) * rw / ow / gw);
    at::Tensor wy = sampling_matrix(ys, x.size(2)).to(x.scalar_type());
    at::Tensor wx = sampling_matrix(xs, x.size(3)).to(x.scalar_type());
    at::Tensor fmap = x[batch[i].item<int64_t>()];                  // [C, H, W]
    at::Tensor samples = at::matmul(at::matmul(wy, fmap), wx.t());  // [C, oh*gh, ow*gw]
    const int64_t gh1 = std::max<int64_t>(gh, 1), gw1 = std::max<int64_t>(gw, 1);
    if (gh == 0 || gw == 0)
      samples = at::zeros({x.size(1), oh, ow}, x.options());
    else
      samples = samples.reshape({x.size(1), oh, gh1, ow, gw1}).mean({2, 4});
    out.push_back(samples);
  }
  if (out.empty()) return {at::zeros({0, x.size(1), oh, ow}, x.options())};
  return {at::stack(out, 0)};
}

}  // namespace

void register_detection_ops(OpTable& t) {
  t.add({"NonMaxSuppression", 10, non_max_suppression});
  t.add({"RoiAlign", 10, roi_align});
}

}  // namespace pare::ops
