// The ggml type table and the scalar reference codecs of the types pare reads and writes. The quantizers
// follow ggml-quants.c (ggml-org/ggml, quantize_row_q8_0_ref and quantize_row_q4_0_ref) operation by
// operation in fp32, so that pare's Q8_0/Q4_0 bytes equal llama.cpp's reference quantizer's (which
// llama-quantize uses for these types when no importance matrix is given: quantize_q4_0/quantize_q8_0).
// Caveat: a build that fuses x * id + 8.5f into an FMA (-march with FMA) could differ in rare last-bit cases;
// pare's build sets no -march.
#include "pare/formats/ggml_types.h"

#include <c10/util/Half.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "pare/error.h"

namespace pare::formats {

namespace {

// C's float -> int8_t conversion truncates toward zero; it is undefined for inf/NaN, which ggml's quantizers
// produce only for blocks whose largest magnitude is below about 2^-121 (then 1/d overflows). pare gives 0
// there (every value of such a block is below fp16's smallest subnormal scale anyway).
int trunc_or_zero(float v) {
  if (!(v > -2147483648.0f && v < 2147483648.0f)) return 0;
  return static_cast<int>(v);
}

void dequantize_f32(const uint8_t* in, float* out, int64_t n) { std::memcpy(out, in, static_cast<size_t>(n) * 4); }
void quantize_f32(const float* in, uint8_t* out, int64_t n) { std::memcpy(out, in, static_cast<size_t>(n) * 4); }

void dequantize_f16(const uint8_t* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, in + 2 * i, 2);
    out[i] = fp16_to_fp32(h);
  }
}
void quantize_f16(const float* in, uint8_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = fp32_to_fp16(in[i]);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

void dequantize_bf16(const uint8_t* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, in + 2 * i, 2);
    out[i] = bf16_to_fp32(h);
  }
}
void quantize_bf16(const float* in, uint8_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = fp32_to_bf16(in[i]);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

// Block codecs on byte buffers: each block is copied to an aligned struct (GGUF data may sit at any offset).
template <typename Block, int64_t kBlock, void (*kDequantize)(const Block*, float*, int64_t)>
void dequantize_blocks(const uint8_t* in, float* out, int64_t n) {
  Block b;
  for (int64_t i = 0; i < n / kBlock; ++i) {
    std::memcpy(&b, in + i * static_cast<int64_t>(sizeof(Block)), sizeof(Block));
    kDequantize(&b, out + i * kBlock, kBlock);
  }
}
template <typename Block, int64_t kBlock, void (*kQuantize)(const float*, Block*, int64_t)>
void quantize_blocks(const float* in, uint8_t* out, int64_t n) {
  Block b;
  for (int64_t i = 0; i < n / kBlock; ++i) {
    kQuantize(in + i * kBlock, &b, kBlock);
    std::memcpy(out + i * static_cast<int64_t>(sizeof(Block)), &b, sizeof(Block));
  }
}

// Block sizes and bytes per block from ggml-common.h (the static_asserts beside each block_* struct).
constexpr int64_t kQK_K = 256;
const GgmlTypeTraits kTraits[] = {
    {GgmlType::F32, "F32", 1, 4, dequantize_f32, quantize_f32},
    {GgmlType::F16, "F16", 1, 2, dequantize_f16, quantize_f16},
    {GgmlType::Q4_0, "Q4_0", kQ4_0BlockSize, sizeof(BlockQ4_0),
     dequantize_blocks<BlockQ4_0, kQ4_0BlockSize, dequantize_row_q4_0>,
     quantize_blocks<BlockQ4_0, kQ4_0BlockSize, quantize_row_q4_0_ref>},
    {GgmlType::Q4_1, "Q4_1", 32, 20, nullptr, nullptr},
    {GgmlType::Q5_0, "Q5_0", 32, 22, nullptr, nullptr},
    {GgmlType::Q5_1, "Q5_1", 32, 24, nullptr, nullptr},
    {GgmlType::Q8_0, "Q8_0", kQ8_0BlockSize, sizeof(BlockQ8_0),
     dequantize_blocks<BlockQ8_0, kQ8_0BlockSize, dequantize_row_q8_0>,
     quantize_blocks<BlockQ8_0, kQ8_0BlockSize, quantize_row_q8_0_ref>},
    {GgmlType::Q8_1, "Q8_1", 32, 36, nullptr, nullptr},
    {GgmlType::Q2_K, "Q2_K", kQK_K, 84, nullptr, nullptr},
    {GgmlType::Q3_K, "Q3_K", kQK_K, 110, nullptr, nullptr},
    {GgmlType::Q4_K, "Q4_K", kQK_K, 144, nullptr, nullptr},
    {GgmlType::Q5_K, "Q5_K", kQK_K, 176, nullptr, nullptr},
    {GgmlType::Q6_K, "Q6_K", kQK_K, 210, nullptr, nullptr},
    {GgmlType::Q8_K, "Q8_K", kQK_K, 292, nullptr, nullptr},
    {GgmlType::IQ2_XXS, "IQ2_XXS", kQK_K, 66, nullptr, nullptr},
    {GgmlType::IQ2_XS, "IQ2_XS", kQK_K, 74, nullptr, nullptr},
    {GgmlType::IQ3_XXS, "IQ3_XXS", kQK_K, 98, nullptr, nullptr},
    {GgmlType::IQ1_S, "IQ1_S", kQK_K, 50, nullptr, nullptr},
    {GgmlType::IQ4_NL, "IQ4_NL", 32, 18, nullptr, nullptr},
    {GgmlType::IQ3_S, "IQ3_S", kQK_K, 110, nullptr, nullptr},
    {GgmlType::IQ2_S, "IQ2_S", kQK_K, 82, nullptr, nullptr},
    {GgmlType::IQ4_XS, "IQ4_XS", kQK_K, 136, nullptr, nullptr},
    {GgmlType::I8, "I8", 1, 1, nullptr, nullptr},
    {GgmlType::I16, "I16", 1, 2, nullptr, nullptr},
    {GgmlType::I32, "I32", 1, 4, nullptr, nullptr},
    {GgmlType::I64, "I64", 1, 8, nullptr, nullptr},
    {GgmlType::F64, "F64", 1, 8, nullptr, nullptr},
    {GgmlType::IQ1_M, "IQ1_M", kQK_K, 56, nullptr, nullptr},
    {GgmlType::BF16, "BF16", 1, 2, dequantize_bf16, quantize_bf16},
    {GgmlType::TQ1_0, "TQ1_0", kQK_K, 54, nullptr, nullptr},
    {GgmlType::TQ2_0, "TQ2_0", kQK_K, 66, nullptr, nullptr},
    {GgmlType::MXFP4, "MXFP4", 32, 17, nullptr, nullptr},
};

std::string list_types(bool writable) {
  // The order users meet them in: plain types first, then the block formats.
  const GgmlType order[] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0};
  std::string out;
  for (GgmlType t : order) {
    const GgmlTypeTraits& tr = ggml_type_traits(t);
    if (writable ? tr.quantize_ref == nullptr : tr.dequantize == nullptr) continue;
    out += (out.empty() ? "" : ", ") + std::string(tr.name);
  }
  return out;
}

}  // namespace

