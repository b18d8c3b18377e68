// quant::Observer: gathers statistics of one activation during calibration and turns them into a scale
// and zero point. It only observes; inserting quantizers is activation_pass.h's job.
//   minmax          global minimum and maximum
//   moving_average  exponential moving average of per-batch minimum and maximum (constant 0.01, the
//                   first batch sets the start), which forgets rare extremes
//   percentile      the p-th and (100-p)-th percentiles
//   mse             the clip range that minimizes the squared quantization error (scale_search.h)
//   entropy         the clip range whose quantized histogram is closest in KL divergence to the observed
//                   one (the TensorRT calibration procedure, 2048 bins)
// Percentile, mse and entropy work on a uniform random sample of all observed values (at most
// `sample_size` of them, kept with random keys), so memory stays bounded on any calibration set.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>

#include "pare/quant/format_types.h"
#include "pare/quant/scale_search.h"

namespace pare::quant {

enum class ObserverKind { MinMax, MovingAverage, Percentile, Mse, Entropy };

ObserverKind parse_observer(const std::string& text);
std::string to_string(ObserverKind k);

class Observer {
 public:
  explicit Observer(ObserverKind kind, int64_t sample_size = int64_t{1} << 18, uint64_t seed = 0,
                    double percentile = 99.99);

  void observe(const at::Tensor& x);
  int64_t count() const { return count_; }
  double min() const { return min_; }
  double max() const { return max_; }

  // The grid activations take: unsigned (zero point 0) when nothing negative was observed, else
  // unsigned with a zero point. Both are what ONNX QuantizeLinear's uint8 expresses.
  Grid grid(int bits) const;
  // Scale and zero point ([1, 1] each) for `grid`. Throws if nothing was observed.
  RowScales scales(const Grid& grid) const;

 private:
  at::Tensor entropy_threshold(const Grid& grid) const;

  ObserverKind kind_;
  int64_t sample_size_;
  double percentile_;
  at::Generator gen_;
  int64_t count_ = 0;
  double min_ = 0, max_ = 0, avg_min_ = 0, avg_max_ = 0;
  at::Tensor sample_, keys_;  // float [n] each: kept values and their random keys (the n smallest)
};

}  // namespace pare::quant
