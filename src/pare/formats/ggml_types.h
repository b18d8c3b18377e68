// ggml tensor types: the storage layout of GGUF tensor data. One traits row per ggml type id (name, block
// size, bytes per block, dequantize, reference quantize), as ggml's own `type_traits` table. Ids, names and
// sizes follow ggml.h / ggml-common.h (docs/gguf.md in ggml-org/ggml lists the ids); retired ids stay unused
// so that stored values never shift. Format facts only: no file I/O and no fast kernels here.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace pare::formats {

// `enum ggml_type` as stored in GGUF tensor infos (u32). Ids 4, 5 and 31-33, 36-38 are retired in ggml.
enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

// Q8_0 (ggml-common.h block_q8_0): 32 weights as int8 q with one fp16 scale d; x = q * d.
constexpr int64_t kQ8_0BlockSize = 32;
struct BlockQ8_0 {
  uint16_t d;  // fp16 bits
  int8_t qs[kQ8_0BlockSize];
};
static_assert(sizeof(BlockQ8_0) == 34, "BlockQ8_0 layout must match ggml's block_q8_0");

// Q4_0 (ggml-common.h block_q4_0): 32 weights as 4-bit q in [0, 15] with one fp16 scale d; x = (q - 8) * d.
// Byte j holds weight j in its low nibble and weight j + 16 in its high nibble.
constexpr int64_t kQ4_0BlockSize = 32;
struct BlockQ4_0 {
  uint16_t d;  // fp16 bits
  uint8_t qs[kQ4_0BlockSize / 2];
};
static_assert(sizeof(BlockQ4_0) == 18, "BlockQ4_0 layout must match ggml's block_q4_0");

// `n` elements (a multiple of the block size) from `in` (any alignment) to floats / from floats to blocks.
using GgmlDequantizeFn = void (*)(const uint8_t* in, float* out, int64_t n);
using GgmlQuantizeFn = void (*)(const float* in, uint8_t* out, int64_t n);

struct GgmlTypeTraits {
  GgmlType type;
  const char* name;             // as in GGML_TYPE_<name>: "Q4_0", "F16", "Q4_K", ...
  int64_t block_size;           // elements per block (1 for plain types)
  int64_t type_size;            // bytes per block
  GgmlDequantizeFn dequantize;  // nullptr: pare cannot decode this type
  GgmlQuantizeFn quantize_ref;  // nullptr: pare cannot write this type
};

// The traits of type id `id`, or nullptr for an id ggml does not define (or has retired).
const GgmlTypeTraits* ggml_type_traits(uint32_t id);
const GgmlTypeTraits& ggml_type_traits(GgmlType type);
// "Q4_0" for a known id, "unknown type 77" for another.
std::string ggml_type_name(uint32_t id);
// A type by name, case-insensitive ("q4_0", "F16"); nullopt for an unknown name.
std::optional<GgmlType> ggml_type_from_name(const std::string& name);
// Names of the types pare can decode / write, for messages: "F32, F16, BF16, Q8_0, Q4_0".
std::string ggml_decodable_types();
std::string ggml_writable_types();

// Bytes of `n` elements of `type`; `n` must be a multiple of the block size (PARE_ASSERT).
int64_t ggml_bytes(GgmlType type, int64_t n);

// The scalar reference formats. The quantizers reproduce ggml-quants.c's quantize_row_*_ref bit for bit
// (see ggml_types.cpp); `n` is a multiple of 32.
void quantize_row_q8_0_ref(const float* x, BlockQ8_0* y, int64_t n);
void quantize_row_q4_0_ref(const float* x, BlockQ4_0* y, int64_t n);
void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n);
void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n);

// IEEE half and bfloat16, round to nearest even (what ggml's GGML_FP32_TO_FP16 and ggml_fp32_to_bf16 do).
uint16_t fp32_to_fp16(float x);
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float x);
float bf16_to_fp32(uint16_t h);

}  // namespace pare::formats
