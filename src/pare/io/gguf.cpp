// GGUF reader: memory-mapped, every count, length and offset checked against the file size before it is used (the
// writer is gguf_writer.cpp). Layout facts from docs/gguf.md (ggml-org/ggml): little-endian; header = magic "GGUF",
// u32 version, u64 tensor count, u64 metadata count; strings = u64 length + bytes; tensor info = name, u32 n_dims,
// u64 ne[n_dims], u32 ggml type, u64 offset relative to the data section; the data section starts at the next
// multiple of `general.alignment` (u32, default 32) after the tensor infos.
#include "pare/io/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <numeric>

#include "pare/error.h"
#include "pare/ir/graph.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the GGUF reader assumes a little-endian host");

namespace pare::io {

namespace {

constexpr int kMaxArrayDepth = 8;  // arrays of arrays: the spec sets no limit, ggml reads none

bool is_power_of_two(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }
uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

std::string printable(const uint8_t* p, size_t n) {
  std::string s = "'";
  for (size_t i = 0; i < n; ++i)
    s += std::isprint(p[i]) ? std::string(1, static_cast<char>(p[i])) : fmt::format("\\x{:02x}", p[i]);
  return s + "'";
}

// Smallest encoding of one element of `t` in the file: bounds an element count by the bytes left.
uint64_t min_element_bytes(GgufType t) {
  if (t == GgufType::String) return 8;  // u64 length
  if (t == GgufType::Array) return 12;  // u32 type + u64 length
  return gguf_scalar_bytes(t);
}

bool valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::F64); }

}  // namespace

// Sequential reads over the file bytes; every read is bounds-checked.
struct GgufParser {
  const uint8_t* data;
  uint64_t size;
  const std::string& context;
  uint64_t pos = 0;

  Error error(const std::string& what) const {
    Error e(what);
    e.file(context);
    return e;
  }
  uint64_t left() const { return size - pos; }

  void need(uint64_t n, const std::string& what) const {
    if (n > left())
      throw error(what + " runs past the end of the file")
          .expected(fmt::format("{} bytes at offset {}", n, pos))
          .got(fmt::format("a file of {} bytes", size))
          .hint("the file is truncated or damaged; download or convert it again");
  }
  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  std::string read_string(const std::string& what) {
    const uint64_t n = read<uint64_t>(what);
    if (n > left())
      throw error(what + ": string length runs past the end of the file")
          .expected(fmt::format("at most {} bytes (what is left of the file after offset {})", left(), pos))
          .got(fmt::format("{} bytes", n))
          .hint("the file is truncated or damaged");
    std::string s(reinterpret_cast<const char*>(data + pos), static_cast<size_t>(n));
    pos += n;
    return s;
  }

  GgufValue read_value(GgufType type, const std::string& what, int depth) {
    GgufValue v;
    v.type_ = v.elem_ = type;
    if (type == GgufType::String) {
      v.string_ = read_string(what);
    } else if (type == GgufType::Array) {
      read_array_body(v, what, depth);
    } else {
      const size_t n = gguf_scalar_bytes(type);
      need(n, what);
      std::memcpy(&v.scalar_, data + pos, n);
      pos += n;
      if (type == GgufType::Bool && v.scalar_ > 1)
        throw error(what + ": bool value is neither 0 nor 1").expected("0 or 1").got(std::to_string(v.scalar_));
    }
    return v;
  }

