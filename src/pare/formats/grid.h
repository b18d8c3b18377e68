// formats::Grid: the set of values a quantized number can take, before its scale. Four kinds:
//   uniform   integer codes q in [qmin, qmax]; value (q - zero_point) * scale
//   power     signed codes in [-n, n], n = 2^(b-1) - 1; value scale * sign(q) * (|q| / n)^(1/a)
//             (PowerQuant, docs/methods/powerquant.md; a = 1 is uniform)
//   ternary   codes in {-1, 0, 1}; value scale * q (methods choose the threshold)
//   codebook  codes index a table of 2^b values; value scale * table[q]
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>

namespace pare::formats {

enum class GridKind { Uniform, Power, Ternary, Codebook };

struct Grid {
  GridKind kind = GridKind::Uniform;
  int bits = 8;
  // Uniform only. signed: codes in [-2^(b-1), 2^(b-1) - 1], else [0, 2^b - 1]. symmetric: zero point 0
  // and the narrow signed range [-(2^(b-1) - 1), 2^(b-1) - 1], so that +x and -x are both exact.
  bool is_signed = true;
  bool symmetric = true;
  double exponent = 1.0;  // power only: the exponent a
  at::Tensor table;       // codebook only: float [2^bits], ascending

  static Grid uniform(int bits, bool symmetric = true, bool is_signed = true);
  static Grid power(int bits, double exponent);
  static Grid ternary();
  static Grid codebook(at::Tensor table);  // bits = log2(table size), which must be a power of two

  int64_t qmin() const;
  int64_t qmax() const;
  bool has_zero_point() const { return kind == GridKind::Uniform && !symmetric; }
  // The largest |value| of a code at scale 1: what the clip range maps onto (uniform: qmax, power and
  // ternary: 1, codebook: max |table|).
  double unit_max() const;
  // Throws Error (naming `what`) unless the grid is well formed: bits 2..8 (ternary: 2), exponent > 0, table
  // sorted and finite.
  void validate(const std::string& what = "grid") const;
  std::string str() const;  // "int4 symmetric", "uint8", "power4 a=0.55", "ternary", "codebook16"
};

}  // namespace pare::formats
