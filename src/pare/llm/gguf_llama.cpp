#include "pare/llm/gguf_llama.h"

#include <map>

#include <fmt/format.h>

#include <memory>
#include <regex>

#include "pare/error.h"
#include "pare/formats/ggml_blocks.h"
#include "pare/io/gguf.h"
#include "pare/llm/model_loader.h"

namespace pare::llm {

std::string gguf_tensor_name(const std::string& hf) {
  if (hf == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf == "model.norm.weight") return "output_norm.weight";
  if (hf == "lm_head.weight") return "output.weight";
  static const std::regex layer(R"(model\.layers\.(\d+)\.(.+)\.weight)");
  static const std::map<std::string, std::string> parts = {
      {"input_layernorm", "attn_norm"}, {"self_attn.q_proj", "attn_q"},      {"self_attn.k_proj", "attn_k"},
      {"self_attn.v_proj", "attn_v"},   {"self_attn.o_proj", "attn_output"}, {"post_attention_layernorm", "ffn_norm"},
      {"mlp.gate_proj", "ffn_gate"},    {"mlp.up_proj", "ffn_up"},           {"mlp.down_proj", "ffn_down"}};
  std::smatch m;
  if (std::regex_match(hf, m, layer))
    if (auto it = parts.find(m[2].str()); it != parts.end())
      return fmt::format("blk.{}.{}.weight", m[1].str(), it->second);
  throw Error("no GGUF name for this tensor").tensor(hf);
}

// Within each head, HF rows are ordered (half, i) for i < head_dim/2 and GGUF rows (i, half): the pair a
// rotation mixes, (i, i + head_dim/2) in HF, becomes the adjacent rows (2i, 2i + 1).
at::Tensor hf_to_gguf_rows(const at::Tensor& w, int64_t heads) {
  const int64_t rows = w.size(0);
  return w.reshape({heads, 2, rows / heads / 2, -1}).transpose(1, 2).reshape(w.sizes()).contiguous();
}

at::Tensor gguf_to_hf_rows(const at::Tensor& w, int64_t heads) {
  const int64_t rows = w.size(0);
  return w.reshape({heads, rows / heads / 2, 2, -1}).transpose(1, 2).reshape(w.sizes()).contiguous();
}

namespace {

bool is_query(const std::string& hf) { return hf.find("self_attn.q_proj") != std::string::npos; }
bool is_key(const std::string& hf) { return hf.find("self_attn.k_proj") != std::string::npos; }

// A weight the model stores quantized on a grid `type`'s blocks hold exactly: added with its own codes (rows of
// q and k reordered as for float weights, scales with them) and true. Otherwise false, and a stored
// quantized weight is listed in report.rounded with the reason.
bool add_kept_codes(io::GgufWriter& w, const LlamaModel& m, const LlamaTensor& t, formats::GgmlType type,
                    GgufExport& report) {
  if (!m.quantized || t.shape.size() != 2) return false;
  const std::optional<formats::QuantizedWeight> q = m.quantized(t.name);
  if (!q) return false;
  std::string why;
  if (!formats::ggml_exact(*q, type, &why)) {
    report.rounded.push_back(t.name + ": " + why);
    return false;
  }
  const int64_t heads = is_query(t.name) ? m.config.num_heads : is_key(t.name) ? m.config.num_kv_heads : 0;
  w.add_raw_deferred(gguf_tensor_name(t.name), t.shape, type, [&m, t, type, heads]() {
    formats::QuantizedTensor x = m.quantized(t.name)->main;
    if (heads > 0) {
      x.codes = hf_to_gguf_rows(x.codes, heads);
      x.scales = hf_to_gguf_rows(x.scales, heads);
    }
    return formats::to_ggml_blocks(x, type);
  });
  ++report.kept_codes;
  return true;
}

int64_t gguf_int(const io::GgufFile& f, const std::string& key, bool required, int64_t fallback) {
  if (!f.find(key)) {
    if (required)
      throw Error("GGUF key missing").file(f.path()).tensor(key).hint("a llama.cpp Llama GGUF file sets it");
    return fallback;
  }
  return static_cast<int64_t>(f.get_uint(key));
}

}  // namespace

Vocab read_gguf_vocab(const std::string& path) {
  io::GgufFile f = io::GgufFile::open(path);
  if (!f.find("tokenizer.ggml.tokens"))
    throw Error("the GGUF file has no tokenizer").file(path).hint("give --tokenizer tokenizer.model");
  const std::string model = f.find("tokenizer.ggml.model") ? f.get_string("tokenizer.ggml.model") : "";
  if (model != "llama")
    throw Error("unsupported GGUF tokenizer")
        .file(path)
        .tensor("tokenizer.ggml.model")
        .expected("\"llama\" (SentencePiece)")
        .got("\"" + model + "\"");
  const std::vector<std::string> pieces = f.get_strings("tokenizer.ggml.tokens");
  const std::vector<float> scores = f.find("tokenizer.ggml.scores") ? f.get_array<float>("tokenizer.ggml.scores")
                                                                    : std::vector<float>(pieces.size(), 0.0f);
  const std::vector<int32_t> types = f.find("tokenizer.ggml.token_type")
                                         ? f.get_array<int32_t>("tokenizer.ggml.token_type")
                                         : std::vector<int32_t>(pieces.size(), 1);
  if (scores.size() != pieces.size() || types.size() != pieces.size())
    throw Error("tokenizer arrays of different lengths")
        .file(path)
        .got(fmt::format("{} tokens, {} scores, {} token types", pieces.size(), scores.size(), types.size()));
  Vocab v;
  v.pieces.resize(pieces.size());
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (types[i] < 1 || types[i] > 6)
      throw Error("unknown token type")
          .file(path)
          .tensor("tokenizer.ggml.token_type")
          .expected("1 to 6")
          .got(fmt::format("{} for token {}", types[i], i));
    v.pieces[i] = {pieces[i], scores[i], static_cast<PieceType>(types[i])};
  }
  // llama.cpp's name for SentencePiece's add_dummy_prefix (absent: true, as for Llama).
  if (f.find("tokenizer.ggml.add_space_prefix")) v.add_dummy_prefix = f.get_bool("tokenizer.ggml.add_space_prefix");
  v.bos_id = static_cast<int32_t>(gguf_int(f, "tokenizer.ggml.bos_token_id", false, 1));
  v.eos_id = static_cast<int32_t>(gguf_int(f, "tokenizer.ggml.eos_token_id", false, 2));
  v.unk_id = static_cast<int32_t>(gguf_int(f, "tokenizer.ggml.unknown_token_id", false, 0));
  for (auto [key, id] : {std::pair<const char*, int32_t>{"bos", v.bos_id}, {"eos", v.eos_id}, {"unknown", v.unk_id}})
    if (id < 0 || id >= v.size())
      throw Error(fmt::format("tokenizer {} token id outside the vocabulary", key))
          .file(path)
          .expected(fmt::format("0 to {}", v.size() - 1))
          .got(std::to_string(id));
  return v;
}