  // An array after its own type tag: u32 element type, u64 count, the elements.
  void read_array_body(GgufValue& v, const std::string& what, int depth) {
    if (depth >= kMaxArrayDepth)
      throw error(what + ": arrays nested too deeply").expected(fmt::format("at most {} levels", kMaxArrayDepth));
    const uint32_t elem = read<uint32_t>(what + " (array element type)");
    if (!valid_value_type(elem))
      throw error(what + ": unknown array element type")
          .expected("a GGUF value type 0 to 12")
          .got(std::to_string(elem));
    const uint64_t count = read<uint64_t>(what + " (array length)");
    const GgufType et = static_cast<GgufType>(elem);
    if (count > left() / min_element_bytes(et))
      throw error(what + ": array length is larger than the file could hold")
          .expected(fmt::format("at most {} elements of {} in the {} bytes left", left() / min_element_bytes(et),
                                gguf_type_name(et), left()))
          .got(std::to_string(count))
          .hint("the file is truncated or damaged");
    v.type_ = GgufType::Array;
    v.elem_ = et;
    v.count_ = count;
    if (et == GgufType::String) {
      v.strings_.reserve(count);
      for (uint64_t i = 0; i < count; ++i) v.strings_.push_back(read_string(what + fmt::format("[{}]", i)));
    } else if (et == GgufType::Array) {
      v.nested_.reserve(count);
      for (uint64_t i = 0; i < count; ++i) {
        GgufValue item;
        read_array_body(item, what + fmt::format("[{}]", i), depth + 1);
        v.nested_.push_back(std::move(item));
      }
    } else {
      const uint64_t n = count * gguf_scalar_bytes(et);  // <= left(), checked above
      v.raw_.assign(data + pos, data + pos + n);
      pos += n;
      if (et == GgufType::Bool)
        for (uint64_t i = 0; i < count; ++i)
          if (v.raw_[i] > 1)
            throw error(what + fmt::format("[{}]: bool value is neither 0 nor 1", i))
                .expected("0 or 1")
                .got(std::to_string(v.raw_[i]));
    }
  }
};

struct GgufFile::Storage {
  const uint8_t* data = nullptr;
  size_t size = 0;
  void* map = nullptr;
  std::string owned;
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (map != nullptr) ::munmap(map, size);
  }
};

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;  // bounded when read (kGgufMaxElements)
  return n;
}

uint64_t GgufFile::file_bytes() const { return storage_->size; }

GgufFile GgufFile::open(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error("GGUF file does not exist").file(path).hint("check the path");
  if (S_ISDIR(st.st_mode)) throw Error("expected a GGUF file but got a folder").file(path);
  if (st.st_size == 0) throw Error("GGUF file is empty").file(path).expected("a GGUF file").got("0 bytes");
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error("cannot open GGUF file").file(path).hint("check that it is readable");
  auto storage = std::make_shared<Storage>();
  storage->size = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, storage->size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) throw Error("cannot memory-map GGUF file").file(path);
  storage->map = map;
  storage->data = static_cast<const uint8_t*>(map);
  return parse(std::move(storage), path);
}

GgufFile GgufFile::from_bytes(const uint8_t* data, size_t size, const std::string& context) {
  auto storage = std::make_shared<Storage>();
  storage->owned.assign(reinterpret_cast<const char*>(data), size);
  storage->data = reinterpret_cast<const uint8_t*>(storage->owned.data());
  storage->size = size;
  return parse(std::move(storage), context);
}

