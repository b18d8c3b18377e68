// Hugging Face safetensors: one `.safetensors` file, or a model folder holding `model.safetensors` or shards
// listed by `model.safetensors.index.json`. Files are memory-mapped and tensors are views into the mapping
// (no copy of the weights in RAM); the writer is atomic. Layout (github.com/huggingface/safetensors, "Format"):
//
//   8 bytes   N, u64 little-endian: the header length
//   N bytes   UTF-8 JSON {NAME: {"dtype": "F16", "shape": [..], "data_offsets": [BEGIN, END]}, ...,
//                         "__metadata__": {str: str}}, starting with '{', possibly padded with spaces
//   rest      the byte buffer; BEGIN/END are relative to its start, tensors tile it without holes or overlap
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace pare::io {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // as stored: "F32", "F16", "BF16", "I8", ...
  std::vector<int64_t> shape;
  std::string file;             // the file (shard) that holds the tensor
  uint64_t begin = 0, end = 0;  // byte range in that file's buffer (after the header)
};

class SafetensorsModel {
 public:
  // A `.safetensors` file, a model.safetensors.index.json (the shards it lists), or a folder: its model.safetensors,
  // else its index, else its one *.safetensors file. Every structural problem is an Error naming the file and the
  // tensor or field.
  static SafetensorsModel open(const std::string& file_or_folder);
  // The same checks on bytes in memory (the fuzz target and tests); `context` names it in messages.
  static SafetensorsModel from_bytes(std::string bytes, const std::string& context);

  std::vector<std::string> names() const;  // sorted
  bool has(const std::string& name) const;
  // Throws Error naming the tensor and the file or folder when absent.
  const SafetensorsEntry& entry(const std::string& name) const;
  // A view of the stored bytes in the stored dtype (BOOL: a copy normalized to 0/1; a tensor whose data is not
  // aligned to its element size: a copy). The view keeps the mapping alive after this model is gone. The mapping
  // is private: writing into a view changes this process's copy of those pages, never the file.
  // Throws Error for dtypes libtorch 1.13 lacks (U16, U32, U64, F8_*, C64).
  at::Tensor tensor(const std::string& name) const;
  // Drops the memory-mapped pages wholly inside the tensor's bytes from this process (madvise DONTNEED), so
  // that layer-by-layer work keeps about one layer resident. Views stay valid: their pages are read from the
  // file again when touched, but anything written into them is lost. No effect on data read from memory.
  void release(const std::string& name) const;
  // tensor(name) as float32 (the same view when stored as F32).
  at::Tensor tensor_f32(const std::string& name) const;
  // The "__metadata__" map of the first file (an empty object when absent).
  const nlohmann::json& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }  // what was opened
  std::vector<std::string> files() const;            // the files read, in order (shards sorted by name)

 private:
  struct Shard;
  static std::shared_ptr<const Shard> map_shard(const std::string& path);
  struct Located {
    SafetensorsEntry entry;
    size_t shard = 0;
  };
  void add_shard(std::shared_ptr<const Shard> shard, const std::string& context);
  void add_sharded(const std::string& index);  // the shards model.safetensors.index.json lists
  std::string path_;
  std::vector<std::shared_ptr<const Shard>> shards_;
  std::map<std::string, Located> entries_;
  nlohmann::json metadata_ = nlohmann::json::object();
};

// Whether `path` is a .safetensors file or a model.safetensors.index.json, or a folder holding either and no .onnx
// file.
bool is_safetensors(const std::string& path);

// Writes the tensors (stored dtype of each: F32 F16 BF16 F64 I64 I32 I16 I8 U8 BOOL; any other is an Error) and
// string metadata. Names must be unique and not "__metadata__". Tensors are laid out by decreasing element size,
// and the header is padded with spaces to a multiple of 8, so that every tensor is aligned for a zero-copy read.
// Atomic; refuses to overwrite `protected_inputs`.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {},
                      const std::vector<std::string>& protected_inputs = {});

}  // namespace pare::io
