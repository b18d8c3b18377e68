// PNG (libpng) and JPEG (libjpeg-turbo) decoding to 8-bit pixels. The format is chosen by the file's magic
// bytes, not its extension. Decoder errors and warnings never reach stderr and never longjmp past C++ frames:
// each becomes a pare::Error naming the file (a damaged or truncated image is an error, not a grey patch).
#pragma once
#include <ATen/ATen.h>

#include <string>

namespace pare::data {

// [H, W, C] uint8 with C = 1 (grayscale images) or 3 (everything else: palette, RGB; alpha is composited
// onto black by libpng, CMYK JPEGs are refused). 16-bit PNGs are reduced to 8 bits.
at::Tensor decode_image(const std::string& path);
at::Tensor decode_image_bytes(const std::string& bytes, const std::string& context);
at::Tensor decode_png(const std::string& bytes, const std::string& context);
at::Tensor decode_jpeg(const std::string& bytes, const std::string& context);

// Largest image accepted (width * height), so that a forged header cannot ask for gigabytes.
constexpr int64_t kMaxImagePixels = int64_t{1} << 27;

}  // namespace pare::data
