// TensorProto <-> at::Tensor. ONNX stores data either as raw little-endian bytes, in typed repeated
// fields (int32_data also carries 8/16-bit ints, bools and float16 bits), or in an external file.
#include "pare/io/onnx_tensor.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "pare/error.h"
#include "pare/ir/dtype.h"
#include "pare/ir/graph.h"

namespace pare::io {
namespace fs = std::filesystem;
using ir::DType;

namespace {

// A non-negative decimal integer from an external_data entry; anything else is an Error naming the key.
int64_t parse_external_int(const onnx::StringStringEntryProto& kv, const onnx::TensorProto& p,
                           const std::string& context) {
  const std::string& text = kv.value();
  int64_t v = 0;
  bool ok = !text.empty() && text.size() <= 18;
  for (char c : text) {
    if (c < '0' || c > '9')
      ok = false;
    else
      v = v * 10 + (c - '0');
  }
  if (!ok)
    throw Error("external data entry '" + kv.key() + "' is not a byte count")
        .file(context)
        .tensor(p.name())
        .expected("a non-negative integer")
        .got("'" + text + "'")
        .hint("re-save the model with onnx.save_model");
  return v;
}

std::string read_external(const onnx::TensorProto& p, const std::string& base_dir, const std::string& context,
                          size_t expected_bytes) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : p.external_data()) {
    if (kv.key() == "location")
      location = kv.value();
    else if (kv.key() == "offset")
      offset = parse_external_int(kv, p, context);
    else if (kv.key() == "length")
      length = parse_external_int(kv, p, context);
  }
  if (location.empty()) throw Error("external data without a 'location' entry").file(context).tensor(p.name());
  fs::path rel(location);
  if (rel.is_absolute() || location.find("..") != std::string::npos)
    throw Error("external data location '" + location + "' leaves the model's folder")
        .file(context)
        .tensor(p.name())
        .hint("external data files must sit beside the model, named relatively");
  fs::path full = fs::path(base_dir) / rel;
  std::error_code ec;
  if (!fs::is_regular_file(full, ec))
    throw Error("external data file '" + full.string() + "' " + (fs::exists(full, ec) ? "is not a file" : "is missing"))
        .file(context)
        .tensor(p.name())
        .hint("copy the external data file(s) next to the .onnx file");
  std::ifstream f(full, std::ios::binary);
  if (!f)
    throw Error("external data file '" + full.string() + "' cannot be opened")
        .file(context)
        .tensor(p.name())
        .hint("check its permissions");
  f.seekg(0, std::ios::end);
  const int64_t file_size = f.tellg();
  if (length < 0) length = static_cast<int64_t>(expected_bytes);
  if (file_size < 0 || length > file_size || offset > file_size - length)
    throw Error("external data file '" + full.string() + "' is too short (truncated?)")
        .file(context)
        .tensor(p.name())
        .expected(std::to_string(length) + " bytes at offset " + std::to_string(offset))
        .got("a file of " + std::to_string(file_size) + " bytes")
        .hint("copy the complete external data file; its size must match what the model was saved with");
  std::string buf(static_cast<size_t>(length), '\0');
  f.seekg(offset);
  f.read(buf.data(), length);
  return buf;
}

template <typename Src>
at::Tensor from_field(const google::protobuf::RepeatedField<Src>& field, at::ScalarType field_type,
                      at::ScalarType target, at::IntArrayRef sizes) {
  at::Tensor t = at::empty({field.size()}, at::TensorOptions().dtype(field_type));
  if (field.size()) std::memcpy(t.data_ptr(), field.data(), sizeof(Src) * field.size());
  return t.to(target).reshape(sizes);
}

}  // namespace

