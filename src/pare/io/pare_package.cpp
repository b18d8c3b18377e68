#include "pare/io/pare_package.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "pare/error.h"
#include "pare/io/atomic_file.h"
#include "pare/io/onnx_export.h"
#include "pare/io/onnx_import.h"
#include "pare/io/package_format.h"

namespace pare::io {

void save_package(const std::string& path, const ir::Graph& graph, const std::vector<PackageWeight>& weights,
                  const nlohmann::json& metadata, const std::vector<std::string>& protected_inputs) {
  refuse_overwrite(path, protected_inputs);
  std::vector<std::pair<std::string, std::string>> blobs;  // name, bytes
  nlohmann::json quantized = nlohmann::json::array();
  std::set<std::string> quantized_nodes;
  for (const auto& l : weights) quantized_nodes.insert(l.node);

  ir::Graph stored = graph.clone();
  std::map<std::string, std::pair<at::Tensor, nlohmann::json>> written;  // weight -> codes, entry
  for (size_t i = 0; i < weights.size(); ++i) {
    const PackageWeight& l = weights[i];
    // A weight that several quantized nodes read with the same codes (PIPE members) is stored once.
    auto same = written.find(l.weight);
    nlohmann::json e = same != written.end() && same->second.first.is_same(l.q.main.codes)
                           ? same->second.second
                           : quantized_entry(l.q, "q" + std::to_string(i), blobs);
    written[l.weight] = {l.q.main.codes, e};
    e["node"] = l.node;
    e["weight"] = l.weight;
    e["weight_input"] = l.weight_input;
    quantized.push_back(e);
    // The float weight is left out when only quantized layers read it (a scalar placeholder keeps the
    // ONNX graph well formed); it stays when a float layer reads it too.
    bool only_quantized = !stored.is_output(l.weight);
    for (auto id : stored.consumers(l.weight)) only_quantized &= quantized_nodes.count(stored.nodes[id].name) > 0;
    if (only_quantized) stored.initializers[l.weight] = at::zeros({}, at::kFloat);
  }
  std::string onnx_bytes;
  if (!graph_to_model(stored).SerializeToString(&onnx_bytes))
    throw Error("cannot serialize the model graph").file(path);
  std::vector<BlobSource> sources;
  sources.push_back(memory_blob("graph", std::move(onnx_bytes)));
  for (auto& [name, bytes] : blobs) sources.push_back(memory_blob(name, std::move(bytes)));
  nlohmann::json header{
      {"format", "pare"},     {"version", kPackageVersion}, {"producer", std::string("pare ") + PARE_VERSION},
      {"metadata", metadata}, {"graph", "graph"},           {"quantized", quantized}};
  write_package(path, std::move(header), sources, protected_inputs);
}

Package package_from_bytes(const uint8_t* data, size_t size, const std::string& context, bool verify_checksums) {
  PackageReader r{data, size, context, verify_checksums, {}};
  r.open();
  Package pkg;
  pkg.file_bytes = static_cast<int64_t>(size);
  try {
    if (!r.header.contains("graph"))
      r.fail("package holds no graph", r.header.contains("llama")
                                           ? "it is a quantized Llama: use pare ppl (or pare export) on it"
                                           : "write it again with pare quantize");
    auto [gp, gn] = r.blob(r.header.at("graph"));
    // A package is self-contained: pare writes every tensor inline. External-data references are looked
    // up in a folder that does not exist, so a crafted package cannot make pare read other files.
    pkg.graph = load_onnx_from_bytes(std::string(reinterpret_cast<const char*>(gp), gn),
                                     "/nonexistent-pare-package-external-data", context);
    for (const auto& e : r.header.at("quantized")) {
      PackageWeight l;
      l.node = e.at("node").get<std::string>();
      l.weight = e.at("weight").get<std::string>();
      l.weight_input = static_cast<int>(r.integer(e.at("weight_input"), "weight_input of '" + l.node + "'"));
      auto id = pkg.graph.find_node(l.node);
      if (!id) r.fail("quantized layer '" + l.node + "' is not in the package's graph");
      const ir::Node& node = pkg.graph.nodes[*id];
      if (l.weight_input < 0 || l.weight_input >= static_cast<int>(node.inputs.size()) ||
          node.inputs[l.weight_input] != l.weight || !pkg.graph.is_initializer(l.weight))
        r.fail("quantized weight '" + l.weight + "' is not an initializer input of node '" + l.node + "'");
      l.op_type = node.op_type;
      l.q = read_quantized_entry(e, r, l.weight);
      pkg.weights.push_back(std::move(l));
    }
  } catch (const nlohmann::json::exception& ex) {
    r.fail(std::string("malformed package header: ") + ex.what());
  }
  for (const PackageWeight& l : pkg.weights) {
    const at::ScalarType dtype = pkg.graph.initializers.at(l.weight).scalar_type();
    pkg.graph.initializers[pkg.graph.own_initializer(l.node, l.weight_input)] = l.q.dequantize().to(dtype);
  }
  pkg.header = std::move(r.header);
  return pkg;
}

Package load_package(const std::string& path) {
  const MappedFile file(path);
  return package_from_bytes(file.data, file.size, path);
}

bool is_package(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  return in.read(magic, 8) && std::memcmp(magic, kPackageMagic, 8) == 0;
}

ir::Graph load_model(const std::string& path) {
  if (is_package(path)) return load_package(path).graph;
  return load_onnx(path);
}

}  // namespace pare::io
