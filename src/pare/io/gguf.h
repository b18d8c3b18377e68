// GGUF (the llama.cpp model file, spec: docs/gguf.md in ggml-org/ggml): a header, typed metadata, tensor
// infos, then aligned tensor data. GgufFile reads v2/v3 files memory-mapped and checks every count, length and
// offset against the file; GgufWriter writes v3. The format only: tensor names and metadata keys mean nothing
// here (the Llama mapping lives in llm/). Tensor shapes: GGUF stores ne[] fastest dimension first; pare's
// tensors use PyTorch order, ne reversed (ne = [in, out] is an [out, in] weight).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "pare/formats/ggml_types.h"

namespace pare::io {

// Layout facts shared by the reader and the writer (docs/gguf.md; ggml.h).
constexpr char kGgufMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t kGgufVersion = 3;                       // written; version 2 has the same layout and is read too
constexpr uint64_t kGgufDefaultAlignment = 32;             // when "general.alignment" is absent
constexpr uint64_t kGgufMaxAlignment = uint64_t{1} << 30;  // a sanity bound, far above any real file's
constexpr int kGgufMaxDims = 4;                            // GGML_MAX_DIMS
constexpr int64_t kGgufMaxElements = int64_t{1} << 56;     // per tensor: keeps size arithmetic in range

// `gguf_metadata_value_type` (u32 in the file).
enum class GgufType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};
// "u8", "i32", "f32", "bool", "str", "arr", ... (ggml's gguf_type_name spelling).
const char* gguf_type_name(GgufType t);
// Bytes of one numeric or bool value of type `t`; 0 for str and arr.
size_t gguf_scalar_bytes(GgufType t);

// One metadata value: a scalar, a string, or an array of one element type (arrays may nest). The C++ type
// of a constructor argument picks the GGUF type: uint32_t -> u32, int -> i32, float -> f32, double -> f64.
class GgufValue {
 public:
  GgufValue(uint8_t v);  // NOLINT: implicit on purpose, so that w.set("key", uint32_t{4}) reads naturally
  GgufValue(int8_t v);
  GgufValue(uint16_t v);
  GgufValue(int16_t v);
  GgufValue(uint32_t v);
  GgufValue(int32_t v);
  GgufValue(uint64_t v);
  GgufValue(int64_t v);
  GgufValue(float v);
  GgufValue(double v);
  GgufValue(bool v);
  GgufValue(std::string v);
  GgufValue(const char* v);

  // Arrays. Numeric element types are given by T (uint8_t ... double, bool).
  template <typename T>
  static GgufValue array(const std::vector<T>& items);
  static GgufValue array(std::vector<std::string> items);
  static GgufValue array_of_arrays(std::vector<GgufValue> items);  // each item must be an array

  GgufType type() const { return type_; }
  bool is_array() const { return type_ == GgufType::Array; }
  GgufType element_type() const { return elem_; }  // arrays only
  uint64_t size() const { return count_; }         // arrays: number of elements; scalars: 1

  // Exact-type access; a mismatch throws Error("... expected u32, got f32") (callers add the key).
  template <typename T>
  T get() const;
  const std::string& str() const;
  template <typename T>
  std::vector<T> numbers() const;  // a numeric/bool array with element type T
  const std::vector<std::string>& strings() const;
  const std::vector<GgufValue>& arrays() const;  // an array of arrays
  // Any integer type whose value is >= 0 (GGUF counts come as u32 or u64, the spec asks readers to take both).
  uint64_t as_uint() const;

  // Element `i` of an array, as a scalar value (or an array, for arrays of arrays).
  GgufValue element(uint64_t i) const;

  // "u32", "arr[str,32000]" (ggml's spelling) and a short text of the value with at most `max_items` items.
  std::string type_string() const;
  std::string text(size_t max_items = 8, size_t max_chars = 80) const;

  bool operator==(const GgufValue& o) const;
  bool operator!=(const GgufValue& o) const { return !(*this == o); }

 private:
  friend struct GgufParser;
  friend class GgufValueWriter;
  GgufValue() = default;
  GgufType type_ = GgufType::U8, elem_ = GgufType::U8;
  uint64_t count_ = 1;
  uint64_t scalar_ = 0;               // numeric scalars: the little-endian bytes
  std::string string_;                // String scalars
  std::vector<uint8_t> raw_;          // numeric/bool arrays: elements packed as in the file
  std::vector<std::string> strings_;  // string arrays
  std::vector<GgufValue> nested_;     // arrays of arrays
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // GGUF order, ne[0] fastest; 1 to 4 dimensions
  uint32_t type_id = 0;     // a ggml type id with a traits row (checked when read)
  uint64_t offset = 0;      // relative to the data section, a multiple of the alignment
  uint64_t size_bytes = 0;

