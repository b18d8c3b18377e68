#include "pare/quant/observers/channel_observer.h"

#include "pare/error.h"

namespace pare::quant {

ChannelObserver::ChannelObserver(ObserverKind kind, int64_t axis) : kind_(kind), axis_(axis) {
  if (kind != ObserverKind::MinMax && kind != ObserverKind::MovingAverage)
    throw Error("per-channel activation scales take the minmax or moving_average observer")
        .got(to_string(kind))
        .hint("use --observer minmax, or per-tensor activation scales");
}

void ChannelObserver::observe(const at::Tensor& x_in) {
  if (x_in.dim() == 0) throw Error("per-channel activation scales need an activation with a channel axis");
  const int64_t axis = axis_ < 0 ? axis_ + x_in.dim() : axis_;
  if (axis < 0 || axis >= x_in.dim()) throw Error("activation channel axis out of range").got(std::to_string(axis_));
  const at::Tensor x = x_in.detach().to(at::kFloat).movedim(axis, 0).reshape({x_in.size(axis), -1});
  if (x.size(1) == 0) return;
  if (!at::isfinite(x).all().item<bool>()) throw Error("calibration produced NaN or Inf activations");
  const at::Tensor lo = std::get<0>(x.min(1)), hi = std::get<0>(x.max(1));
  if (!min_.defined()) {
    axis_ = axis;
    rank_ = x_in.dim();
    min_ = avg_min_ = lo;
    max_ = avg_max_ = hi;
    return;
  }
  if (axis != axis_ || lo.numel() != min_.numel())
    throw Error("activation changed its channel count between calibration batches")
        .expected(std::to_string(min_.numel()) + " channels")
        .got(std::to_string(lo.numel()));
  min_ = at::minimum(min_, lo);
  max_ = at::maximum(max_, hi);
  avg_min_ = avg_min_ + 0.01 * (lo - avg_min_);
  avg_max_ = avg_max_ + 0.01 * (hi - avg_max_);
}

RowScales ChannelObserver::scales(const Grid& grid) const {
  if (!min_.defined()) throw Error("observer saw no data");
  const bool avg = kind_ == ObserverKind::MovingAverage;
  return scales_for_range((avg ? avg_min_ : min_).reshape({-1, 1}), (avg ? avg_max_ : max_).reshape({-1, 1}), grid);
}

}  // namespace pare::quant
