#include "pare/llm/llama_package.h"

#include <cstring>
#include <map>
#include <memory>

#include "pare/error.h"
#include "pare/io/package_format.h"
#include "pare/io/page_release.h"
#include "pare/io/pare_package.h"
#include "pare/llm/model_loader.h"

namespace pare::llm {

namespace {

// The mapped file and its parsed header, shared by the model's weight source and release callbacks.
struct MappedPackage {
  io::MappedFile file;
  io::PackageReader reader;
  std::map<std::string, nlohmann::json> floats;     // name -> "tensors" entry
  std::map<std::string, nlohmann::json> quantized;  // name -> "quantized" entry

  explicit MappedPackage(const std::string& path) : file(path) {}
};

std::shared_ptr<MappedPackage> map_package(const std::string& path) {
  auto p = std::make_shared<MappedPackage>(path);
  p->reader.data = p->file.data;
  p->reader.size = p->file.size;
  p->reader.context = path;
  p->reader.open();
  return p;
}

// Lets go of the memory-mapped pages of blob `name`.
void release_range(const io::PackageReader& r, const nlohmann::json& name) {
  const auto [offset, bytes] = r.blob_range(name);
  io::release_pages(r.data + offset, bytes);
}

int64_t dtype_bytes(const std::string& dtype) { return dtype == "F16" ? 2 : dtype == "F32" ? 4 : 0; }

at::Tensor read_float(const MappedPackage& p, const std::string& name) {
  const nlohmann::json& e = p.floats.at(name);
  const auto [data, bytes] = p.reader.blob(e.at("data"));
  const at::ScalarType st = e.at("dtype").get<std::string>() == "F16" ? at::kHalf : at::kFloat;
  at::Tensor t = at::empty(p.reader.integers(e.at("shape"), "shape of '" + name + "'"), st);
  PARE_ASSERT(static_cast<size_t>(t.numel() * t.element_size()) == bytes, "unchecked float blob size");
  std::memcpy(t.data_ptr(), data, bytes);
  return t;
}

}  // namespace

bool is_llama_package(const std::string& path) {
  if (!io::is_package(path)) return false;
  try {
    auto p = map_package(path);
    return p->reader.header.contains("llama");
  } catch (const Error&) {
    return false;
  }
}

LlamaModel load_llama_package(const std::string& path) {
  std::shared_ptr<MappedPackage> p = map_package(path);
  io::PackageReader& r = p->reader;
  const nlohmann::json& h = r.header;
  LlamaModel m;
  m.source = path;
  m.format = "pare";
  try {
    if (!h.contains("llama"))
      r.fail("package holds no Llama", "pare ppl reads Llama packages written by pare quantize");
    m.config = LlamaConfig::from_json(h.at("llama"), path + " (header field 'llama')");
    for (const auto& [name, e] : h.at("tensors").items()) {
      const std::string dtype = e.at("dtype").get<std::string>();
      if (dtype_bytes(dtype) == 0) r.fail("tensor '" + name + "' has dtype '" + dtype + "' (F16 or F32 expected)");
      const int64_t n = io::package_numel(r.integers(e.at("shape"), "shape of '" + name + "'"));
      if (n < 0) r.fail("tensor '" + name + "' has a bad shape");
      if (static_cast<int64_t>(r.blob_range(e.at("data")).second) != n * dtype_bytes(dtype))
        r.fail("data of tensor '" + name + "' has the wrong size");
      p->floats[name] = e;
    }
    for (const auto& e : h.at("quantized")) {
      const std::string name = e.at("weight").get<std::string>();
      if (p->floats.count(name) || p->quantized.count(name)) r.fail("tensor '" + name + "' is stored twice");
      io::check_quantized_entry(e, r, name);
      p->quantized[name] = e;
    }
  } catch (const nlohmann::json::exception& ex) {
    r.fail(std::string("malformed package header: ") + ex.what());
  }
  check_llama_shapes(m.config, path, [&](const std::string& name) -> std::vector<int64_t> {
    if (p->floats.count(name)) return p->floats.at(name).at("shape").get<std::vector<int64_t>>();
    if (p->quantized.count(name)) return p->quantized.at(name).at("shape").get<std::vector<int64_t>>();
    return {};
  });
  // Every blob's checksum, before any layer runs: a damaged package fails now, not after an hour. Each
  // blob's pages are dropped once read, so this costs one pass over the file and no resident memory.
  if (r.verify)
    for (const auto& [name, b] : h.at("blobs").items()) {
      (void)b;
      r.blob(name);
      release_range(r, name);
    }
  m.weights = [p](const std::string& name) -> at::Tensor {
    if (p->floats.count(name)) return read_float(*p, name);
    if (p->quantized.count(name)) return io::read_quantized_entry(p->quantized.at(name), p->reader, name).dequantize();
    return {};
  };
  m.quantized = [p](const std::string& name) -> std::optional<formats::QuantizedWeight> {
    if (!p->quantized.count(name)) return std::nullopt;
    return io::read_quantized_entry(p->quantized.at(name), p->reader, name);
  };
  m.release = [p](const std::string& name) {
    std::vector<nlohmann::json> blobs;
    if (p->floats.count(name)) blobs.push_back(p->floats.at(name).at("data"));
    if (p->quantized.count(name))
      for (const char* k : {"codes", "scales", "zero_points"})
        if (p->quantized.at(name).at(k).is_string()) blobs.push_back(p->quantized.at(name).at(k));
    for (const auto& b : blobs) release_range(p->reader, b);
  };
  return m;
}

std::optional<std::string> llama_package_tokenizer(const std::string& path) {
  std::shared_ptr<MappedPackage> p = map_package(path);
  const nlohmann::json& h = p->reader.header;
  if (!h.contains("tokenizer") || h.at("tokenizer").is_null()) return std::nullopt;
  const auto [data, bytes] = p->reader.blob(h.at("tokenizer"));
  return std::string(reinterpret_cast<const char*>(data), bytes);
}

}  // namespace pare::llm