GgufFile GgufFile::parse(std::shared_ptr<const Storage> storage, const std::string& path) {
  GgufFile f;
  f.storage_ = std::move(storage);
  f.path_ = path;
  GgufParser p{f.storage_->data, f.storage_->size, f.path_};
  if (p.size == 0) throw p.error("GGUF file is empty").expected("a GGUF file").got("0 bytes");
  if (p.size < 4 || std::memcmp(p.data, kGgufMagic, 4) != 0)
    throw p.error("not a GGUF file (bad magic)")
        .expected("the bytes 'GGUF' at offset 0")
        .got(printable(p.data, std::min<uint64_t>(p.size, 4)))
        .hint("pass a .gguf file written by llama.cpp or pare");
  p.pos = 4;
  f.version_ = p.read<uint32_t>("GGUF header (version)");
  if ((f.version_ & 0xFFFFu) == 0 && f.version_ != 0)
    throw p.error("GGUF version " + std::to_string(f.version_) + " looks byte-swapped (a big-endian file?)")
        .expected("version 2 or 3, little-endian")
        .hint("pare reads little-endian GGUF files only");
  if (f.version_ < 2 || f.version_ > kGgufVersion)
    throw p.error("unsupported GGUF version " + std::to_string(f.version_))
        .expected("version 2 or 3")
        .got(std::to_string(f.version_))
        .hint(f.version_ < 2 ? "convert the model again with a current llama.cpp"
                             : "this file is newer than pare knows; upgrade pare");
  const uint64_t n_tensors = p.read<uint64_t>("GGUF header (tensor count)");
  const uint64_t n_kv = p.read<uint64_t>("GGUF header (metadata count)");
  // The smallest tensor info is 32 bytes (8 name length, 4 n_dims, 8 one dim, 4 type, 8 offset); the smallest
  // metadata entry 13 (8 key length, 4 type, a 1-byte value).
  if (n_tensors > p.left() / 32)
    throw p.error("tensor count is larger than the file could hold")
        .expected(fmt::format("at most {} tensors in a file of {} bytes", p.left() / 32, p.size))
        .got(std::to_string(n_tensors))
        .hint("the file is truncated or damaged");
  if (n_kv > p.left() / 13)
    throw p.error("metadata count is larger than the file could hold")
        .expected(fmt::format("at most {} entries in a file of {} bytes", p.left() / 13, p.size))
        .got(std::to_string(n_kv))
        .hint("the file is truncated or damaged");

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = p.read_string(fmt::format("key of metadata entry #{}", i));
    const std::string what = "metadata '" + key + "'";
    const uint32_t type = p.read<uint32_t>(what + " (value type)");
    if (!valid_value_type(type))
      throw p.error(what + ": unknown value type").expected("a GGUF value type 0 to 12").got(std::to_string(type));
    if (f.key_index_.count(key)) throw p.error(what + ": duplicate metadata key").hint("each key may appear once");
    GgufValue v = p.read_value(static_cast<GgufType>(type), what, 0);
    f.key_index_[key] = f.metadata_.size();
    f.metadata_.emplace_back(std::move(key), std::move(v));
  }
  if (const GgufValue* a = f.find("general.alignment")) {
    if (a->type() != GgufType::U32)
      throw p.error("metadata 'general.alignment' has the wrong type").expected("u32").got(a->type_string());
    f.alignment_ = a->get<uint32_t>();
    if (!is_power_of_two(f.alignment_) || f.alignment_ > kGgufMaxAlignment)
      throw p.error("metadata 'general.alignment' is not a usable alignment")
          .expected("a power of two from 1 to 2^30 (usually 32)")
          .got(std::to_string(f.alignment_));
  }

  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = p.read_string(fmt::format("name of tensor #{}", i));
    auto terr = [&](const std::string& what) {
      Error e = p.error(what);
      e.tensor(t.name);
      return e;
    };
    const uint32_t n_dims = p.read<uint32_t>("tensor '" + t.name + "' (n_dims)");
    if (n_dims == 0 || n_dims > kGgufMaxDims)
      throw terr("unsupported number of dimensions").expected("1 to 4").got(std::to_string(n_dims));
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t n = p.read<uint64_t>("tensor '" + t.name + "' (ne)");
      if (n > static_cast<uint64_t>(kGgufMaxElements))
        throw terr("dimension is implausibly large").expected("at most 2^56").got(std::to_string(n));
      t.ne.push_back(static_cast<int64_t>(n));
    }
    t.type_id = p.read<uint32_t>("tensor '" + t.name + "' (type)");
    t.offset = p.read<uint64_t>("tensor '" + t.name + "' (offset)");
    const formats::GgmlTypeTraits* tr = formats::ggml_type_traits(t.type_id);
    if (tr == nullptr)
      throw terr("unknown ggml tensor type")
          .expected("a ggml type id (F32 0, F16 1, Q4_0 2, Q8_0 8, BF16 30, ...)")
          .got("type id " + std::to_string(t.type_id))
          .hint("the file may come from a newer llama.cpp; pare decodes " + formats::ggml_decodable_types());
    // The product of the non-zero dims is bounded, so that a zero cannot hide an overflow (docs/fuzzing.md).
    int64_t elements = 1;
    for (int64_t d : t.ne) {
      if (d == 0) continue;
      if (elements > kGgufMaxElements / d)
        throw terr("tensor shape overflows").expected("at most 2^56 elements").got("ne = " + ir::shape_string(t.ne));
      elements *= d;
    }
    if (t.ne[0] % tr->block_size != 0)
      throw terr(fmt::format("row length is not a multiple of the {} block size", tr->name))
          .expected(fmt::format("ne[0] divisible by {}", tr->block_size))
          .got("ne = " + ir::shape_string(t.ne));
    t.size_bytes = static_cast<uint64_t>(t.numel() / tr->block_size * tr->type_size);
    if (f.tensor_index_.count(t.name)) throw terr("duplicate tensor name").hint("each tensor name may appear once");
    f.tensor_index_[t.name] = f.tensors_.size();
    f.tensors_.push_back(std::move(t));
  }

  f.data_offset_ = align_up(p.pos, f.alignment_);
  const uint64_t avail = p.size > f.data_offset_ ? p.size - f.data_offset_ : 0;
  for (const GgufTensorInfo& t : f.tensors_) {
    if (t.offset % f.alignment_ != 0)
      throw p.error("tensor data offset is not a multiple of the alignment")
          .tensor(t.name)
          .expected(fmt::format("a multiple of {}", f.alignment_))
          .got(std::to_string(t.offset));
    if (t.offset > avail || t.size_bytes > avail - t.offset)
      throw p.error("tensor data runs past the end of the file")
          .tensor(t.name)
          .expected(fmt::format("{} bytes at file offset {} + {}", t.size_bytes, f.data_offset_, t.offset))
          .got(fmt::format("a file of {} bytes", p.size))
          .hint("the file is truncated or damaged");
  }
  std::vector<size_t> order(f.tensors_.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return f.tensors_[a].offset < f.tensors_[b].offset; });
  const GgufTensorInfo* prev = nullptr;
  for (size_t i : order) {
    const GgufTensorInfo& t = f.tensors_[i];
    if (t.size_bytes == 0) continue;
    if (prev != nullptr && prev->offset + prev->size_bytes > t.offset)
      throw p.error("tensor data overlaps another tensor's")
          .tensor(t.name)
          .expected(fmt::format("data starting at or after {} (the end of '{}')", prev->offset + prev->size_bytes,
                                prev->name))
          .got(fmt::format("offset {}", t.offset));
    prev = &t;
  }
  return f;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufValue& GgufFile::at(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr)
    throw Error("metadata '" + key + "' is missing").file(path_).hint("`pare info " + path_ + "` lists the metadata");
  return *v;
}

