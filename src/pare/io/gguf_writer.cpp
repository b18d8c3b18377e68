// GGUF writer: metadata and tensor infos in insertion order, tensor data aligned and padded as ggml's own gguf
// writer does (so that ggml's reader, which wants each offset to follow the previous tensor's padded end, accepts
// the file). Quantized tensors are encoded by the reference codecs of ggml_types.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <sstream>

#include "pare/error.h"
#include "pare/io/atomic_file.h"
#include "pare/io/gguf.h"
#include "pare/ir/graph.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the GGUF writer assumes a little-endian host");

namespace pare::io {

namespace {

constexpr uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION in ggml.h
constexpr size_t kMaxTensorName = 63;         // GGML_MAX_NAME (64) less the terminating NUL

bool is_power_of_two(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }
uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

void put_bytes(std::ostream& out, const void* p, size_t n) {
  out.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
}
template <typename T>
void put(std::ostream& out, T v) {
  put_bytes(out, &v, sizeof(T));
}
void put_string(std::ostream& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  put_bytes(out, s.data(), s.size());
}

void check_tensor_name(const std::string& name) {
  if (name.empty()) throw Error("GGUF tensor name is empty").hint("give every tensor a name");
  if (name.size() > kMaxTensorName)
    throw Error("GGUF tensor name is too long for llama.cpp")
        .tensor(name)
        .expected(fmt::format("at most {} bytes (GGML_MAX_NAME)", kMaxTensorName))
        .got(fmt::format("{} bytes", name.size()));
}

uint64_t alignment_of(const std::vector<std::pair<std::string, GgufValue>>& metadata) {
  for (const auto& [k, v] : metadata)
    if (k == "general.alignment") return v.get<uint32_t>();
  return kGgufDefaultAlignment;
}

}  // namespace

// Writes values in the layout GgufParser reads (a friend of GgufValue, for its storage).
class GgufValueWriter {
 public:
  static void value(std::ostream& out, const GgufValue& v) {
    if (v.type_ == GgufType::String) {
      put_string(out, v.string_);
    } else if (v.type_ == GgufType::Array) {
      array_body(out, v);
    } else {
      put_bytes(out, &v.scalar_, gguf_scalar_bytes(v.type_));
    }
  }
  // An array after its own type tag: u32 element type, u64 count, the elements.
  static void array_body(std::ostream& out, const GgufValue& v) {
    put<uint32_t>(out, static_cast<uint32_t>(v.elem_));
    put<uint64_t>(out, v.count_);
    if (v.elem_ == GgufType::String)
      for (const std::string& s : v.strings_) put_string(out, s);
    else if (v.elem_ == GgufType::Array)
      for (const GgufValue& item : v.nested_) array_body(out, item);
    else
      put_bytes(out, v.raw_.data(), v.raw_.size());
  }
};

void GgufWriter::set(const std::string& key, GgufValue value) {
  if (key.empty() || key.size() > 65535)
    throw Error("GGUF metadata key must be 1 to 65535 bytes").got(fmt::format("{} bytes", key.size()));
  if (key == "general.alignment") {
    if (value.type() != GgufType::U32)
      throw Error("metadata 'general.alignment' has the wrong type").expected("u32").got(value.type_string());
    const uint32_t a = value.get<uint32_t>();
    if (!is_power_of_two(a) || a % 8 != 0 || a > kGgufMaxAlignment)
      throw Error("metadata 'general.alignment' is not a usable alignment")
          .expected("a power of two, a multiple of 8 (docs/gguf.md), at most 2^30")
          .got(std::to_string(a));
  }
  for (auto& [k, v] : metadata_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  metadata_.emplace_back(key, std::move(value));
}

namespace {

const formats::GgmlTypeTraits& writable_traits(const std::string& name, formats::GgmlType type) {
  const formats::GgmlTypeTraits& tr = formats::ggml_type_traits(type);
  if (tr.quantize_ref == nullptr)
    throw Error(std::string("pare cannot write GGUF tensor type ") + tr.name)
        .tensor(name)
        .expected("one of " + formats::ggml_writable_types());
  return tr;
}

// ne (GGUF order) of a tensor of PyTorch shape `shape`, checked for `type`.
std::vector<int64_t> ne_of(const std::string& name, at::IntArrayRef shape, const formats::GgmlTypeTraits& tr) {
  if (shape.size() > static_cast<size_t>(kGgufMaxDims))
    throw Error("GGUF tensors have at most 4 dimensions").tensor(name).got(ir::shape_string(shape));
  std::vector<int64_t> ne(shape.rbegin(), shape.rend());
  if (ne.empty()) ne.push_back(1);  // a scalar is stored as one element
  if (ne[0] % tr.block_size != 0)
    throw Error(fmt::format("row length is not a multiple of the {} block size", tr.name))
        .tensor(name)
        .expected(fmt::format("a last dimension divisible by {}", tr.block_size))
        .got("shape " + ir::shape_string(shape))
        .hint("store this tensor as F16 or F32, or pad its rows");
  return ne;
}

// The bytes of `t` as `tr`'s type, after the checks that keep the file loadable by llama.cpp.
std::string encode(const std::string& name, const at::Tensor& t, const formats::GgmlTypeTraits& tr) {
  if (!t.defined() || !c10::isFloatingType(t.scalar_type()))
    throw Error("GGUF tensor must be a floating-point tensor")
        .tensor(name)
        .expected("float32, float16, bfloat16 or float64")
        .got(t.defined() ? std::string(c10::toString(t.scalar_type())) : "an undefined tensor");
  const at::Tensor x = t.to(at::kFloat).contiguous();
  const int64_t bad = x.numel() - at::isfinite(x).sum().item<int64_t>();
  if (bad > 0)
    throw Error("GGUF tensor holds NaN or Inf")
        .tensor(name)
        .expected("finite values")
        .got(fmt::format("{} non-finite values", bad));
  std::string bytes(static_cast<size_t>(formats::ggml_bytes(tr.type, x.numel())), '\0');
  tr.quantize_ref(x.data_ptr<float>(), reinterpret_cast<uint8_t*>(bytes.data()), x.numel());
  // An fp16 value or block scale that overflowed to Inf would make the file unreadable for llama.cpp.
  const bool is_f16 = tr.type == formats::GgmlType::F16,
             has_scale = tr.type == formats::GgmlType::Q8_0 || tr.type == formats::GgmlType::Q4_0;
  if (is_f16 || has_scale) {
    const size_t stride = is_f16 ? 2 : static_cast<size_t>(tr.type_size);
    for (size_t off = 0; off < bytes.size(); off += stride) {
      uint16_t h;
      std::memcpy(&h, bytes.data() + off, 2);
      if ((h & 0x7c00u) == 0x7c00u)
        throw Error(is_f16 ? "values exceed the F16 range" : "values too large for the block's fp16 scale")
            .tensor(name)
            .expected(is_f16 ? "|x| < 65520" : "a block scale below 65504")
            .got(fmt::format("max |x| = {}", x.abs().max().item<float>()));
    }
  }
  return bytes;
}

int64_t element_count(const std::string& name, const std::vector<int64_t>& ne) {
  int64_t n = 1;
  for (int64_t d : ne) {
    if (d < 0 || (d > 0 && n > kGgufMaxElements / d))
      throw Error("GGUF tensor shape is invalid").tensor(name).got("ne = " + ir::shape_string(ne));
    n *= d;
  }
  return n;
}

}  // namespace

void GgufWriter::add_tensor(const std::string& name, const at::Tensor& t, formats::GgmlType type) {
  check_tensor_name(name);
  const formats::GgmlTypeTraits& tr = writable_traits(name, type);
  if (!t.defined()) throw Error("GGUF tensor is undefined").tensor(name);
  std::vector<int64_t> ne = ne_of(name, t.sizes(), tr);
  add_raw(name, std::move(ne), type, encode(name, t, tr));
}

void GgufWriter::add_tensor_deferred(const std::string& name, std::vector<int64_t> shape, formats::GgmlType type,
                                     std::function<at::Tensor()> make) {
  check_tensor_name(name);
  const formats::GgmlTypeTraits& tr = writable_traits(name, type);
  std::vector<int64_t> ne = ne_of(name, shape, tr);
  const uint64_t size_bytes = static_cast<uint64_t>(formats::ggml_bytes(type, element_count(name, ne)));
  add_entry({name, std::move(ne), type, {}, std::move(shape), std::move(make), {}, size_bytes});
}

void GgufWriter::add_raw_deferred(const std::string& name, std::vector<int64_t> shape, formats::GgmlType type,
                                  std::function<std::string()> make_bytes) {
  check_tensor_name(name);
  const formats::GgmlTypeTraits& tr = formats::ggml_type_traits(type);
  std::vector<int64_t> ne = ne_of(name, shape, tr);
  const uint64_t size_bytes = static_cast<uint64_t>(formats::ggml_bytes(type, element_count(name, ne)));
  add_entry({name, std::move(ne), type, {}, std::move(shape), {}, std::move(make_bytes), size_bytes});
}

void GgufWriter::add_raw(const std::string& name, std::vector<int64_t> ne, formats::GgmlType type, std::string bytes) {
  check_tensor_name(name);
  const formats::GgmlTypeTraits& tr = formats::ggml_type_traits(type);
  if (ne.empty() || ne.size() > kGgufMaxDims)
    throw Error("GGUF tensors have 1 to 4 dimensions").tensor(name).got("ne = " + ir::shape_string(ne));
  if (ne[0] % tr.block_size != 0)
    throw Error(fmt::format("row length is not a multiple of the {} block size", tr.name))
        .tensor(name)
        .expected(fmt::format("ne[0] divisible by {}", tr.block_size))
        .got("ne = " + ir::shape_string(ne));
  const int64_t want = formats::ggml_bytes(type, element_count(name, ne));
  if (static_cast<int64_t>(bytes.size()) != want)
    throw Error("GGUF tensor data has the wrong size")
        .tensor(name)
        .expected(fmt::format("{} bytes for {} ne = {}", want, tr.name, ir::shape_string(ne)))
        .got(fmt::format("{} bytes", bytes.size()));
  add_entry({name, std::move(ne), type, std::move(bytes), {}, {}, {}, static_cast<uint64_t>(want)});
}

void GgufWriter::add_entry(Tensor t) {
  for (const Tensor& o : tensors_)
    if (o.name == t.name)
      throw Error("duplicate GGUF tensor name").tensor(t.name).hint("each tensor name may appear once");
  tensors_.push_back(std::move(t));
}

void GgufWriter::write(std::ostream& out) const {
  std::vector<std::pair<std::string, GgufValue>> metadata = metadata_;
  const bool quantized = std::any_of(tensors_.begin(), tensors_.end(),
                                     [](const Tensor& t) { return formats::ggml_type_traits(t.type).block_size > 1; });
  const bool has_qv = std::any_of(metadata.begin(), metadata.end(),
                                  [](const auto& kv) { return kv.first == "general.quantization_version"; });
  if (quantized && !has_qv) metadata.emplace_back("general.quantization_version", GgufValue(kQuantizationVersion));
  const uint64_t alignment = alignment_of(metadata);

  uint64_t pos = 0;
  auto emit = [&](const void* p, size_t n) {
    put_bytes(out, p, n);
    pos += n;
  };
  auto pad = [&]() {
    const std::string zeros(align_up(pos, alignment) - pos, '\0');
    emit(zeros.data(), zeros.size());
  };
  // The header and metadata go through a buffer so that `pos` counts them too.
  std::ostringstream head;
  head.write(kGgufMagic, 4);
  put<uint32_t>(head, kGgufVersion);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, metadata.size());
  for (const auto& [key, value] : metadata) {
    put_string(head, key);
    put<uint32_t>(head, static_cast<uint32_t>(value.type()));
    GgufValueWriter::value(head, value);
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(head, t.name);
    put<uint32_t>(head, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) put<uint64_t>(head, static_cast<uint64_t>(d));
    put<uint32_t>(head, static_cast<uint32_t>(t.type));
    put<uint64_t>(head, offset);
    offset = align_up(offset + t.size_bytes, alignment);
  }
  const std::string h = head.str();
  emit(h.data(), h.size());
  pad();
  // Each tensor is followed by padding to the alignment, the last one too (as ggml's gguf writer does).
  // Deferred tensors are made and encoded here, one at a time, and dropped after writing.
  for (const Tensor& t : tensors_) {
    if (t.make) {
      const at::Tensor x = t.make();
      if (!x.defined() || x.sizes() != at::IntArrayRef(t.shape))
        throw Error("deferred GGUF tensor has another shape than declared")
            .tensor(t.name)
            .expected(ir::shape_string(t.shape))
            .got(x.defined() ? ir::shape_string(x.sizes()) : "an undefined tensor");
      const std::string bytes = encode(t.name, x, formats::ggml_type_traits(t.type));
      PARE_ASSERT(bytes.size() == t.size_bytes, "encoded size differs from the declared one");
      emit(bytes.data(), bytes.size());
    } else if (t.make_bytes) {
      const std::string bytes = t.make_bytes();
      if (bytes.size() != t.size_bytes)
        throw Error("deferred GGUF tensor data has the wrong size")
            .tensor(t.name)
            .expected(std::to_string(t.size_bytes) + " bytes")
            .got(std::to_string(bytes.size()) + " bytes");
      emit(bytes.data(), bytes.size());
    } else {
      emit(t.bytes.data(), t.bytes.size());
    }
    pad();
  }
}

void GgufWriter::write(const std::string& path, const std::vector<std::string>& protected_inputs) const {
  try {
    write_atomic(
        path, [&](std::ostream& out) { write(out); }, protected_inputs);
  } catch (Error& e) {
    if (e.file_path().empty()) e.file(path);
    throw;
  }
}

}  // namespace pare::io
