// The byte layer of .pare packages, shared by the ONNX-graph packages (pare_package.h) and the Llama
// packages (llm/llama_package.h): prefix, CRC-32s, 64-byte aligned blobs, the header-size fixed point,
// checked blob access, and how one quantized weight is stored. The layout is documented in pare_package.h.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "pare/formats/quantized_weight.h"

namespace pare::io {

constexpr uint32_t kPackageVersion = 1;
constexpr size_t kPackagePrefix = 24, kPackageAlign = 64;
extern const char kPackageMagic[8];

uint32_t package_crc(const uint8_t* p, size_t n, uint32_t start = 0);

// One blob of a package being written: its size and CRC known up front, its bytes written on demand (so
// that a large model's blobs can be streamed from files instead of held in memory).
struct BlobSource {
  std::string name;
  uint64_t bytes = 0;
  uint32_t crc32 = 0;
  std::function<void(std::ostream&)> write;
};
BlobSource memory_blob(std::string name, std::string bytes);

// Writes a package atomically: `header` gets its "blobs" table here. Refuses to overwrite `protected_inputs`.
void write_package(const std::string& path, nlohmann::json header, const std::vector<BlobSource>& blobs,
                   const std::vector<std::string>& protected_inputs = {});

// One quantized weight as a header entry plus its blobs (codes packed at the grid's width, scales, zero
// points, codebook table), named `key`.codes etc. The caller adds "node"/"weight"/... fields it needs.
nlohmann::json quantized_entry(const formats::QuantizedWeight& q, const std::string& key,
                               std::vector<std::pair<std::string, std::string>>& blobs);

// Checked access to a package's bytes (memory-mapped or in memory). Every failure is an Error naming the
// file (`context`) and the part.
struct PackageReader {
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::string context;
  bool verify = true;  // false only for fuzzing: lets mutated bytes reach the parser behind the CRCs
  nlohmann::json header;

  // Checks magic, version, header length and CRC, and parses the header.
  void open();
  [[noreturn]] void fail(const std::string& what, const std::string& hint = "") const;
  // A JSON integer in [lo, hi] (nlohmann's get<int>() casts 1e99 without a check and wraps large integers).
  int64_t integer(const nlohmann::json& j, const std::string& what, int64_t lo = INT32_MIN,
                  int64_t hi = INT32_MAX) const;
  std::vector<int64_t> integers(const nlohmann::json& j, const std::string& what) const;
  // Offset and size of blob `name`, checked against the file's size and alignment (no CRC).
  std::pair<uint64_t, uint64_t> blob_range(const nlohmann::json& name) const;
  // The bytes of blob `name`, also checked against its CRC when `verify`.
  std::pair<const uint8_t*, size_t> blob(const nlohmann::json& name) const;
};

// A package file memory-mapped read-only (MAP_PRIVATE) for as long as the object lives. Errors name the file.
struct MappedFile {
  const uint8_t* data = nullptr;
  size_t size = 0;
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
};

// Element count of `shape`, or -1 when negative or absurd (over 2^40).
int64_t package_numel(const std::vector<int64_t>& shape);

// Reads the quantized weight of header entry `e` (`what` names it in errors).
formats::QuantizedWeight read_quantized_entry(const nlohmann::json& e, const PackageReader& r, const std::string& what);
// Checks entry `e`'s fields and blob sizes without reading the blobs' bytes (for lazy readers).
void check_quantized_entry(const nlohmann::json& e, const PackageReader& r, const std::string& what);

}  // namespace pare::io
