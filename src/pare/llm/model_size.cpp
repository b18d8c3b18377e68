#include "pare/llm/model_size.h"

#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "pare/error.h"
#include "pare/io/gguf.h"
#include "pare/io/pare_package.h"
#include "pare/io/safetensors.h"
#include "pare/llm/gguf_llama.h"
#include "pare/llm/llama_graph.h"

namespace pare::llm {
namespace fs = std::filesystem;

namespace {

bool is_projection(const LlamaTensor& t) {
  return t.layer >= 0 && t.name.size() > 12 && t.name.compare(t.name.size() - 12, 12, "_proj.weight") == 0;
}

// The header of a .pare package (prefix, then JSON), without mapping its blobs.
nlohmann::json package_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char prefix[24];
  if (!in.read(prefix, 24)) throw Error("cannot read the package header").file(path);
  uint64_t n = 0;
  std::memcpy(&n, prefix + 16, 8);
  std::string text(n, '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(n))) throw Error("cannot read the package header").file(path);
  return nlohmann::json::parse(text);
}

}  // namespace

nlohmann::json ModelSize::to_json() const {
  return {{"params", params},
          {"linear_params", linear_params},
          {"linear_bits_per_weight", linear_bits_per_weight()},
          {"file_bytes", file_bytes},
          {"file_bits_per_weight", file_bits_per_weight()}};
}

std::string ModelSize::str() const {
  return fmt::format("{:.3f} bits/weight (block projections), {:.3f} bits/weight (whole file, {:.2f} MB)",
                     linear_bits_per_weight(), file_bits_per_weight(), static_cast<double>(file_bytes) / 1e6);
}

ModelSize model_size(const std::string& path, const LlamaConfig& c) {
  ModelSize s;
  std::set<std::string> projections;
  for (const auto& t : llama_tensors(c)) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    s.params += n;
    if (is_projection(t)) {
      s.linear_params += n;
      projections.insert(t.name);
    }
  }
  if (fs::is_directory(path)) {
    const io::SafetensorsModel st = io::SafetensorsModel::open(path);
    std::set<std::string> files;
    for (const auto& name : st.names()) {
      const io::SafetensorsEntry& e = st.entry(name);
      files.insert(e.file);
      if (projections.count(name)) s.linear_bits += 8.0 * static_cast<double>(e.end - e.begin);
    }
    for (const auto& f : files) s.file_bytes += static_cast<int64_t>(fs::file_size(f));
  } else if (io::is_gguf(path)) {
    const io::GgufFile g = io::GgufFile::open(path);
    for (const auto& name : projections)
      s.linear_bits += 8.0 * static_cast<double>(g.tensor_info(gguf_tensor_name(name)).size_bytes);
    s.file_bytes = static_cast<int64_t>(g.file_bytes());
  } else {
    const nlohmann::json h = package_header(path);
    const auto& blobs = h.at("blobs");
    auto blob_bits = [&](const nlohmann::json& name) {
      return name.is_string() ? 8.0 * blobs.at(name.get<std::string>()).at("bytes").get<double>() : 0.0;
    };
    for (const auto& e : h.at("quantized")) {
      if (!projections.count(e.at("weight").get<std::string>())) continue;
      s.linear_bits += blob_bits(e.at("codes")) + blob_bits(e.at("scales")) + blob_bits(e.at("zero_points"));
      if (e.at("grid").contains("table")) s.linear_bits += blob_bits(e.at("grid").at("table"));
    }
    for (const auto& [name, e] : h.at("tensors").items())
      if (projections.count(name)) s.linear_bits += blob_bits(e.at("data"));
    s.file_bytes = static_cast<int64_t>(fs::file_size(path));
  }
  return s;
}

}  // namespace pare::llm
