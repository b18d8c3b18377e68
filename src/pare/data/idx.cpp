// IDX decoding. Files are read whole (Fashion-MNIST is 30 MB uncompressed); gzip is detected by its
// magic bytes, not by the file name.
#include "pare/data/idx.h"

#include <zlib.h>

#include <cstring>
#include <fstream>

#include "pare/error.h"
#include "pare/tensor_text.h"

namespace pare::data {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    throw Error("cannot open IDX file")
        .file(path)
        .hint("Fashion-MNIST comes with Debian's dataset-fashion-mnist package (`dpkg -L dataset-fashion-mnist`)");
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::string gunzip(const std::string& in, const std::string& context) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw Error("cannot initialize zlib").file(context);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[1 << 16];
  int ret;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    ret = inflate(&zs, Z_NO_FLUSH);
    if (ret != Z_OK && ret != Z_STREAM_END) {
      inflateEnd(&zs);
      throw Error("gzip data is corrupt or truncated").file(context).hint("re-install or re-download the file");
    }
    out.append(buf, sizeof(buf) - zs.avail_out);
    if (out.size() > (size_t{1} << 34)) {
      inflateEnd(&zs);
      throw Error("gzip data expands to more than 16 GiB").file(context);
    }
  } while (ret != Z_STREAM_END && zs.avail_in > 0);
  inflateEnd(&zs);
  if (ret != Z_STREAM_END) throw Error("gzip data is truncated").file(context);
  return out;
}

uint32_t be32(const std::string& s, size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) | (uint32_t(uint8_t(s[at + 2])) << 8) |
         uint32_t(uint8_t(s[at + 3]));
}

}  // namespace

at::Tensor idx_from_bytes(const std::string& raw, const std::string& context) {
  const bool gz = raw.size() >= 2 && uint8_t(raw[0]) == 0x1f && uint8_t(raw[1]) == 0x8b;
  const std::string bytes = gz ? gunzip(raw, context) : raw;
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0)
    throw Error("not an IDX file (bad magic)").file(context).expected("0x00 0x00 <type> <rank>");
  at::ScalarType type;
  switch (uint8_t(bytes[2])) {
    case 0x08:
      type = at::kByte;
      break;
    case 0x09:
      type = at::kChar;
      break;
    case 0x0B:
      type = at::kShort;
      break;
    case 0x0C:
      type = at::kInt;
      break;
    case 0x0D:
      type = at::kFloat;
      break;
    case 0x0E:
      type = at::kDouble;
      break;
    default:
      throw Error("unknown IDX element type code " + std::to_string(uint8_t(bytes[2]))).file(context);
  }
  const int rank = uint8_t(bytes[3]);
  if (rank == 0 || bytes.size() < 4 + 4 * size_t(rank)) throw Error("IDX header is truncated").file(context);
  std::vector<int64_t> shape;
  int64_t numel = 1;
  for (int i = 0; i < rank; ++i) {
    shape.push_back(be32(bytes, 4 + 4 * i));
    if (shape.back() > 0 && numel > (int64_t{1} << 36) / shape.back())
      throw Error("IDX shape is implausibly large").file(context);
    numel *= shape.back();
  }
  const size_t offset = 4 + 4 * size_t(rank);
  const size_t elem = c10::elementSize(type);
  if (bytes.size() - offset != size_t(numel) * elem)
    throw Error("IDX data size does not match its header")
        .file(context)
        .expected(std::to_string(numel * elem) + " bytes for " + shape_string(shape))
        .got(std::to_string(bytes.size() - offset) + " bytes");
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(type));
  auto* dst = static_cast<uint8_t*>(t.data_ptr());
  std::memcpy(dst, bytes.data() + offset, bytes.size() - offset);
  if (elem > 1)  // big-endian on disk
    for (int64_t i = 0; i < numel; ++i) std::reverse(dst + i * elem, dst + (i + 1) * elem);
  return t;
}

at::Tensor load_idx(const std::string& path) { return idx_from_bytes(read_file(path), path); }

}  // namespace pare::data
