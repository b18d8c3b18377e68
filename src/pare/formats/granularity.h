// Which weights share one scale, and the matrix view every quantizer works on.
//
// A weight is viewed as a matrix [O, R]: O output channels (the axis `out_axis` of the stored tensor:
// 0 for Conv and Gemm with transB=1, 1 for ConvTranspose, MatMul and Gemm with transB=0) by R reduction
// elements (all other axes, flattened in order: for Conv, input channel then kernel rows and columns).
// Scales are then per tensor [1, 1], per output channel [O, 1], or per group of g consecutive reduction
// elements [O, ceil(R / g)]. When g does not divide R, the last group of each row is shorter (R mod g
// elements); when R <= g, group quantization is per-channel quantization.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pare::formats {

struct Granularity {
  enum class Kind { Tensor, Channel, Group };
  Kind kind = Kind::Channel;
  int64_t group_size = 0;  // Group only

  static Granularity tensor() { return {Kind::Tensor, 0}; }
  static Granularity channel() { return {Kind::Channel, 0}; }
  static Granularity group(int64_t g);
  // "tensor", "channel", "group:128" (g a power of two, at least 8); throws Error otherwise.
  static Granularity parse(const std::string& text);
  std::string str() const;
  // Number of scales along R for a reduction of `r` elements.
  int64_t groups(int64_t r) const;
};

// [O, R] view of `w` with output channels on `out_axis`.
at::Tensor to_matrix(const at::Tensor& w, int64_t out_axis);
// Inverse of to_matrix for a tensor of shape `shape`.
at::Tensor from_matrix(const at::Tensor& m, at::IntArrayRef shape, int64_t out_axis);

// Rows that share one scale: [O, R] -> [O * groups, g] (tensor: [1, O * R]; channel: [O, R]). A short
// last group is padded with zeros, which every grid represents exactly, so padding changes no range.
at::Tensor to_rows(const at::Tensor& matrix, const Granularity& g);
// Inverse of to_rows: drops the padding.
at::Tensor from_rows(const at::Tensor& rows, int64_t o, int64_t r, const Granularity& g);
// Shape of the scale tensor for an [O, R] matrix: [1, 1], [O, 1] or [O, groups].
std::vector<int64_t> scale_shape(int64_t o, int64_t r, const Granularity& g);

}  // namespace pare::formats