LlamaModel load_llama_gguf(const std::string& path) {
  auto f = std::make_shared<io::GgufFile>(io::GgufFile::open(path));
  const std::string arch = f->find("general.architecture") ? f->get_string("general.architecture") : "";
  if (arch != "llama")
    throw Error("not a Llama GGUF file")
        .file(path)
        .tensor("general.architecture")
        .expected("\"llama\"")
        .got("\"" + arch + "\"");
  LlamaConfig c;
  c.hidden_size = gguf_int(*f, "llama.embedding_length", true, 0);
  c.num_layers = gguf_int(*f, "llama.block_count", true, 0);
  c.intermediate_size = gguf_int(*f, "llama.feed_forward_length", true, 0);
  c.num_heads = gguf_int(*f, "llama.attention.head_count", true, 0);
  c.num_kv_heads = gguf_int(*f, "llama.attention.head_count_kv", false, c.num_heads);
  c.head_dim = gguf_int(*f, "llama.attention.key_length", false, c.num_heads ? c.hidden_size / c.num_heads : 0);
  c.max_position_embeddings = gguf_int(*f, "llama.context_length", false, 2048);
  // GGUF stores these as f32: take the shortest decimal that rounds to the same float (1e-5, not
  // 9.9999997e-06), which is what the config a model was converted from said.
  const auto f32_value = [&](const char* key, double fallback) {
    return f->find(key) ? std::stod(fmt::format("{}", f->get_f32(key))) : fallback;
  };
  c.rms_norm_eps = f32_value("llama.attention.layer_norm_rms_epsilon", 1e-5);
  c.rope_theta = f32_value("llama.rope.freq_base", 10000.0);
  const io::GgufTensorInfo& embed = f->tensor_info("token_embd.weight");
  c.vocab_size = embed.ne.size() == 2 ? embed.ne[1] : 0;
  c.tie_word_embeddings = f->find_tensor("output.weight") == nullptr;
  c.bos_token_id = gguf_int(*f, "tokenizer.ggml.bos_token_id", false, 1);
  c.eos_token_id = gguf_int(*f, "tokenizer.ggml.eos_token_id", false, 2);
  c.torch_dtype = "float32";
  c.validate(path);
  check_llama_shapes(c, path, [&](const std::string& hf) {
    const io::GgufTensorInfo* t = f->find_tensor(gguf_tensor_name(hf));
    return t ? t->shape() : std::vector<int64_t>{};
  });
  for (const auto& t : llama_tensors(c)) {
    const io::GgufTensorInfo& info = f->tensor_info(gguf_tensor_name(t.name));
    const formats::GgmlTypeTraits* tr = formats::ggml_type_traits(info.type_id);
    if (!tr || !tr->dequantize)
      throw Error("pare cannot decode this GGUF tensor type")
          .file(path)
          .tensor(info.name)
          .expected(formats::ggml_decodable_types())
          .got(formats::ggml_type_name(info.type_id));
  }
  LlamaModel m;
  m.config = c;
  m.source = path;
  m.format = "gguf";
  m.weights = [f, c](const std::string& hf) -> at::Tensor {
    const io::GgufTensorInfo* info = f->find_tensor(gguf_tensor_name(hf));
    if (!info) return {};
    at::Tensor w = f->tensor_f32(info->name);
    if (is_query(hf)) return gguf_to_hf_rows(w, c.num_heads);
    if (is_key(hf)) return gguf_to_hf_rows(w, c.num_kv_heads);
    return w;
  };
  return m;
}

