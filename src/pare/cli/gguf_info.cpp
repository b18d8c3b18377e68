// `pare info FILE.gguf`: reads the file with io::GgufFile (no tensor is decoded) and prints its metadata, one
// line per key with arrays cut to their first items, then one line per tensor and the totals by type.
#include "pare/cli/gguf_info.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "pare/io/gguf.h"

namespace pare::cli {

namespace {

constexpr size_t kTextItems = 8;   // array items shown per key in text
constexpr size_t kJsonItems = 16;  // ... and in JSON

nlohmann::json value_json(const io::GgufValue& v) {
  using io::GgufType;
  switch (v.type()) {
    case GgufType::U8:
    case GgufType::U16:
    case GgufType::U32:
    case GgufType::U64:
      return v.as_uint();
    case GgufType::I8:
      return v.get<int8_t>();
    case GgufType::I16:
      return v.get<int16_t>();
    case GgufType::I32:
      return v.get<int32_t>();
    case GgufType::I64:
      return v.get<int64_t>();
    case GgufType::F32:  // the shortest text that reads back as this float: 1e-05, not 9.99999974737875e-06
      return std::stod(fmt::format("{}", v.get<float>()));
    case GgufType::F64:
      return v.get<double>();
    case GgufType::Bool:
      return v.get<bool>();
    case GgufType::String:
      return v.str();
    case GgufType::Array:
      break;
  }
  nlohmann::json first = nlohmann::json::array();
  for (uint64_t i = 0; i < v.size() && i < kJsonItems; ++i) first.push_back(value_json(v.element(i)));
  return {{"element_type", io::gguf_type_name(v.element_type())}, {"length", v.size()}, {"first", first}};
}

struct Totals {
  int64_t weights = 0;
  uint64_t bytes = 0;
  std::map<std::string, int> by_type;
};

Totals totals_of(const io::GgufFile& f) {
  Totals t;
  for (const auto& info : f.tensors()) {
    t.weights += info.numel();
    t.bytes += info.size_bytes;
    t.by_type[formats::ggml_type_name(info.type_id)] += 1;
  }
  return t;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

nlohmann::json summary_json(const io::GgufFile& f) {
  nlohmann::json metadata = nlohmann::json::array();  // an array keeps the file's key order
  for (const auto& [key, v] : f.metadata())
    metadata.push_back({{"key", key}, {"type", io::gguf_type_name(v.type())}, {"value", value_json(v)}});
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : f.tensors())
    tensors.push_back({{"name", t.name},
                       {"type", formats::ggml_type_name(t.type_id)},
                       {"type_id", t.type_id},
                       {"ne", t.ne},
                       {"shape", t.shape()},
                       {"offset", t.offset},
                       {"bytes", t.size_bytes}});
  const Totals tot = totals_of(f);
  nlohmann::json j{{"file", f.path()},
                   {"format", "gguf"},
                   {"version", f.version()},
                   {"file_bytes", f.file_bytes()},
                   {"alignment", f.alignment()},
                   {"data_offset", f.data_offset()},
                   {"metadata", metadata},
                   {"tensors", tensors},
                   {"totals",
                    {{"tensors", f.tensors().size()},
                     {"weights", tot.weights},
                     {"bytes", tot.bytes},
                     {"bits_per_weight", tot.weights > 0 ? 8.0 * static_cast<double>(tot.bytes) / tot.weights : 0.0},
                     {"by_type", tot.by_type}}}};
  return j;
}

void print_text(const io::GgufFile& f) {
  fmt::print("file       {} (GGUF v{}, {} bytes, alignment {}, tensor data at offset {})\n", f.path(), f.version(),
             f.file_bytes(), f.alignment(), f.data_offset());
  fmt::print("metadata   {} keys\n", f.metadata().size());
  size_t key_width = 24, type_width = 4;
  for (const auto& [key, v] : f.metadata()) {
    key_width = std::max(key_width, std::min<size_t>(key.size(), 48));
    type_width = std::max(type_width, v.type_string().size());
  }
  for (const auto& [key, v] : f.metadata())
    fmt::print("  {:<{}} {:<{}} {}\n", key, key_width, v.type_string(), type_width, v.text(kTextItems));
  fmt::print("tensors    {}\n", f.tensors().size());
  size_t name_width = 24;
  for (const auto& t : f.tensors()) name_width = std::max(name_width, std::min<size_t>(t.name.size(), 48));
  if (!f.tensors().empty()) fmt::print("  {:<{}} {:<7} {:<22} {:>14}\n", "name", name_width, "type", "shape", "bytes");
  for (const auto& t : f.tensors())
    fmt::print("  {:<{}} {:<7} {:<22} {:>14}\n", t.name, name_width, formats::ggml_type_name(t.type_id),
               shape_text(t.shape()), t.size_bytes);
  const Totals tot = totals_of(f);
  std::string by_type;
  for (const auto& [type, n] : tot.by_type) by_type += fmt::format("{}{}: {}", by_type.empty() ? "" : ", ", type, n);
  fmt::print("total      {} tensors, {} weights, {} bytes ({:.3f} bits/weight){}{}\n", f.tensors().size(), tot.weights,
             tot.bytes, tot.weights > 0 ? 8.0 * static_cast<double>(tot.bytes) / tot.weights : 0.0,
             by_type.empty() ? "" : "; ", by_type);
  fmt::print("shapes are in PyTorch order (GGUF's ne reversed)\n");
}

}  // namespace

void print_gguf_info(const std::string& path) { print_text(io::GgufFile::open(path)); }

nlohmann::json gguf_info_json(const std::string& path) { return summary_json(io::GgufFile::open(path)); }

}  // namespace pare::cli
