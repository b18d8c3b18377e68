// A lossless mapping between pare's grouped tensors and ggml's block types, so that a weight pare quantized
// is written to GGUF with its own codes instead of being dequantized and rounded a second time:
//
//   Q4_0 <- uniform 4-bit symmetric, group:32 along the reduction, float16 scales: q = code + 8 (codes in
//           [-7, 7], so ggml's level -8 stays unused), d = scale
//   Q8_0 <- uniform 8-bit symmetric, group:32, float16 scales: qs = code (in [-127, 127]), d = scale
//
// Blocks run along the [O, R] view's rows (formats/granularity.h), which is GGUF's ne[0] for a weight stored
// [out, in]. Anything else (other bits or group sizes, zero points, residual terms) has no exact block form.
#pragma once
#include <cstdint>
#include <string>

#include "pare/formats/ggml_types.h"
#include "pare/formats/quantized_weight.h"

namespace pare::formats {

// Whether `q` maps exactly onto blocks of `type` (Q4_0 or Q8_0); otherwise `why` (when given) says what does not.
bool ggml_exact(const QuantizedWeight& q, GgmlType type, std::string* why = nullptr);

// The bytes of `q` (out_axis 0 or a 1-D tensor, ggml_exact) as blocks of `type`, row after row of the [O, R] view.
std::string to_ggml_blocks(const QuantizedTensor& q, GgmlType type);

// The [o, r] tensor those blocks hold, back as codes and float16-exact scales (group:32, symmetric 4 or 8 bits).
QuantizedTensor from_ggml_blocks(const uint8_t* data, int64_t o, int64_t r, GgmlType type);

}  // namespace pare::formats
