// A resumable work folder for long jobs done in numbered units (e.g. a Llama quantized block by block): each
// finished unit is a blob file unit-NNNN.bin and, written after it as the mark that it is complete, its JSON
// unit-NNNN.json; job.json records the job's settings. A job started again with the same settings finds the
// finished units and does only the rest; a folder left by a job with other settings is refused.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "pare/io/package_format.h"

namespace pare::io {

class UnitFolder {
 public:
  // Opens `dir` for a job of `units` units described by `job`: creates it, or checks that the job.json
  // there is `job` (Error otherwise, naming the folder and `what` the job does, e.g. "quantization"). Units
  // whose two files agree count as finished.
  UnitFolder(std::string dir, const nlohmann::json& job, int64_t units, const std::string& what);

  bool created() const { return created_; }  // this run made the folder
  int64_t finished() const;                  // units done, on disk
  bool done(int64_t k) const { return !units_.at(static_cast<size_t>(k)).is_null(); }
  const nlohmann::json& unit(int64_t k) const { return units_.at(static_cast<size_t>(k)); }

  // Writes unit k: its blobs to the .bin, then `info` (with the blob table and "bin_bytes" added) as its
  // JSON. Both atomically.
  void write(int64_t k, nlohmann::json info, const std::vector<std::pair<std::string, std::string>>& blobs);
  // The blobs of finished unit k, streamed from its .bin when written into a package.
  std::vector<BlobSource> blob_sources(int64_t k) const;
  void remove() const;  // deletes the folder (errors ignored: it only costs disk)
  const std::string& dir() const { return dir_; }

 private:
  std::string path(int64_t k, const char* ext) const;
  std::string dir_;
  bool created_ = false;
  std::vector<nlohmann::json> units_;
};

}  // namespace pare::io