namespace {
[[noreturn]] void key_type_error(const std::string& path, const std::string& key, const std::string& expected,
                                 const GgufValue& v) {
  throw Error("metadata '" + key + "' has the wrong type").file(path).expected(expected).got(v.type_string());
}

template <typename T>
T typed(const GgufFile& f, const std::string& key, GgufType want) {
  const GgufValue& v = f.at(key);
  if (v.type() != want) key_type_error(f.path(), key, gguf_type_name(want), v);
  return v.get<T>();
}
}  // namespace

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = at(key);
  if (v.type() != GgufType::String) key_type_error(path_, key, "str", v);
  return v.str();
}
uint32_t GgufFile::get_u32(const std::string& key) const { return typed<uint32_t>(*this, key, GgufType::U32); }
int32_t GgufFile::get_i32(const std::string& key) const { return typed<int32_t>(*this, key, GgufType::I32); }
uint64_t GgufFile::get_u64(const std::string& key) const { return typed<uint64_t>(*this, key, GgufType::U64); }
float GgufFile::get_f32(const std::string& key) const { return typed<float>(*this, key, GgufType::F32); }
bool GgufFile::get_bool(const std::string& key) const { return typed<bool>(*this, key, GgufType::Bool); }

uint64_t GgufFile::get_uint(const std::string& key) const {
  const GgufValue& v = at(key);
  try {
    return v.as_uint();
  } catch (const Error&) {
    throw Error("metadata '" + key + "' is not a non-negative integer")
        .file(path_)
        .expected("an integer >= 0 (u8 to i64)")
        .got(v.type_string() + " " + v.text());
  }
}