  formats::GgmlType type() const { return static_cast<formats::GgmlType>(type_id); }
  std::vector<int64_t> shape() const { return {ne.rbegin(), ne.rend()}; }  // PyTorch order
  int64_t numel() const;
};

// Bytes of one tensor inside the mapped file (valid while the GgufFile or a copy of it lives).
struct GgufBytes {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

class GgufFile {
 public:
  // Memory-maps `path`. Every structural problem is an Error naming the file and the key or tensor.
  static GgufFile open(const std::string& path);
  // The same checks on bytes in memory (copied); `context` names them in messages.
  static GgufFile from_bytes(const uint8_t* data, size_t size, const std::string& context);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // where the data section starts in the file
  uint64_t file_bytes() const;

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(const std::string& key) const;
  const GgufValue& at(const std::string& key) const;  // Error naming the key when missing
  // Typed reads; errors name the file, the key, the expected type and the type found.
  std::string get_string(const std::string& key) const;
  uint32_t get_u32(const std::string& key) const;
  int32_t get_i32(const std::string& key) const;
  uint64_t get_u64(const std::string& key) const;
  float get_f32(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  uint64_t get_uint(const std::string& key) const;  // any integer type >= 0
  std::vector<std::string> get_strings(const std::string& key) const;
  template <typename T>
  std::vector<T> get_array(const std::string& key) const;

  // Tensor infos in file order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  const GgufTensorInfo& tensor_info(const std::string& name) const;  // Error naming the tensor when missing
  GgufBytes raw(const std::string& name) const;
  // The tensor decoded to float32, shape ne reversed. Error for a type pare cannot decode (names the type).
  at::Tensor tensor_f32(const std::string& name) const;

 private:
  struct Storage;
  GgufFile() = default;
  static GgufFile parse(std::shared_ptr<const Storage> storage, const std::string& path);
  std::shared_ptr<const Storage> storage_;
  std::string path_;
  uint32_t version_ = 3;
  uint64_t alignment_ = 32, data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t> key_index_, tensor_index_;
};

// Builds a GGUF v3 file: metadata in insertion order, tensors in insertion order, each tensor's data at the
// next multiple of the alignment (32, or the u32 "general.alignment" if set). When a tensor is quantized and
// "general.quantization_version" is not set, it is added as u32 2 (GGML_QNT_VERSION; the spec requires it).
class GgufWriter {
 public:
  // Sets `key`; a key set again keeps its first position.
  void set(const std::string& key, GgufValue value);
  // Encodes `t` (any floating dtype, PyTorch order, stored with ne = shape reversed) as `type`. Errors:
  // duplicate name, a type pare cannot write, a row length (last dimension) that is not a multiple of the
  // type's block size, NaN/Inf values, values beyond the F16 range.
  void add_tensor(const std::string& name, const at::Tensor& t, formats::GgmlType type);
  // Like add_tensor, but `make` runs inside write(), so that only one tensor is in memory at a time (a 7B model
  // exported layer by layer). `shape` (PyTorch order) is what `make` must return; checked when called.
  void add_tensor_deferred(const std::string& name, std::vector<int64_t> shape, formats::GgmlType type,
                           std::function<at::Tensor()> make);
  // Stores pre-encoded bytes (their size must match ne and type).
  void add_raw(const std::string& name, std::vector<int64_t> ne, formats::GgmlType type, std::string bytes);
  // Like add_raw, but the bytes of a tensor of `shape` (PyTorch order) are made inside write(): already
  // encoded blocks (e.g. a quantized weight's own codes) streamed one tensor at a time.
  void add_raw_deferred(const std::string& name, std::vector<int64_t> shape, formats::GgmlType type,
                        std::function<std::string()> make_bytes);

  void write(std::ostream& out) const;
  // Atomic (temp file + rename); refuses to overwrite any of `protected_inputs`.
  void write(const std::string& path, const std::vector<std::string>& protected_inputs = {}) const;

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> ne;
    formats::GgmlType type;
    std::string bytes;           // encoded now (add_tensor, add_raw) ...
    std::vector<int64_t> shape;  // ... or by `make` during write() (add_tensor_deferred)
    std::function<at::Tensor()> make;
    std::function<std::string()> make_bytes;  // ... or as bytes by `make_bytes` (add_raw_deferred)
    uint64_t size_bytes = 0;
  };
  void add_entry(Tensor t);  // refuses a name already added
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<Tensor> tensors_;
};

// Whether `path` starts with the GGUF magic or ends in ".gguf".
bool is_gguf(const std::string& path);

}  // namespace pare::io