const GgmlTypeTraits* ggml_type_traits(uint32_t id) {
  for (const GgmlTypeTraits& t : kTraits)
    if (static_cast<uint32_t>(t.type) == id) return &t;
  return nullptr;
}

const GgmlTypeTraits& ggml_type_traits(GgmlType type) {
  const GgmlTypeTraits* t = ggml_type_traits(static_cast<uint32_t>(type));
  PARE_ASSERT(t != nullptr, "GgmlType value without a traits row");
  return *t;
}

std::string ggml_type_name(uint32_t id) {
  const GgmlTypeTraits* t = ggml_type_traits(id);
  return t ? std::string(t->name) : "unknown type " + std::to_string(id);
}

std::optional<GgmlType> ggml_type_from_name(const std::string& name) {
  std::string upper = name;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const GgmlTypeTraits& t : kTraits)
    if (upper == t.name) return t.type;
  return std::nullopt;
}

std::string ggml_decodable_types() { return list_types(false); }
std::string ggml_writable_types() { return list_types(true); }

int64_t ggml_bytes(GgmlType type, int64_t n) {
  const GgmlTypeTraits& t = ggml_type_traits(type);
  PARE_ASSERT(n >= 0 && n % t.block_size == 0, "element count is not a whole number of blocks");
  return n / t.block_size * t.type_size;
}

