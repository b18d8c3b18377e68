// `pare info` on safetensors: a table of the tensors and totals, from the headers alone (a 7B model lists in
// milliseconds and reads no weights).
#include "pare/report/safetensors_summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "pare/io/safetensors_header.h"
#include "pare/ir/dtype.h"
#include "pare/ir/graph.h"
#include "pare/report/model_summary.h"

namespace pare::report {
namespace {

struct Totals {
  int64_t tensors = 0, parameters = 0, bytes = 0;
  void add(const io::SafetensorsEntry& e) {
    int64_t n = 1;
    for (int64_t d : e.shape) n *= d;  // bounded by the reader (the bytes fit in the file)
    ++tensors;
    parameters += n;
    bytes += static_cast<int64_t>(e.end - e.begin);
  }
};

std::string file_name(const std::string& path) { return std::filesystem::path(path).filename().string(); }

// The element type by the names `pare run` and the ONNX summary use ("float16" for F16), so that one model's
// dtypes read the same in every command; the file's own spelling stays in the JSON as "stored_dtype".
std::string dtype_name(const std::string& stored) {
  const io::SafetensorsDType* d = io::find_safetensors_dtype(stored);
  if (d && d->type != at::ScalarType::Undefined) return ir::dtype_name(ir::from_scalar_type(d->type));
  static const std::map<std::string, std::string> others{{"U16", "uint16"},         {"U32", "uint32"},
                                                         {"U64", "uint64"},         {"F8_E4M3", "float8e4m3fn"},
                                                         {"F8_E5M2", "float8e5m2"}, {"F8_E8M0", "float8e8m0fnu"},
                                                         {"C64", "complex64"}};
  const auto it = others.find(stored);
  return it == others.end() ? stored : it->second;
}

}  // namespace

nlohmann::json safetensors_summary_json(const io::SafetensorsModel& m) {
  const bool sharded = m.files().size() > 1;
  nlohmann::json tensors = nlohmann::json::array();
  Totals all;
  std::map<std::string, Totals> by_dtype;
  for (const auto& name : m.names()) {
    const io::SafetensorsEntry& e = m.entry(name);
    nlohmann::json t{{"name", name},
                     {"dtype", dtype_name(e.dtype)},
                     {"stored_dtype", e.dtype},
                     {"shape", e.shape},
                     {"bytes", e.end - e.begin}};
    if (sharded) t["file"] = file_name(e.file);
    tensors.push_back(std::move(t));
    all.add(e);
    by_dtype[dtype_name(e.dtype)].add(e);
  }
  nlohmann::json dtypes = nlohmann::json::object();
  for (const auto& [dtype, t] : by_dtype)
    dtypes[dtype] = {{"tensors", t.tensors}, {"parameters", t.parameters}, {"bytes", t.bytes}};
  return {{"path", m.path()},
          {"format", "safetensors"},
          {"files", m.files()},
          {"metadata", m.metadata()},
          {"tensors", tensors},
          {"totals",
           {{"tensors", all.tensors}, {"parameters", all.parameters}, {"bytes", all.bytes}, {"by_dtype", dtypes}}}};
}

std::string safetensors_summary_text(const io::SafetensorsModel& m) {
  const std::vector<std::string> files = m.files();
  const bool sharded = files.size() > 1;
  std::string s = fmt::format("safetensors {}\n", m.path());
  if (sharded) {
    s += fmt::format("files       {}\n", files.size());
    for (const auto& f : files) s += fmt::format("  {}\n", file_name(f));
  }
  std::string meta;
  for (const auto& [key, value] : m.metadata().items())
    meta += (meta.empty() ? "" : ", ") + key + "=" + value.get<std::string>();
  if (!meta.empty()) s += fmt::format("metadata    {}\n", meta);

  Totals all;
  std::map<std::string, Totals> by_dtype;
  size_t width = 4;
  for (const auto& name : m.names()) {
    all.add(m.entry(name));
    by_dtype[dtype_name(m.entry(name).dtype)].add(m.entry(name));
    width = std::max(width, std::min<size_t>(name.size(), 64));
  }
  s += fmt::format("tensors     {} ({} parameters, {})\n", all.tensors, all.parameters, format_bytes(all.bytes));
  for (const auto& [dtype, t] : by_dtype)
    s += fmt::format("  {:<9} {:>6} tensor{} {:>14} parameters {:>10}\n", dtype, t.tensors, t.tensors == 1 ? " " : "s",
                     t.parameters, format_bytes(t.bytes));
  s +=
      fmt::format("{:<{}}  {:<9} {:<22} {:>12}{}\n", "name", width, "dtype", "shape", "bytes", sharded ? "  file" : "");
  for (const auto& name : m.names()) {
    const io::SafetensorsEntry& e = m.entry(name);
    s += fmt::format("{:<{}}  {:<9} {:<22} {:>12}{}\n", name, width, dtype_name(e.dtype), ir::shape_string(e.shape),
                     e.end - e.begin, sharded ? "  " + file_name(e.file) : "");
  }
  return s;
}

}  // namespace pare::report
