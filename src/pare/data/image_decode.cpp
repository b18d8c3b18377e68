// PNG through libpng's simplified API (png_image_*), which catches libpng's longjmp internally and returns
// the message; JPEG through libjpeg with an error manager whose error_exit longjmps back to decode_jpeg's own
// setjmp (only libjpeg's C frames lie in between) and whose emit_message turns warnings (corrupt or truncated
// data, which libjpeg would otherwise patch over) into errors and prints nothing.
#include "pare/data/image_decode.h"

#include <jpeglib.h>
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include "pare/error.h"

namespace pare::data {
namespace {

const char* kImageHint = "re-export the image as PNG or JPEG, or remove it from the folder";

Error too_large(const std::string& context, uint64_t w, uint64_t h) {
  return Error("image is too large")
      .file(context)
      .expected("at most " + std::to_string(kMaxImagePixels) + " pixels")
      .got(std::to_string(w) + " x " + std::to_string(h))
      .hint("downscale it first");
}

// libjpeg state kept in one object that outlives setjmp, so nothing the longjmp skips owns resources.
struct JpegReader {
  jpeg_decompress_struct cinfo{};
  struct ErrorManager {
    jpeg_error_mgr pub;
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
  } err{};
  bool created = false;
  at::Tensor pixels;
  ~JpegReader() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

[[noreturn]] void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegReader::ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void jpeg_emit_message(j_common_ptr cinfo, int level) {
  // level -1: a warning about corrupt data (e.g. "Premature end of JPEG file"); >= 0: trace messages.
  if (level < 0) jpeg_error_exit(cinfo);
}

}  // namespace

at::Tensor decode_png(const std::string& bytes, const std::string& context) {
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  auto fail = [&](const char* what) {
    std::string msg = image.message[0] ? std::string(image.message) : std::string("unknown libpng error");
    png_image_free(&image);
    return Error(std::string("cannot decode PNG image: ") + what)
        .file(context)
        .expected("a valid PNG file")
        .got("libpng: " + msg)
        .hint(kImageHint);
  };
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) throw fail("bad header");
  if (uint64_t{image.width} * image.height > static_cast<uint64_t>(kMaxImagePixels)) {
    png_image_free(&image);
    throw too_large(context, image.width, image.height);
  }
  const bool color = (image.format & PNG_FORMAT_FLAG_COLOR) != 0;
  image.format = color ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  const int64_t c = color ? 3 : 1;
  // background NULL: alpha is composited onto the buffer's contents, here black.
  at::Tensor out = at::zeros({image.height, image.width, c}, at::kByte);
  if (!png_image_finish_read(&image, nullptr, out.data_ptr(), 0, nullptr)) throw fail("damaged or truncated data");
  png_image_free(&image);
  return out;
}

at::Tensor decode_jpeg(const std::string& bytes, const std::string& context) {
  // On the heap: `reader` itself is not changed after setjmp, so its value is still determinate after a longjmp.
  const std::unique_ptr<JpegReader> reader = std::make_unique<JpegReader>();
  JpegReader& r = *reader;
  r.cinfo.err = jpeg_std_error(&r.err.pub);
  r.err.pub.error_exit = jpeg_error_exit;
  r.err.pub.emit_message = jpeg_emit_message;
  if (setjmp(r.err.jump)) {
    throw Error("cannot decode JPEG image")
        .file(context)
        .expected("a valid, complete JPEG file")
        .got(std::string("libjpeg: ") + r.err.message)
        .hint(kImageHint);
  }
  jpeg_create_decompress(&r.cinfo);
  r.created = true;
  jpeg_mem_src(&r.cinfo, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&r.cinfo, TRUE);
  if (uint64_t{r.cinfo.image_width} * r.cinfo.image_height > static_cast<uint64_t>(kMaxImagePixels))
    throw too_large(context, r.cinfo.image_width, r.cinfo.image_height);
  if (r.cinfo.jpeg_color_space == JCS_CMYK || r.cinfo.jpeg_color_space == JCS_YCCK)
    throw Error("CMYK JPEG images are not supported")
        .file(context)
        .expected("a grayscale or RGB (YCbCr) JPEG")
        .hint("convert it to RGB first");
  r.cinfo.out_color_space = r.cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&r.cinfo);
  const int64_t h = r.cinfo.output_height, w = r.cinfo.output_width, c = r.cinfo.output_components;
  r.pixels = at::empty({h, w, c}, at::kByte);
  while (r.cinfo.output_scanline < r.cinfo.output_height) {
    JSAMPROW row = r.pixels.data_ptr<uint8_t>() + static_cast<int64_t>(r.cinfo.output_scanline) * w * c;
    jpeg_read_scanlines(&r.cinfo, &row, 1);
  }
  jpeg_finish_decompress(&r.cinfo);
  return r.pixels;
}

at::Tensor decode_image_bytes(const std::string& bytes, const std::string& context) {
  static const unsigned char kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPng, 8) == 0) return decode_png(bytes, context);
  if (bytes.size() >= 3 && static_cast<uint8_t>(bytes[0]) == 0xff && static_cast<uint8_t>(bytes[1]) == 0xd8 &&
      static_cast<uint8_t>(bytes[2]) == 0xff)
    return decode_jpeg(bytes, context);
  std::string first;
  for (size_t i = 0; i < bytes.size() && i < 4; ++i) {
    char buf[4];
    std::snprintf(buf, sizeof(buf), "%02x", static_cast<uint8_t>(bytes[i]));
    first += (i ? " " : "") + std::string(buf);
  }
  throw Error(bytes.empty() ? "image file is empty" : "not a PNG or JPEG image")
      .file(context)
      .expected("a PNG (\\x89PNG) or JPEG (ff d8 ff) file")
      .got(bytes.empty() ? "0 bytes" : std::to_string(bytes.size()) + " bytes starting with " + first)
      .hint(kImageHint);
}

at::Tensor decode_image(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open image").file(path).hint("check that it exists and is readable");
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return decode_image_bytes(bytes, path);
}

}  // namespace pare::data