// ggml-quants.c quantize_row_q8_0_ref: amax = max |x| over the block; d = amax / 127 and id = 1/d (0 when d is
// 0), both in fp32; q = roundf(x * id), i.e. rounded half away from zero. d is stored as fp16 (round to
// nearest even), but q is computed with the fp32 d.
void quantize_row_q8_0_ref(const float* x, BlockQ8_0* y, int64_t n) {
  PARE_ASSERT(n % kQ8_0BlockSize == 0, "Q8_0 row length is not a multiple of 32");
  for (int64_t i = 0; i < n / kQ8_0BlockSize; ++i) {
    const float* xb = x + i * kQ8_0BlockSize;
    float amax = 0.0f;
    for (int64_t j = 0; j < kQ8_0BlockSize; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int64_t j = 0; j < kQ8_0BlockSize; ++j)
      y[i].qs[j] = static_cast<int8_t>(trunc_or_zero(std::round(xb[j] * id)));
  }
}

// ggml-quants.c quantize_row_q4_0_ref: max = the value of largest magnitude, sign kept (the first one on a tie:
// the comparison is strict); d = max / -8 and id = 1/d in fp32, so max itself maps to q = 0 (x = -8 d) and
// -max would map to 16, clamped to 15. q = min(15, (int8_t)(x * id + 8.5f)): adding 8.5 and truncating rounds
// half up. Weight j goes to the low nibble of byte j, weight j + 16 to its high nibble.
void quantize_row_q4_0_ref(const float* x, BlockQ4_0* y, int64_t n) {
  PARE_ASSERT(n % kQ4_0BlockSize == 0, "Q4_0 row length is not a multiple of 32");
  constexpr int64_t kHalf = kQ4_0BlockSize / 2;
  for (int64_t i = 0; i < n / kQ4_0BlockSize; ++i) {
    const float* xb = x + i * kQ4_0BlockSize;
    float amax = 0.0f, max = 0.0f;
    for (int64_t j = 0; j < kQ4_0BlockSize; ++j) {
      if (amax < std::fabs(xb[j])) {
        amax = std::fabs(xb[j]);
        max = xb[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int64_t j = 0; j < kHalf; ++j) {
      const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(trunc_or_zero(xb[j] * id + 8.5f))));
      const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(trunc_or_zero(xb[kHalf + j] * id + 8.5f))));
      y[i].qs[j] = static_cast<uint8_t>(static_cast<uint8_t>(q0) | (static_cast<uint8_t>(q1) << 4));
    }
  }
}

// ggml-quants.c dequantize_row_q8_0: x = q * d.
void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n / kQ8_0BlockSize; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int64_t j = 0; j < kQ8_0BlockSize; ++j) y[i * kQ8_0BlockSize + j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

// ggml-quants.c dequantize_row_q4_0: x = (nibble - 8) * d.
void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n) {
  constexpr int64_t kHalf = kQ4_0BlockSize / 2;
  for (int64_t i = 0; i < n / kQ4_0BlockSize; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int64_t j = 0; j < kHalf; ++j) {
      y[i * kQ4_0BlockSize + j] = static_cast<float>((x[i].qs[j] & 0x0F) - 8) * d;
      y[i * kQ4_0BlockSize + kHalf + j] = static_cast<float>((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

// c10's conversion is the FP16 library's (round to nearest even), the same algorithm as ggml-impl.h's
// ggml_compute_fp32_to_fp16 and the same result as F16C hardware conversion.
uint16_t fp32_to_fp16(float x) { return c10::Half(x).x; }
float fp16_to_fp32(uint16_t h) { return static_cast<float>(c10::Half(h, c10::Half::from_bits())); }

// bfloat16 is the upper half of an fp32. Rounding to nearest even as ggml_compute_fp32_to_bf16 does: add
// 0x7fff plus the lowest kept bit, then drop 16 bits; a NaN keeps its sign and top payload bits, made quiet.
uint16_t fp32_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
float bf16_to_fp32(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

}  // namespace pare::formats