at::Tensor tensor_from_proto(const onnx::TensorProto& p, const std::string& base_dir, const std::string& context) {
  const auto dtype = static_cast<DType>(p.data_type());
  if (p.has_segment()) throw Error("segmented tensors are not supported").file(context).tensor(p.name());
  if (!ir::has_scalar_type(dtype))
    throw Error("tensor has element type " + ir::dtype_name(dtype) + ", which pare cannot compute with")
        .file(context)
        .tensor(p.name())
        .hint("pare supports float32/16, bfloat16, float64, int8/16/32/64, uint8 and bool tensors");
  const at::ScalarType st = ir::to_scalar_type(dtype);
  std::vector<int64_t> sizes(p.dims().begin(), p.dims().end());
  // Zero-size dimensions must not hide huge ones: libtorch multiplies all of them when it allocates.
  int64_t numel = 1, nonzero_product = 1;
  bool has_zero = false;
  for (int64_t d : sizes) {
    if (d < 0)
      throw Error("tensor has a negative dimension")
          .file(context)
          .tensor(p.name())
          .expected("dimensions >= 0")
          .got(ir::shape_string(sizes))
          .hint("the file is corrupt; re-export the model");
    if (d == 0) {
      has_zero = true;
      continue;
    }
    if (nonzero_product > (int64_t{1} << 40) / d)
      throw Error("tensor is implausibly large")
          .file(context)
          .tensor(p.name())
          .expected("at most 2^40 elements (ignoring zero-size dimensions)")
          .got(ir::shape_string(sizes));
    nonzero_product *= d;
  }
  numel = has_zero ? 0 : nonzero_product;
  const size_t nbytes = static_cast<size_t>(numel) * c10::elementSize(st);

  const std::string* raw = nullptr;
  std::string external;
  if (p.data_location() == onnx::TensorProto::EXTERNAL) {
    external = read_external(p, base_dir, context, nbytes);
    raw = &external;
  } else if (p.has_raw_data()) {
    raw = &p.raw_data();
  }
  if (raw) {
    if (raw->size() != nbytes)
      throw Error("tensor data has the wrong size")
          .file(context)
          .tensor(p.name())
          .expected(std::to_string(nbytes) + " bytes for " + ir::dtype_name(dtype) + ir::shape_string(sizes))
          .got(std::to_string(raw->size()) + " bytes");
    at::Tensor t = at::empty(sizes, at::TensorOptions().dtype(st));
    if (nbytes) std::memcpy(t.data_ptr(), raw->data(), nbytes);
    return t;
  }

  auto check_count = [&](int64_t n) {
    if (n != numel)
      throw Error("tensor has the wrong number of values")
          .file(context)
          .tensor(p.name())
          .expected(std::to_string(numel) + " values for " + ir::shape_string(sizes))
          .got(n < 0 ? "an odd number of floats for complex values" : std::to_string(n));
  };
  switch (dtype) {
    case DType::Float:
      check_count(p.float_data_size());
      return from_field(p.float_data(), at::kFloat, st, sizes);
    case DType::Complex64:
      check_count(p.float_data_size() % 2 ? -1 : p.float_data_size() / 2);  // (re, im) pairs; -1: odd count
      return at::view_as_complex(from_field(p.float_data(), at::kFloat, at::kFloat, {numel, 2})).reshape(sizes);
    case DType::Double:
      check_count(p.double_data_size());
      return from_field(p.double_data(), at::kDouble, st, sizes);
    case DType::Complex128:
      check_count(p.double_data_size() % 2 ? -1 : p.double_data_size() / 2);  // (re, im) pairs; -1: odd count
      return at::view_as_complex(from_field(p.double_data(), at::kDouble, at::kDouble, {numel, 2})).reshape(sizes);
    case DType::Int64:
      check_count(p.int64_data_size());
      return from_field(p.int64_data(), at::kLong, st, sizes);
    case DType::Float16:
    case DType::BFloat16: {
      check_count(p.int32_data_size());
      // int32_data holds the 16-bit patterns; narrow to int16 and reinterpret.
      at::Tensor bits = from_field(p.int32_data(), at::kInt, at::kInt, sizes).to(at::kShort);
      return bits.view(st);
    }
    default:  // int8/16/32, uint8, bool travel in int32_data
      check_count(p.int32_data_size());
      return from_field(p.int32_data(), at::kInt, st, sizes);
  }
}

void tensor_to_proto(const at::Tensor& t_in, const std::string& name, onnx::TensorProto* p) {
  at::Tensor t = t_in.detach().contiguous().cpu();
  p->set_name(name);
  p->set_data_type(static_cast<int32_t>(ir::from_scalar_type(t.scalar_type())));
  for (int64_t d : t.sizes()) p->add_dims(d);
  p->set_raw_data(std::string(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size()));
}

}  // namespace pare::io
