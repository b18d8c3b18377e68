// `pare info` of a Llama package: the package is opened and checked as `pare ppl` opens it, the listing
// comes from its header, and each quantized weight is read once for its grid and storage (pages dropped after).
#include "pare/cli/llama_info.h"

#include <fmt/format.h>

#include <algorithm>

#include "pare/io/package_format.h"
#include "pare/llm/llama_package.h"
#include "pare/llm/model_size.h"
#include "pare/llm/sentencepiece_model.h"

namespace pare::cli {

namespace {

// The dtype names `pare run` and the ONNX summary use.
std::string dtype_name(const std::string& stored) {
  return stored == "F16" ? "float16" : stored == "F32" ? "float32" : stored;
}

nlohmann::json tokenizer_json(const std::string& path) {
  const std::optional<std::string> bytes = llm::llama_package_tokenizer(path);
  if (!bytes) return nullptr;
  const llm::SentencePieceModel m = llm::parse_sentencepiece_model(*bytes, path + " (stored tokenizer)");
  return {{"format", "sentencepiece"},
          {"model_type", m.model_type},
          {"pieces", m.vocab.size()},
          {"byte_fallback", m.byte_fallback},
          {"normalizer", m.normalizer.empty() ? "identity" : m.normalizer},
          {"normalization", llm::normalization_steps(m)},
          {"bytes", bytes->size()}};
}

// Every weight the package keeps in float, and every quantized one with its grid and bits.
void list_tensors(const llm::LlamaModel& m, const nlohmann::json& header, nlohmann::json& j) {
  nlohmann::json floats = nlohmann::json::array(), quantized = nlohmann::json::array();
  for (const auto& t : llm::llama_tensors(m.config)) {
    if (header.at("tensors").contains(t.name)) {
      const nlohmann::json& e = header.at("tensors").at(t.name);
      floats.push_back(
          {{"name", t.name}, {"dtype", dtype_name(e.at("dtype").get<std::string>())}, {"shape", e.at("shape")}});
      continue;
    }
    const std::optional<formats::QuantizedWeight> q = m.quantized(t.name);
    if (!q) continue;
    quantized.push_back({{"name", t.name},
                         {"shape", q->main.shape},
                         {"grid", q->main.grid.str()},
                         {"bits", q->main.grid.bits},
                         {"granularity", q->main.granularity.str()},
                         {"terms", 1 + q->terms.size()},
                         {"bits_per_weight", q->bits_per_weight()}});
    if (m.release) m.release(t.name);
  }
  j["float_tensors"] = floats;
  j["quantized"] = quantized;
}

std::string shape_text(const nlohmann::json& shape) {
  std::string s;
  for (const auto& d : shape) s += (s.empty() ? "" : ", ") + std::to_string(d.get<int64_t>());
  return "[" + s + "]";
}

}  // namespace

nlohmann::json llama_package_info_json(const std::string& path) {
  const llm::LlamaModel m = llm::load_llama_package(path);  // every check pare ppl makes, checksums included
  io::MappedFile file(path);
  io::PackageReader r;
  r.data = file.data;
  r.size = file.size;
  r.context = path;
  r.open();
  const nlohmann::json& h = r.header;
  nlohmann::json j{{"file", path},
                   {"format", "pare"},
                   {"model", "llama"},
                   {"version", h.value("version", 0)},
                   {"producer", h.value("producer", "")},
                   {"file_bytes", file.size},
                   {"config", m.config.to_json()},
                   {"parameters", m.config.parameter_count()},
                   {"size", llm::model_size(path, m.config).to_json()},
                   {"tokenizer", tokenizer_json(path)},
                   {"metadata", h.value("metadata", nlohmann::json::object())}};
  list_tensors(m, h, j);
  return j;
}

std::string llama_package_info_text(const nlohmann::json& j) {
  const nlohmann::json& c = j.at("config");
  const nlohmann::json& s = j.at("size");
  std::string t =
      fmt::format("package    {} (.pare version {}, {}), {} bytes\n", j.at("file").get<std::string>(),
                  j.at("version").get<int>(), j.at("producer").get<std::string>(), j.at("file_bytes").get<uint64_t>());
  t += fmt::format(
      "model      Llama: {} layers, hidden {}, intermediate {}, {} heads ({} key/value), vocab {}, context {}; {} "
      "parameters\n",
      c.at("num_hidden_layers").get<int64_t>(), c.at("hidden_size").get<int64_t>(),
      c.at("intermediate_size").get<int64_t>(), c.at("num_attention_heads").get<int64_t>(),
      c.at("num_key_value_heads").get<int64_t>(), c.at("vocab_size").get<int64_t>(),
      c.at("max_position_embeddings").get<int64_t>(), j.at("parameters").get<int64_t>());
  t += fmt::format("size       {:.3f} bits/weight (block projections), {:.3f} bits/weight (whole file)\n",
                   s.at("linear_bits_per_weight").get<double>(), s.at("file_bits_per_weight").get<double>());
  const nlohmann::json& tok = j.at("tokenizer");
  if (tok.is_null())
    t += "tokenizer  none stored (pare ppl needs --tokenizer FILE or --tokens FILE.npy)\n";
  else
    t += fmt::format("tokenizer  stored: SentencePiece {}, {} pieces, normalizer {}\n",
                     tok.at("model_type").get<std::string>(), tok.at("pieces").get<int64_t>(),
                     tok.at("normalizer").get<std::string>());
  if (j.at("metadata").contains("recipe")) t += fmt::format("recipe     {}\n", j["metadata"]["recipe"].dump());
  size_t w = 24;
  for (const char* list : {"quantized", "float_tensors"})
    for (const auto& e : j.at(list)) w = std::max(w, e.at("name").get<std::string>().size());
  t += fmt::format("quantized  {} weights\n", j.at("quantized").size());
  for (const auto& q : j.at("quantized"))
    t += fmt::format("  {:<{}} {:<12} {:<16} {:<10} {:.3f} bits/weight\n", q.at("name").get<std::string>(), w,
                     shape_text(q.at("shape")), q.at("grid").get<std::string>(), q.at("granularity").get<std::string>(),
                     q.at("bits_per_weight").get<double>());
  t += fmt::format("float      {} tensors\n", j.at("float_tensors").size());
  for (const auto& f : j.at("float_tensors"))
    t += fmt::format("  {:<{}} {:<12} {}\n", f.at("name").get<std::string>(), w, shape_text(f.at("shape")),
                     f.at("dtype").get<std::string>());
  return t;
}

}  // namespace pare::cli
