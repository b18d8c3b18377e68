#include "pare/formats/bit_packing.h"

#include "pare/error.h"

namespace pare::formats {

int64_t packed_bytes(int64_t count, int bits) { return (count * bits + 7) / 8; }

std::string pack_bits(const at::Tensor& values, int bits) {
  PARE_ASSERT(bits >= 1 && bits <= 8, "pack_bits takes 1..8 bits");
  const at::Tensor v = values.flatten().to(at::kInt).contiguous();
  const int64_t n = v.numel();
  const int32_t* p = v.data_ptr<int32_t>();
  std::string out(static_cast<size_t>(packed_bytes(n, bits)), '\0');
  auto* o = reinterpret_cast<uint8_t*>(out.data());
  const uint32_t mask = (1u << bits) - 1;
  uint64_t bit = 0;
  for (int64_t i = 0; i < n; ++i, bit += bits) {
    PARE_ASSERT(p[i] >= 0 && static_cast<uint32_t>(p[i]) <= mask, "code out of the packed range");
    const uint32_t x = static_cast<uint32_t>(p[i]) << (bit & 7);
    o[bit >> 3] |= static_cast<uint8_t>(x);
    if ((bit & 7) + bits > 8) o[(bit >> 3) + 1] |= static_cast<uint8_t>(x >> 8);
  }
  return out;
}

at::Tensor unpack_bits(const uint8_t* bytes, int64_t count, int bits) {
  PARE_ASSERT(bits >= 1 && bits <= 8, "unpack_bits takes 1..8 bits");
  at::Tensor out = at::empty({count}, at::kShort);
  int16_t* o = out.data_ptr<int16_t>();
  const uint32_t mask = (1u << bits) - 1;
  uint64_t bit = 0;
  for (int64_t i = 0; i < count; ++i, bit += bits) {
    uint32_t x = bytes[bit >> 3];
    if ((bit & 7) + bits > 8) x |= static_cast<uint32_t>(bytes[(bit >> 3) + 1]) << 8;
    o[i] = static_cast<int16_t>((x >> (bit & 7)) & mask);
  }
  return out;
}

}  // namespace pare::formats
