// Model summary used by `pare info`: what a user checks first about a model they were handed.
#include "pare/report/model_summary.h"

#include <fmt/format.h>

#include <map>

#include "pare/exec/executor.h"

namespace pare::report {

std::string format_bytes(int64_t bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000.0 && u < 4) {
    v /= 1000.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

static std::map<std::string, int> op_histogram(const ir::Graph& g) {
  std::map<std::string, int> h;
  for (const auto& n : g.nodes) h[(n.domain.empty() ? "" : n.domain + ".") + n.op_type]++;
  return h;
}

// A declared shape as an array: a known size is a number, a symbol ("N") a string, an unknown one null; an
// unknown rank is null.
static nlohmann::json shape_json(const std::optional<std::vector<ir::Dim>>& shape) {
  if (!shape) return nullptr;
  nlohmann::json a = nlohmann::json::array();
  for (const ir::Dim& d : *shape) {
    if (d.known())
      a.push_back(d.value);
    else if (!d.param.empty())
      a.push_back(d.param);
    else
      a.push_back(nullptr);
  }
  return a;
}

nlohmann::json model_summary_json(const ir::Graph& g, const std::string& path) {
  nlohmann::json j;
  j["file"] = path;
  j["graph"] = g.name;
  j["producer"] = g.producer_name + (g.producer_version.empty() ? "" : " " + g.producer_version);
  j["opset"] = g.opset("");
  auto values = [](const std::vector<ir::ValueInfo>& list) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& v : list)
      a.push_back({{"name", v.name}, {"dtype", ir::dtype_name(v.dtype)}, {"shape", shape_json(v.shape)}});
    return a;
  };
  j["inputs"] = values(g.inputs);
  j["outputs"] = values(g.outputs);
  j["nodes"] = g.nodes.size();
  j["ops"] = op_histogram(g);
  j["parameters"] = g.parameter_count();
  j["parameter_bytes"] = g.parameter_bytes();
  j["initializers"] = g.initializers.size();
  j["unsupported_ops"] = exec::unsupported_ops(g);
  return j;
}

std::string model_summary_text(const ir::Graph& g, const std::string& path) {
  std::string s;
  s += fmt::format("model      {}\n", path);
  s += fmt::format("graph      {} (opset {}, producer {})\n", g.name.empty() ? "-" : g.name, g.opset(""),
                   g.producer_name.empty() ? "-" : g.producer_name);
  for (const auto& v : g.inputs)
    s += fmt::format("input      {:<24} {:<8} {}\n", v.name, ir::dtype_name(v.dtype), ir::shape_string(v.shape));
  for (const auto& v : g.outputs)
    s += fmt::format("output     {:<24} {:<8} {}\n", v.name, ir::dtype_name(v.dtype), ir::shape_string(v.shape));
  s += fmt::format("parameters {} ({} in {} initializers)\n", g.parameter_count(), format_bytes(g.parameter_bytes()),
                   g.initializers.size());
  s += fmt::format("nodes      {}\n", g.nodes.size());
  auto hist = op_histogram(g);
  std::vector<std::pair<int, std::string>> sorted;
  for (const auto& kv : hist) sorted.emplace_back(-kv.second, kv.first);
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [neg, op] : sorted) s += fmt::format("  {:<28} {:>5}\n", op, -neg);
  auto missing = exec::unsupported_ops(g);
  if (missing.empty()) {
    s += "unsupported ops: none (pare can run this model)\n";
  } else {
    s += fmt::format("unsupported ops: {} (pare cannot run this model yet)\n", missing.size());
    for (const auto& m : missing) s += "  " + m + "\n";
  }
  return s;
}

}  // namespace pare::report
