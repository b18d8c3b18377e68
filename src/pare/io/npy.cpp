// NPY format: magic "\x93NUMPY", version, header length, a Python-dict header
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }, then raw C-order data.
#include "pare/io/npy.h"

#include <fmt/format.h>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pare/error.h"
#include "pare/io/atomic_file.h"
#include "pare/ir/graph.h"

namespace pare::io {
namespace {

struct NpyType {
  const char* descr;
  at::ScalarType type;
};
const NpyType kTypes[] = {{"<f4", at::kFloat}, {"<f2", at::kHalf}, {"<f8", at::kDouble},
                          {"<i8", at::kLong},  {"<i4", at::kInt},  {"<i2", at::kShort},
                          {"|i1", at::kChar},  {"|u1", at::kByte}, {"|b1", at::kBool}};

// Up to `n` leading bytes, printable ones as they are and the rest as \xNN, for "got:" lines.
std::string printable_prefix(const std::string& bytes, size_t n) {
  std::string out = "'";
  for (size_t i = 0; i < bytes.size() && i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (std::isprint(c) && c != '\\')
      out += static_cast<char>(c);
    else
      out += fmt::format("\\x{:02x}", c);
  }
  return out + "'";
}

std::string header_value(const std::string& header, const std::string& key, const std::string& context) {
  size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) throw Error("NPY header lacks '" + key + "'").file(context);
  size_t colon = header.find(':', k);
  if (colon == std::string::npos) throw Error("NPY header is malformed").file(context);
  size_t start = header.find_first_not_of(' ', colon + 1);
  if (start == std::string::npos) throw Error("NPY header is malformed").file(context);
  size_t end;
  if (header[start] == '(')
    end = header.find(')', start) + 1;
  else if (header[start] == '\'')
    end = header.find('\'', start + 1) + 1;
  else
    end = header.find_first_of(",}", start);
  if (end == std::string::npos || end == 0 || end <= start) throw Error("NPY header is malformed").file(context);
  return header.substr(start, end - start);
}

}  // namespace

at::Tensor npy_from_bytes(const std::string& bytes, const std::string& context) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0)
    throw Error(bytes.empty() ? "NPY file is empty" : "not an NPY file (bad magic)")
        .file(context)
        .expected("a file starting with the NPY magic \\x93NUMPY")
        .got(bytes.empty() ? "0 bytes" : "first bytes " + printable_prefix(bytes, 8))
        .hint("save arrays with numpy.save(path, array)");
  const uint8_t major = static_cast<uint8_t>(bytes[6]);
  size_t header_len, offset;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw Error("NPY file is truncated").file(context);
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
    offset = 12;
  } else {
    throw Error("unsupported NPY version " + std::to_string(major)).file(context);
  }
  if (offset + header_len > bytes.size()) throw Error("NPY header is truncated").file(context);
  const std::string header = bytes.substr(offset, header_len);
  std::string descr = header_value(header, "descr", context);
  if (descr.size() < 2) throw Error("NPY header is malformed").file(context);
  descr = descr.substr(1, descr.size() - 2);
  if (descr == "<b1" || descr == "=b1") descr = "|b1";
  if (descr == "<i1") descr = "|i1";
  if (descr == "<u1") descr = "|u1";
  const NpyType* type = nullptr;
  for (const auto& t : kTypes)
    if (descr == t.descr) type = &t;
  if (!type)
    throw Error("unsupported NPY dtype '" + descr + "'")
        .file(context)
        .expected("one of <f4 <f2 <f8 <i8 <i4 <i2 |i1 |u1 |b1 (little-endian)")
        .got("'" + descr + "'")
        .hint("convert first, e.g. numpy.save(path, a.astype('<f4'))");
  if (header_value(header, "fortran_order", context) != "False")
    throw Error("Fortran-ordered NPY arrays are not supported").file(context).hint("save numpy.ascontiguousarray(a)");
  std::string shape_text = header_value(header, "shape", context);
  std::vector<int64_t> shape;
  std::string num;
  for (char c : shape_text + ",") {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      num += c;
    } else if (c == ',' || c == ')' || c == ' ' || c == '(') {
      if (num.empty()) continue;
      if (num.size() > 12) throw Error("NPY shape is implausibly large").file(context).got(shape_text);
      shape.push_back(std::stoll(num));
      num.clear();
    } else {
      throw Error("NPY header has a malformed shape")
          .file(context)
          .expected("a tuple of non-negative integers, e.g. (1, 3, 224, 224)")
          .got(shape_text);
    }
  }
  // Zero-size dimensions must not hide huge ones: libtorch multiplies all of them when it allocates.
  int64_t nonzero_product = 1;
  bool has_zero = false;
  for (int64_t d : shape) {
    if (d == 0) {
      has_zero = true;
      continue;
    }
    if (nonzero_product > (int64_t{1} << 40) / d)
      throw Error("NPY shape is implausibly large")
          .file(context)
          .expected("at most 2^40 elements (ignoring zero-size dimensions)")
          .got(shape_text);
    nonzero_product *= d;
  }
  const int64_t numel = has_zero ? 0 : nonzero_product;
  const size_t data_bytes = static_cast<size_t>(numel) * c10::elementSize(type->type);
  const size_t data_offset = offset + header_len;
  if (bytes.size() - data_offset != data_bytes)
    throw Error("NPY data has the wrong size")
        .file(context)
        .expected(std::to_string(data_bytes) + " bytes for " + descr + ir::shape_string(shape))
        .got(std::to_string(bytes.size() - data_offset) + " bytes");
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(type->type));
  if (data_bytes) std::memcpy(t.data_ptr(), bytes.data() + data_offset, data_bytes);
  return t;
}

at::Tensor load_npy(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error("NPY file does not exist").file(path).hint("check the path");
  if (std::filesystem::is_directory(path, ec))
    throw Error("expected an NPY file but got a folder").file(path).hint("name one .npy file per --input");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open NPY file").file(path).hint("check its permissions");
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return npy_from_bytes(bytes, path);
}

std::string npy_to_bytes(const at::Tensor& t_in) {
  at::Tensor t = t_in.detach().contiguous().cpu();
  const NpyType* type = nullptr;
  for (const auto& k : kTypes)
    if (k.type == t.scalar_type()) type = &k;
  if (!type) throw Error(std::string("cannot save a ") + c10::toString(t.scalar_type()) + " tensor as NPY");
  std::string shape = "(";
  for (int64_t i = 0; i < t.dim(); ++i) shape += (i ? ", " : "") + std::to_string(t.size(i));
  if (t.dim() == 1) shape += ",";  // a one-element Python tuple
  shape += ")";
  std::string header =
      std::string("{'descr': '") + type->descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces so that magic + len + header + '\n' is a multiple of 64.
  const size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  return out;
}

void save_npy(const at::Tensor& t, const std::string& path) {
  const std::string bytes = npy_to_bytes(t);
  write_atomic(path, [&](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
}

}  // namespace pare::io
