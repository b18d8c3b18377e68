// Static per-channel activation ranges: min-max or moving-average min-max per channel along one axis
// (Conv inputs: axis 1; Gemm and MatMul inputs: their reduction axis). The other observers need a value
// sample per channel and stay per-tensor.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

#include "pare/quant/format_types.h"
#include "pare/quant/observers/observer.h"
#include "pare/quant/scale_search.h"

namespace pare::quant {

class ChannelObserver {
 public:
  // kind: MinMax or MovingAverage (Error otherwise). axis: may be negative (from the end).
  ChannelObserver(ObserverKind kind, int64_t axis);

  void observe(const at::Tensor& x);
  int64_t channels() const { return min_.defined() ? min_.numel() : 0; }
  int64_t axis() const { return axis_; }  // normalized after the first observe()
  int64_t rank() const { return rank_; }
  double min() const { return min_.min().item<double>(); }
  double max() const { return max_.max().item<double>(); }
  // Scale and zero point per channel ([C, 1] each). Throws if nothing was observed.
  RowScales scales(const Grid& grid) const;

 private:
  ObserverKind kind_;
  int64_t axis_, rank_ = 0;
  at::Tensor min_, max_, avg_min_, avg_max_;  // float [C]
};

}  // namespace pare::quant