GgufExport export_llama_gguf(const LlamaModel& m, const Vocab& vocab, formats::GgmlType type, const std::string& path,
                             const std::string& name, const std::vector<std::string>& protected_inputs,
                             const std::function<void(int64_t, int64_t)>& progress) {
  const LlamaConfig& c = m.config;
  if (type != formats::GgmlType::F16 && type != formats::GgmlType::Q8_0 && type != formats::GgmlType::Q4_0 &&
      type != formats::GgmlType::F32)
    throw Error("unsupported GGUF export type")
        .expected("f32, f16, q8_0 or q4_0")
        .got(formats::ggml_type_name(uint32_t(type)));
  if (vocab.size() != c.vocab_size)
    throw Error("the tokenizer does not match the model")
        .file(m.source)
        .expected(fmt::format("{} tokens (config vocab_size)", c.vocab_size))
        .got(fmt::format("{} tokens", vocab.pieces.size()));
  io::GgufWriter w;
  w.set("general.architecture", "llama");
  w.set("general.name", name);
  // llama_ftype: 0 all F32, 1 mostly F16, 2 mostly Q4_0, 7 mostly Q8_0 (llama.h).
  const uint32_t ftype = type == formats::GgmlType::F32    ? 0
                         : type == formats::GgmlType::F16  ? 1
                         : type == formats::GgmlType::Q4_0 ? 2
                                                           : 7;
  w.set("general.file_type", ftype);
  w.set("llama.vocab_size", static_cast<uint32_t>(c.vocab_size));
  w.set("llama.context_length", static_cast<uint32_t>(c.max_position_embeddings));
  w.set("llama.embedding_length", static_cast<uint32_t>(c.hidden_size));
  w.set("llama.block_count", static_cast<uint32_t>(c.num_layers));
  w.set("llama.feed_forward_length", static_cast<uint32_t>(c.intermediate_size));
  w.set("llama.rope.dimension_count", static_cast<uint32_t>(c.head_dim));
  w.set("llama.attention.head_count", static_cast<uint32_t>(c.num_heads));
  w.set("llama.attention.head_count_kv", static_cast<uint32_t>(c.num_kv_heads));
  if (c.head_dim * c.num_heads != c.hidden_size) {
    w.set("llama.attention.key_length", static_cast<uint32_t>(c.head_dim));
    w.set("llama.attention.value_length", static_cast<uint32_t>(c.head_dim));
  }
  w.set("llama.attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_norm_eps));
  w.set("llama.rope.freq_base", static_cast<float>(c.rope_theta));
  w.set("tokenizer.ggml.model", "llama");
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (const Piece& p : vocab.pieces) {
    pieces.push_back(p.text);
    scores.push_back(p.score);
    types.push_back(static_cast<int32_t>(p.type));
  }
  w.set("tokenizer.ggml.tokens", io::GgufValue::array(std::move(pieces)));
  w.set("tokenizer.ggml.scores", io::GgufValue::array(scores));
  w.set("tokenizer.ggml.token_type", io::GgufValue::array(types));
  for (auto [key, id] :
       {std::pair<const char*, int32_t>{"bos", vocab.bos_id}, {"eos", vocab.eos_id}, {"unknown", vocab.unk_id}})
    if (id >= 0) w.set(fmt::format("tokenizer.ggml.{}_token_id", key), static_cast<uint32_t>(id));
  w.set("tokenizer.ggml.add_space_prefix", vocab.add_dummy_prefix);
  w.set("tokenizer.ggml.add_bos_token", true);
  w.set("tokenizer.ggml.add_eos_token", false);
  // Deferred: each tensor is fetched, converted and encoded while the file is written, so a model larger
  // than memory (memory-mapped weights) exports one tensor at a time.
  GgufExport report;
  const std::vector<LlamaTensor> tensors = llama_tensors(c);
  const int64_t total = static_cast<int64_t>(tensors.size());
  int64_t done = 0;  // tensors fetched so far: deferred ones count as the writer asks for them
  auto step = [&]() {
    if (progress) progress(++done, total);
  };
  for (const auto& t : tensors) {
    const formats::GgmlType tt = t.shape.size() == 1 ? formats::GgmlType::F32 : type;
    ++report.tensors;
    if (add_kept_codes(w, m, t, tt, report)) {
      step();
      continue;
    }
    w.add_tensor_deferred(gguf_tensor_name(t.name), t.shape, tt, [&m, &c, t, &step]() {
      step();
      at::Tensor x = m.weights(t.name);
      if (!x.defined()) throw Error("weight missing").file(m.source).tensor(t.name);
      x = x.to(at::kFloat);
      if (is_query(t.name)) x = hf_to_gguf_rows(x, c.num_heads);
      if (is_key(t.name)) x = hf_to_gguf_rows(x, c.num_kv_heads);
      return x;
    });
  }
  w.write(path, protected_inputs);
  return report;
}

void use_llamacpp_numerics(LlamaModel& m) {
  if (m.format != "gguf")
    throw Error("llama.cpp numerics apply to GGUF models")
        .file(m.source)
        .hint("export the model with pare export --format gguf, or leave --llamacpp-numerics out");
  const io::GgufFile g = io::GgufFile::open(m.source);
  std::map<std::string, std::string> rounding;
  for (const auto& t : llama_tensors(m.config)) {
    if (!stored_transposed(t.name) && t.name != "model.embed_tokens.weight") continue;  // norms: no product
    const formats::GgmlType type = g.tensor_info(gguf_tensor_name(t.name)).type();
    std::string r;
    if (type == formats::GgmlType::Q8_0 || type == formats::GgmlType::Q4_0)
      r = "q8_0";
    else if (type == formats::GgmlType::F16)
      r = "f16";
    else if (type != formats::GgmlType::F32)
      throw Error("pare does not know how llama.cpp rounds the activations for this weight type")
          .file(m.source)
          .tensor(gguf_tensor_name(t.name))
          .expected("F32, F16, Q8_0 or Q4_0");
    rounding[t.name] = r;
  }
  m.rounding = [rounding](const std::string& name) {
    auto it = rounding.find(name);
    return it == rounding.end() ? std::string() : it->second;
  };
}

}  // namespace pare::llm
