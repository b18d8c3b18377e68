#include "pare/quant/observers/observer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "pare/error.h"

namespace pare::quant {

ObserverKind parse_observer(const std::string& text) {
  if (text == "minmax") return ObserverKind::MinMax;
  if (text == "moving_average") return ObserverKind::MovingAverage;
  if (text == "percentile") return ObserverKind::Percentile;
  if (text == "mse") return ObserverKind::Mse;
  if (text == "entropy" || text == "kl") return ObserverKind::Entropy;
  throw Error("unknown activation observer '" + text + "'")
      .expected("minmax, moving_average, percentile, mse or entropy");
}

std::string to_string(ObserverKind k) {
  switch (k) {
    case ObserverKind::MinMax:
      return "minmax";
    case ObserverKind::MovingAverage:
      return "moving_average";
    case ObserverKind::Percentile:
      return "percentile";
    case ObserverKind::Mse:
      return "mse";
    case ObserverKind::Entropy:
      return "entropy";
  }
  return "?";
}

Observer::Observer(ObserverKind kind, int64_t sample_size, uint64_t seed, double percentile)
    : kind_(kind),
      sample_size_(sample_size),
      percentile_(percentile),
      gen_(at::make_generator<at::CPUGeneratorImpl>(seed)) {}

void Observer::observe(const at::Tensor& x_in) {
  const at::Tensor x = x_in.detach().to(at::kFloat).flatten();
  if (x.numel() == 0) return;
  if (!at::isfinite(x).all().item<bool>())
    throw Error("calibration produced NaN or Inf activations")
        .hint("check the model in float first (pare eval); calibration data must be what the model expects");
  const double lo = x.min().item<double>(), hi = x.max().item<double>();
  if (count_ == 0) {
    min_ = avg_min_ = lo;
    max_ = avg_max_ = hi;
  } else {
    min_ = std::min(min_, lo);
    max_ = std::max(max_, hi);
    avg_min_ += 0.01 * (lo - avg_min_);
    avg_max_ += 0.01 * (hi - avg_max_);
  }
  count_ += x.numel();
  if (kind_ == ObserverKind::MinMax || kind_ == ObserverKind::MovingAverage) return;
  // Keep the values with the smallest random keys: a uniform sample of everything observed so far.
  at::Tensor keys = at::rand({x.numel()}, gen_);
  at::Tensor values = x;
  if (sample_.defined() && sample_.numel() >= sample_size_) {
    const at::Tensor fresh = keys < keys_.max();
    keys = keys.masked_select(fresh);
    values = values.masked_select(fresh);
  }
  if (sample_.defined()) {
    keys = at::cat({keys_, keys});
    values = at::cat({sample_, values});
  }
  if (keys.numel() > sample_size_) {
    const at::Tensor idx = std::get<1>(at::topk(keys, sample_size_, 0, /*largest=*/false, /*sorted=*/false));
    keys = keys.index_select(0, idx);
    values = values.index_select(0, idx);
  }
  keys_ = keys;
  sample_ = values;
}

Grid Observer::grid(int bits) const { return Grid::uniform(bits, /*symmetric=*/false, /*is_signed=*/false); }

at::Tensor Observer::entropy_threshold(const Grid& grid) const {
  // Histogram of |x| over [0, max |x|]; try clip thresholds at bin edges i >= levels and keep the one
  // whose distribution, requantized to `levels` bins, loses the least information (KL(P || Q)).
  constexpr int64_t bins = 2048;
  const at::Tensor a = sample_.abs().to(at::kDouble);
  const double top = a.max().item<double>();
  if (top == 0) return at::zeros({1, 1});
  const at::Tensor hist = at::histc(a, bins, 0, top);
  const auto h = hist.accessor<double, 1>();
  // Levels available to |x|: half the codes when values of both signs share the grid.
  const int64_t levels =
      std::max<int64_t>(2, min_ < 0 ? (grid.qmax() - grid.qmin() + 1) / 2 : grid.qmax() - grid.qmin() + 1);
  double best_kl = std::numeric_limits<double>::infinity();
  int64_t best_i = bins;
  for (int64_t i = levels; i <= bins; ++i) {
    std::vector<double> p(h.data(), h.data() + i);
    for (int64_t k = i; k < bins; ++k) p[i - 1] += h[k];  // clipped mass lands in the last bin
    // Q: merge p into `levels` groups, spread each group's mass evenly over its non-empty bins.
    std::vector<double> q(i, 0.0);
    for (int64_t l = 0; l < levels; ++l) {
      const int64_t b0 = l * i / levels, b1 = (l + 1) * i / levels;
      double mass = 0;
      int64_t nonzero = 0;
      for (int64_t k = b0; k < b1; ++k) {
        mass += p[k];
        nonzero += p[k] > 0;
      }
      for (int64_t k = b0; k < b1; ++k)
        if (p[k] > 0) q[k] = mass / static_cast<double>(nonzero);
    }
    double sp = 0, sq = 0;
    for (int64_t k = 0; k < i; ++k) sp += p[k], sq += q[k];
    double kl = 0;
    for (int64_t k = 0; k < i; ++k)
      if (p[k] > 0) kl += p[k] / sp * std::log((p[k] / sp) / (q[k] / sq));
    if (kl < best_kl) best_kl = kl, best_i = i;
  }
  return at::full({1, 1}, top * static_cast<double>(best_i) / bins);
}

RowScales Observer::scales(const Grid& g) const {
  if (count_ == 0) throw Error("observer saw no data").hint("the calibration set is empty or never reached this value");
  const at::Tensor mn = at::full({1, 1}, min_), mx = at::full({1, 1}, max_);
  switch (kind_) {
    case ObserverKind::MinMax:
      return scales_for_range(mn, mx, g);
    case ObserverKind::MovingAverage:
      return scales_for_range(at::full({1, 1}, avg_min_), at::full({1, 1}, avg_max_), g);
    case ObserverKind::Percentile:
    case ObserverKind::Mse: {
      ScaleOptions o;
      o.method = kind_ == ObserverKind::Mse ? ScaleMethod::Mse : ScaleMethod::Percentile;
      o.percentile = percentile_;
      return choose_scales(sample_.reshape({1, -1}), g, o);
    }
    case ObserverKind::Entropy: {
      const at::Tensor t = entropy_threshold(g);
      return scales_for_range(min_ < 0 ? -t : at::zeros({1, 1}), t, g);
    }
  }
  return scales_for_range(mn, mx, g);
}

}  // namespace pare::quant
