// Signal processing (opset 17): Hann/Hamming/Blackman windows, DFT and STFT on at::fft, MelWeightMatrix.
// Complex values travel as a trailing axis of 2 (real, imaginary), as ONNX represents them.
#include <cmath>

#include "pare/ir/dtype.h"
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

template <int Kind>  // 0 Hann, 1 Hamming, 2 Blackman
Tensors window(const OpContext& ctx, const Tensors& in) {
  const int64_t n = in.at(0).reshape(-1)[0].item<int64_t>();
  const bool periodic = ctx.attr_int("periodic", 1) != 0;
  const auto type = ir::to_scalar_type(static_cast<ir::DType>(ctx.attr_int("output_datatype", 1)));
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  at::Tensor w;
  if (Kind == 0)
    w = at::hann_window(n, periodic, opts);
  else if (Kind == 1)
    w = at::hamming_window(n, periodic, 25.0 / 46.0, 21.0 / 46.0, opts);  // ONNX coefficients
  else
    w = at::blackman_window(n, periodic, opts);
  return {w.to(type)};
}

// [..., 1 or 2] real-or-complex layout (double) -> complex (or real when the last axis is 1) without it.
at::Tensor from_onnx_complex(const OpContext& ctx, const at::Tensor& x) {
  if (x.size(-1) == 1) return x.squeeze(-1);
  if (x.size(-1) == 2) return at::view_as_complex(x.contiguous());
  ctx.fail("the last axis must be 1 (real) or 2 (complex), got " + std::to_string(x.size(-1)));
}

at::Tensor to_onnx_complex(const at::Tensor& y, at::ScalarType type) {
  at::Tensor c = y.is_complex() ? y : at::complex(y, at::zeros_like(y));
  return at::view_as_real(c).to(type);
}

Tensors dft(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 1), x.dim() - 1);
  const bool inverse = ctx.attr_int("inverse", 0) != 0, onesided = ctx.attr_int("onesided", 0) != 0;
  c10::optional<int64_t> n;
  if (has_input(in, 1)) n = in[1].reshape(-1)[0].item<int64_t>();
  at::Tensor s = from_onnx_complex(ctx, x.to(at::kDouble));  // double: near-zero bins stay near zero
  at::Tensor y;
  if (onesided) {
    if (inverse) ctx.fail("onesided inverse DFT is not defined");
    y = s.is_complex() ? at::fft_fft(s, n, axis).narrow(axis, 0, n.value_or(s.size(axis)) / 2 + 1)
                       : at::fft_rfft(s, n, axis);
  } else {
    y = inverse ? at::fft_ifft(s, n, axis) : at::fft_fft(s, n, axis);
  }
  return {to_onnx_complex(y, x.scalar_type())};
}

Tensors stft(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);  // [batch, length, 1 or 2]
  const int64_t step = in.at(1).reshape(-1)[0].item<int64_t>();
  at::Tensor win = opt_input(in, 2);
  const int64_t len = has_input(in, 3) ? in[3].reshape(-1)[0].item<int64_t>() : (win.defined() ? win.numel() : -1);
  if (len <= 0 || step <= 0) ctx.fail("frame_length (or a window) and a positive frame_step are needed");
  const bool onesided = ctx.attr_int("onesided", 1) != 0;
  at::Tensor s = from_onnx_complex(ctx, x.to(at::kDouble));  // double: near-zero bins stay near zero
  at::Tensor frames = s.unfold(1, len, step);                // [batch, frames, len]
  if (win.defined()) frames = frames * win.to(at::kDouble);
  at::Tensor y =
      onesided && !frames.is_complex() ? at::fft_rfft(frames, c10::nullopt, -1) : at::fft_fft(frames, c10::nullopt, -1);
  if (onesided && frames.is_complex()) y = y.narrow(-1, 0, len / 2 + 1);
  return {to_onnx_complex(y, x.scalar_type())};
}

// MelWeightMatrix: triangular mel filters over the DFT bins [dft_length/2 + 1, num_mel_bins], with the
// filter edges snapped to whole bins as the ONNX reference does. Built from scalars, not from data.
Tensors mel_weight_matrix(const OpContext& ctx, const Tensors& in) {
  const int64_t mels = in.at(0).reshape(-1)[0].item<int64_t>(), dft_len = in.at(1).reshape(-1)[0].item<int64_t>();
  const double rate = in.at(2).reshape(-1)[0].item<double>();
  const double lo = in.at(3).reshape(-1)[0].item<double>(), hi = in.at(4).reshape(-1)[0].item<double>();
  if (mels < 1 || dft_len < 1 || rate <= 0) ctx.fail("num_mel_bins, dft_length and sample_rate must be positive");
  const auto type = ir::to_scalar_type(static_cast<ir::DType>(ctx.attr_int("output_datatype", 1)));
  auto to_mel = [](double hz) { return 2595.0 * std::log10(1 + hz / 700.0); };
  const double mel_lo = to_mel(lo), step = (to_mel(hi) - mel_lo) / static_cast<double>(mels + 2);
  std::vector<int64_t> edge(mels + 2);
  for (int64_t i = 0; i < mels + 2; ++i) {
    const double hz = 700.0 * (std::pow(10.0, (i * step + mel_lo) / 2595.0) - 1);
    edge[i] = static_cast<int64_t>(std::floor((dft_len + 1) * hz / rate));
  }
  const int64_t bins = dft_len / 2 + 1;
  std::vector<double> w(bins * mels, 0.0);
  auto set = [&](int64_t j, int64_t i, double v) {
    if (j >= 0 && j < bins) w[j * mels + i] = v;
  };
  for (int64_t i = 0; i < mels; ++i) {
    const int64_t left = edge[i], center = edge[i + 1], right = edge[i + 2];
    if (center == left)
      set(center, i, 1.0);
    else
      for (int64_t j = left; j <= center; ++j) set(j, i, double(j - left) / double(center - left));
    for (int64_t j = center; j < right; ++j) set(j, i, double(right - j) / double(right - center));
  }
  return {at::tensor(w, at::kDouble).reshape({bins, mels}).to(type)};
}

}  // namespace

void register_spectral_ops(OpTable& t) {
  t.add({"HannWindow", 17, window<0>});
  t.add({"HammingWindow", 17, window<1>});
  t.add({"BlackmanWindow", 17, window<2>});
  t.add({"DFT", 17, dft});
  t.add({"STFT", 17, stft});
  t.add({"MelWeightMatrix", 17, mel_weight_matrix});
}

}  // namespace pare::ops
