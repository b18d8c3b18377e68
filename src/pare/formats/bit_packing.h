// Dense bit packing of small unsigned integers (1..8 bits each), least significant bit first: value i
// occupies bits [i*b, (i+1)*b) of the little-endian bit stream. This is how a .pare package stores codes,
// so a 3-bit weight costs 3 bits on disk.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>

namespace pare::formats {

int64_t packed_bytes(int64_t count, int bits);
// `values` (any integer tensor) must lie in [0, 2^bits).
std::string pack_bits(const at::Tensor& values, int bits);
// `count` values as int16 from `bytes` (which must hold packed_bytes(count, bits) bytes).
at::Tensor unpack_bits(const uint8_t* bytes, int64_t count, int bits);

}  // namespace pare::formats