std::vector<std::string> GgufFile::get_strings(const std::string& key) const {
  const GgufValue& v = at(key);
  if (!v.is_array() || v.element_type() != GgufType::String) key_type_error(path_, key, "arr[str]", v);
  return v.strings();
}

template <typename T>
std::vector<T> GgufFile::get_array(const std::string& key) const {
  const GgufValue& v = at(key);
  try {
    return v.numbers<T>();
  } catch (const Error&) {
    key_type_error(path_, key, "arr[" + GgufValue(T{}).type_string() + "]", v);
  }
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensorInfo& GgufFile::tensor_info(const std::string& name) const {
  const GgufTensorInfo* t = find_tensor(name);
  if (t == nullptr)
    throw Error("no such tensor in the GGUF file")
        .file(path_)
        .tensor(name)
        .got(fmt::format("{} tensors", tensors_.size()))
        .hint("`pare info " + path_ + "` lists the tensors");
  return *t;
}

GgufBytes GgufFile::raw(const std::string& name) const {
  const GgufTensorInfo& t = tensor_info(name);
  if (t.size_bytes == 0) return {storage_->data, 0};  // the data section may start past the end of the file
  return {storage_->data + data_offset_ + t.offset, static_cast<size_t>(t.size_bytes)};
}

at::Tensor GgufFile::tensor_f32(const std::string& name) const {
  const GgufTensorInfo& t = tensor_info(name);
  const formats::GgmlTypeTraits& tr = *formats::ggml_type_traits(t.type_id);
  if (tr.dequantize == nullptr)
    throw Error(std::string("cannot decode tensor type ") + tr.name)
        .file(path_)
        .tensor(name)
        .expected("one of " + formats::ggml_decodable_types())
        .got(fmt::format("{} (type id {})", tr.name, t.type_id))
        .hint("requantize the model to Q8_0, Q4_0 or F16 with llama-quantize");
  at::Tensor out = at::empty(t.shape(), at::kFloat);
  if (t.numel() > 0) tr.dequantize(storage_->data + data_offset_ + t.offset, out.data_ptr<float>(), t.numel());
  return out;
}

template std::vector<uint8_t> GgufFile::get_array<uint8_t>(const std::string&) const;
template std::vector<int8_t> GgufFile::get_array<int8_t>(const std::string&) const;
template std::vector<uint16_t> GgufFile::get_array<uint16_t>(const std::string&) const;
template std::vector<int16_t> GgufFile::get_array<int16_t>(const std::string&) const;
template std::vector<uint32_t> GgufFile::get_array<uint32_t>(const std::string&) const;
template std::vector<int32_t> GgufFile::get_array<int32_t>(const std::string&) const;
template std::vector<uint64_t> GgufFile::get_array<uint64_t>(const std::string&) const;
template std::vector<int64_t> GgufFile::get_array<int64_t>(const std::string&) const;
template std::vector<float> GgufFile::get_array<float>(const std::string&) const;
template std::vector<double> GgufFile::get_array<double>(const std::string&) const;
template std::vector<bool> GgufFile::get_array<bool>(const std::string&) const;

bool is_gguf(const std::string& path) {
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) return true;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, kGgufMagic, 4) == 0;
}

}  // namespace pare::io
