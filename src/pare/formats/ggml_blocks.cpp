#include "pare/formats/ggml_blocks.h"

#include <fmt/format.h>

#include <cstring>

#include "pare/error.h"

namespace pare::formats {

namespace {

constexpr int64_t kBlock = 32;  // Q4_0 and Q8_0 alike

int bits_of(GgmlType type) {
  PARE_ASSERT(type == GgmlType::Q4_0 || type == GgmlType::Q8_0, "ggml_blocks: Q4_0 or Q8_0 only");
  return type == GgmlType::Q4_0 ? 4 : 8;
}

}  // namespace

bool ggml_exact(const QuantizedWeight& w, GgmlType type, std::string* why) {
  auto no = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  if (type != GgmlType::Q4_0 && type != GgmlType::Q8_0) return no("only Q4_0 and Q8_0 map exactly");
  const QuantizedTensor& q = w.main;
  const int bits = bits_of(type);
  if (!w.terms.empty()) return no("residual expansion terms");
  if (q.grid.kind != GridKind::Uniform || q.grid.bits != bits || !q.grid.symmetric)
    return no(fmt::format("{} is not int{} symmetric", q.grid.str(), bits));
  if (q.granularity.kind != Granularity::Kind::Group || q.granularity.group_size != kBlock)
    return no(fmt::format("{} scales are not group:32", q.granularity.str()));
  if (q.scale_bits != 16) return no("scales are not float16");
  if (q.out_axis != 0 && q.shape.size() > 1) return no("output channels are not the first axis");
  if (q.reduction() % kBlock != 0) return no(fmt::format("row length {} is not a multiple of 32", q.reduction()));
  return true;
}

std::string to_ggml_blocks(const QuantizedTensor& q, GgmlType type) {
  const int bits = bits_of(type);
  const int64_t o = q.out_channels(), r = q.reduction(), nb = r / kBlock;
  PARE_ASSERT(r % kBlock == 0 && q.scales.size(1) == nb, "to_ggml_blocks: not group:32 rows");
  const at::Tensor codes = q.codes.to(at::kShort).contiguous();
  const at::Tensor scales = q.scales.to(at::kFloat).contiguous();
  const int16_t* c = codes.data_ptr<int16_t>();
  const float* s = scales.data_ptr<float>();
  std::string out(static_cast<size_t>(ggml_bytes(type, o * r)), '\0');
  char* p = out.data();
  for (int64_t b = 0; b < o * nb; ++b, c += kBlock) {
    const uint16_t d = fp32_to_fp16(s[b]);
    if (bits == 4) {
      BlockQ4_0 blk{};
      blk.d = d;
      for (int64_t j = 0; j < kBlock / 2; ++j)
        blk.qs[j] = static_cast<uint8_t>((c[j] + 8) | ((c[j + kBlock / 2] + 8) << 4));
      std::memcpy(p, &blk, sizeof blk);
      p += sizeof blk;
    } else {
      BlockQ8_0 blk{};
      blk.d = d;
      for (int64_t j = 0; j < kBlock; ++j) blk.qs[j] = static_cast<int8_t>(c[j]);
      std::memcpy(p, &blk, sizeof blk);
      p += sizeof blk;
    }
  }
  return out;
}

QuantizedTensor from_ggml_blocks(const uint8_t* data, int64_t o, int64_t r, GgmlType type) {
  const int bits = bits_of(type);
  PARE_ASSERT(r % kBlock == 0, "from_ggml_blocks: rows of whole blocks");
  const int64_t nb = r / kBlock;
  QuantizedTensor q;
  q.grid = Grid::uniform(bits);
  q.granularity = Granularity::group(kBlock);
  q.shape = {o, r};
  q.scale_bits = 16;
  q.codes = at::empty({o, r}, at::kShort);
  q.scales = at::empty({o, nb}, at::kFloat);
  int16_t* c = q.codes.data_ptr<int16_t>();
  float* s = q.scales.data_ptr<float>();
  for (int64_t b = 0; b < o * nb; ++b, c += kBlock) {
    if (bits == 4) {
      BlockQ4_0 blk;
      std::memcpy(&blk, data + b * sizeof blk, sizeof blk);
      s[b] = fp16_to_fp32(blk.d);
      for (int64_t j = 0; j < kBlock / 2; ++j) {
        c[j] = static_cast<int16_t>((blk.qs[j] & 0x0F) - 8);
        c[j + kBlock / 2] = static_cast<int16_t>((blk.qs[j] >> 4) - 8);
      }
    } else {
      BlockQ8_0 blk;
      std::memcpy(&blk, data + b * sizeof blk, sizeof blk);
      s[b] = fp16_to_fp32(blk.d);
      for (int64_t j = 0; j < kBlock; ++j) c[j] = blk.qs[j];
    }
  }
  return q;
}

}  // namespace pare::formats
