// One safetensors header, checked field by field against the spec (github.com/huggingface/safetensors, README
// "Format" and "Notes"), and the format's dtype table. Used by safetensors.cpp; knows nothing of files or folders.
#pragma once
#include <ATen/ATen.h>

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pare/io/safetensors.h"

namespace pare::io {

constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;  // the spec's limit on the JSON header (and index)

struct SafetensorsDType {
  const char* name;     // "F32"
  size_t bytes;         // per element
  at::ScalarType type;  // Undefined: libtorch 1.13 has no such type (the tensor can be listed, not read)
};
// nullptr for a name the table lacks / a type safetensors cannot store.
const SafetensorsDType* find_safetensors_dtype(const std::string& name);
const SafetensorsDType* find_safetensors_dtype(at::ScalarType type);
// "F32 F16 BF16 ..." for messages; `readable_only`: those libtorch can hold.
std::string safetensors_dtype_names(bool readable_only);

struct SafetensorsHeader {
  size_t buffer = 0;                      // file offset of the byte buffer: 8 + N
  std::vector<SafetensorsEntry> entries;  // in header order; `file` is the context
  nlohmann::json metadata = nlohmann::json::object();
};

// Reads the header of the `size` bytes at `data` (a whole file) and checks every field: the length, the JSON (an
// object, no duplicate keys), each tensor's dtype, shape and data_offsets, the tiling of the buffer (no overlap, no
// holes, nothing after the last tensor) and the string-only __metadata__. Throws Error naming `context` and the
// tensor or field.
SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, const std::string& context);

}  // namespace pare::io
