#include "pare/train/augment.h"

#include <random>

#include "pare/error.h"

namespace pare::train {

AugmentOptions AugmentOptions::parse(const std::string& text) {
  AugmentOptions a;
  if (text.empty() || text == "none") return a;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (item == "hflip") {
      a.hflip = true;
    } else if (item.rfind("crop:", 0) == 0 && item.size() > 5 &&
               item.find_first_not_of("0123456789", 5) == std::string::npos && item.size() < 10) {
      a.crop_padding = std::stoll(item.substr(5));
    } else {
      throw Error("unknown augmentation '" + item + "' in '" + text + "'")
          .expected("none, or a comma list of crop:P (random crop after P pixels of zero padding) and hflip");
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return a;
}

std::string AugmentOptions::to_string() const {
  std::string s;
  if (crop_padding > 0) s = "crop:" + std::to_string(crop_padding);
  if (hflip) s += std::string(s.empty() ? "" : ",") + "hflip";
  return s.empty() ? "none" : s;
}

at::Tensor augment_batch(const at::Tensor& x, const AugmentOptions& o, uint64_t stream) {
  if (!o.any()) return x;
  PARE_ASSERT(x.dim() == 4, "augmentation needs [B, C, H, W] images");
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3), p = o.crop_padding;
  std::mt19937_64 rng(stream);
  at::Tensor out = at::zeros_like(x, at::MemoryFormat::Contiguous);
  std::uniform_int_distribution<int64_t> offset(-p, p);
  // Per sample, so every op stays below ATen's parallel grain (this runs on the loader thread).
  for (int64_t i = 0; i < b; ++i) {
    // Draw in a fixed order so the stream does not depend on which options are on.
    const int64_t dy = offset(rng), dx = offset(rng);
    const bool flip = o.hflip && (rng() & 1);
    // A shift by (dy, dx) of the zero-padded image: copy the overlapping window, the rest stays 0.
    const int64_t ch = h - std::abs(dy), cw = w - std::abs(dx);
    if (ch <= 0 || cw <= 0) continue;
    at::Tensor src = x[i].narrow(1, std::max<int64_t>(0, dy), ch).narrow(2, std::max<int64_t>(0, dx), cw);
    at::Tensor dst = out[i].narrow(1, std::max<int64_t>(0, -dy), ch).narrow(2, std::max<int64_t>(0, -dx), cw);
    dst.copy_(src);
    if (flip) out[i].copy_(out[i].flip({2}));
  }
  return out;
}

}  // namespace pare::train
