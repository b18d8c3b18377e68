#include "pare/llm/kl_divergence.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "pare/error.h"
#include "pare/io/gguf.h"
#include "pare/io/safetensors.h"

namespace pare::llm {
namespace fs = std::filesystem;

namespace {

constexpr const char* kReferenceFormat = "pare-ppl-reference";
constexpr const char* kReferenceVersion = "1";

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Linear interpolation between order statistics (numpy's default): q in [0, 1] of sorted values.
double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

struct Fnv1a {
  uint64_t h = 1469598103934665603ull;
  void byte(uint8_t b) {
    h ^= b;
    h *= 1099511628211ull;
  }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) byte(static_cast<uint8_t>(v >> (8 * i)));
  }
  void str(const std::string& s) {
    for (char c : s) byte(static_cast<uint8_t>(c));
    byte(0);
  }
};

std::string hash_string(uint64_t h) { return fmt::format("fnv1a64:{:016x}", h); }

}  // namespace

// --- Accumulating ---------------------------------------------------------------------------------------

void KldAccumulator::add(const at::Tensor& rl, const at::Tensor& ml, const at::Tensor& targets) {
  PARE_ASSERT(rl.sizes() == ml.sizes() && rl.dim() == 2, "KldAccumulator: logits of both models must be [k, vocab]");
  PARE_ASSERT(targets.dim() == 1 && targets.size(0) == rl.size(0), "KldAccumulator: targets must be [k]");
  at::NoGradGuard no_grad;
  const int64_t V = rl.size(1);
  at::Tensor tk = targets.unsqueeze(1);
  // Rows at a time, so that the float64 copies stay near 32 MB whatever the vocabulary.
  const int64_t rows = std::max<int64_t>(1, (int64_t{1} << 22) / V);
  for (int64_t s = 0; s < rl.size(0); s += rows) {
    const int64_t n = std::min(rows, rl.size(0) - s);
    at::Tensor r32 = rl.narrow(0, s, n), m32 = ml.narrow(0, s, n);
    at::Tensor lr = at::log_softmax(r32.to(at::kDouble), -1);
    at::Tensor lm = at::log_softmax(m32.to(at::kDouble), -1);
    at::Tensor kld = (lr.exp() * (lr - lm)).sum(-1).contiguous();
    at::Tensor target = tk.narrow(0, s, n);
    at::Tensor nr = -lr.gather(1, target).squeeze(1), nm = -lm.gather(1, target).squeeze(1);
    at::Tensor diff = nm - nr;
    nll_ref_ += nr.sum().item<double>();
    nll_ref_sq_ += (nr * nr).sum().item<double>();
    nll_model_ += nm.sum().item<double>();
    nll_model_sq_ += (nm * nm).sum().item<double>();
    diff_ += diff.sum().item<double>();
    diff_sq_ += (diff * diff).sum().item<double>();
    same_ += (r32.argmax(-1) == m32.argmax(-1)).sum().item<int64_t>();
    kld_.insert(kld_.end(), kld.data_ptr<double>(), kld.data_ptr<double>() + n);
  }
}

KldResult KldAccumulator::result() const {
  KldResult r;
  const int64_t n = static_cast<int64_t>(kld_.size());
  r.scored = n;
  if (n == 0) return r;
  double sum = 0, sum_sq = 0;
  for (double k : kld_) {
    sum += k;
    sum_sq += k * k;
  }
  std::tie(r.kld_mean, r.kld_stderr) = mean_stderr(sum, sum_sq, n);
  std::vector<double> sorted = kld_;
  std::sort(sorted.begin(), sorted.end());
  r.kld_median = quantile(sorted, 0.5);
  r.kld_p99 = quantile(sorted, 0.99);
  r.kld_max = sorted.back();
  r.top1_same = 100.0 * static_cast<double>(same_) / static_cast<double>(n);
  std::tie(r.nll_ref, r.nll_ref_stderr) = mean_stderr(nll_ref_, nll_ref_sq_, n);
  std::tie(r.nll_model, r.nll_model_stderr) = mean_stderr(nll_model_, nll_model_sq_, n);
  std::tie(r.ln_ppl_ratio, r.ln_ppl_ratio_stderr) = mean_stderr(diff_, diff_sq_, n);
  r.ppl_ref = std::exp(r.nll_ref);
  r.ppl_model = std::exp(r.nll_model);
  r.ppl_ratio = std::exp(r.ln_ppl_ratio);
  return r;
}

nlohmann::json KldResult::to_json() const {
  return {{"definition", "KL(ref || model) = sum_v p_ref (log p_ref - log p_model), nats, per scored position"},
          {"protocol", protocol_name(protocol)},
          {"ctx", ctx},
          {"windows", windows},
          {"scored_tokens", scored},
          {"mean", kld_mean},
          {"stderr", kld_stderr},
          {"median", kld_median},
          {"p99", kld_p99},
          {"max", kld_max},
          {"top1_same_percent", top1_same},
          {"nll_ref", nll_ref},
          {"nll_ref_stderr", nll_ref_stderr},
          {"nll_model", nll_model},
          {"nll_model_stderr", nll_model_stderr},
          {"ppl_ref", ppl_ref},
          {"ppl_model", ppl_model},
          {"ppl_ratio", ppl_ratio},
          {"ln_ppl_ratio", ln_ppl_ratio},
          {"ln_ppl_ratio_stderr", ln_ppl_ratio_stderr},
          {"seconds_reference", seconds_reference},
          {"seconds_model", seconds_model},
          {"seconds", seconds},
          {"tokens_per_second", tokens_per_second}};
}

PplResult KldResult::model_perplexity() const {
  PplResult r;
  r.protocol = protocol;
  r.ctx = ctx;
  r.windows = windows;
  r.scored = scored;
  r.nll = nll_model;
  r.nll_stderr = nll_model_stderr;
  r.perplexity = ppl_model;
  r.seconds = seconds;
  r.tokens_per_second = tokens_per_second;
  return r;
}

// --- Running -------------------------------------------------------------------------------------------

at::Tensor scored_rows(const at::Tensor& hidden, const PplWindows& w) {
  PARE_ASSERT(hidden.dim() == 3 && hidden.size(0) == w.inputs.size(0) && hidden.size(1) == w.inputs.size(1),
              "scored_rows: hidden states are not over these windows");
  return hidden.reshape({-1, hidden.size(2)}).index_select(0, scored_positions(w, 0, w.inputs.size(0)).index);
}

KldReference reference_from_model(const LlamaModel& ref, const PplWindows& w, const StreamOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  KldReference r;
  r.hidden = scored_rows(stream_hidden(ref, w.inputs, options), w);
  r.head = llama_head(ref);
  r.source = ref.source;
  r.hidden_size = ref.config.hidden_size;
  r.num_layers = ref.config.num_layers;
  r.seconds = seconds_since(t0);
  return r;
}

KldResult kl_divergence(const KldReference& ref, const LlamaModel& m, const PplWindows& w,
                        const StreamOptions& options) {
  const int64_t N = w.inputs.size(0), T = w.inputs.size(1);
  // Where each window's scored positions start among the reference's rows.
  at::Tensor per_window = (w.targets >= 0).sum(1);
  std::vector<int64_t> offset(N + 1, 0);
  for (int64_t i = 0; i < N; ++i) offset[i + 1] = offset[i] + per_window[i].item<int64_t>();
  if (ref.hidden.dim() != 2 || ref.hidden.size(0) != offset[N])
    throw Error("the reference's hidden states are not over these windows")
        .file(ref.source)
        .expected(fmt::format("[{}, d] (the scored positions)", offset[N]))
        .got(ir::shape_string(ref.hidden.sizes()));
  if (ref.head.vocab_size() != m.config.vocab_size)
    throw Error("reference and model have different vocabularies")
        .file(ref.source)
        .expected(fmt::format("vocab_size {} (of {})", m.config.vocab_size, m.source))
        .got(fmt::format("vocab_size {}", ref.head.vocab_size()));
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t total = m.config.num_layers + 1;
  at::Tensor hidden = stream_hidden(m, w.inputs, progress_over(options, total));
  const LlamaHead head = llama_head(m);
  KldAccumulator acc;
  for_each_sub_batch(N, options.sub_batch, [&](int64_t s, int64_t n) {
    const int64_t k = offset[s + n] - offset[s];
    if (k == 0) return;
    const ScoredPositions p = scored_positions(w, s, n);
    at::Tensor rows = hidden.narrow(0, s, n).reshape({-1, hidden.size(2)}).index_select(0, p.index);
    acc.add(ref.head.logits(ref.hidden.narrow(0, offset[s], k)), head.logits(rows), p.targets);
  });
  if (options.progress) options.progress(total, total);
  KldResult r = acc.result();
  r.protocol = w.protocol;
  r.ctx = T;
  r.windows = N;
  r.seconds_reference = ref.seconds;
  r.seconds_model = seconds_since(t0);
  r.seconds = r.seconds_reference + r.seconds_model;
  r.tokens_per_second = tokens_per_second(w, r.seconds);
  return r;
}

// --- Checks --------------------------------------------------------------------------------------------

void check_same_vocab_size(const LlamaConfig& ref, const std::string& ref_source, const LlamaConfig& model,
                           const std::string& model_source) {
  auto fail = [&](const std::string& field, int64_t r, int64_t m) {
    throw Error(fmt::format("reference and model have different vocabularies ({} differs)", field))
        .file(ref_source + " (reference) and " + model_source + " (model)")
        .expected(fmt::format("{} {} (the reference's)", field, r))
        .got(fmt::format("{} {} (the model's)", field, m))
        .hint(
            "KL divergence compares next-token distributions over one vocabulary: use a reference with the "
            "model's tokenizer");
  };
  if (ref.vocab_size != model.vocab_size) fail("vocab_size", ref.vocab_size, model.vocab_size);
  if (ref.bos_token_id != model.bos_token_id) fail("bos_token_id", ref.bos_token_id, model.bos_token_id);
}

void check_same_vocabulary(const Vocab& ref, const std::string& ref_source, const Vocab& model,
                           const std::string& model_source) {
  auto fail = [&](const std::string& what, const std::string& r, const std::string& m) {
    throw Error("reference and model have different tokenizers (" + what + ")")
        .file(ref_source + " (reference) and " + model_source + " (model)")
        .expected(r + " (the reference's)")
        .got(m + " (the model's)")
        .hint(
            "the same token id must mean the same piece for both: give each model its own tokenizer, or "
            "compare models that share one");
  };
  if (ref.size() != model.size())
    fail("size", fmt::format("{} pieces", ref.size()), fmt::format("{} pieces", model.size()));
  for (int32_t i = 0; i < ref.size(); ++i) {
    const Piece &a = ref.pieces[i], &b = model.pieces[i];
    if (a.text != b.text || a.type != b.type)
      fail(fmt::format("piece {}", i), fmt::format("'{}' ({})", a.text, piece_type_name(a.type)),
           fmt::format("'{}' ({})", b.text, piece_type_name(b.type)));
  }
  if (ref.bos_id != model.bos_id) fail("BOS id", std::to_string(ref.bos_id), std::to_string(model.bos_id));
  if (ref.eos_id != model.eos_id) fail("EOS id", std::to_string(ref.eos_id), std::to_string(model.eos_id));
  if (ref.unk_id != model.unk_id) fail("UNK id", std::to_string(ref.unk_id), std::to_string(model.unk_id));
}

std::vector<std::string> config_differences(const LlamaConfig& ref, const LlamaConfig& model) {
  std::vector<std::string> out;
  auto cmp = [&](const char* name, auto r, auto m) {
    if (r != m) out.push_back(fmt::format("{} {} vs {}", name, r, m));
  };
  cmp("hidden_size", ref.hidden_size, model.hidden_size);
  cmp("intermediate_size", ref.intermediate_size, model.intermediate_size);
  cmp("num_hidden_layers", ref.num_layers, model.num_layers);
  cmp("num_attention_heads", ref.num_heads, model.num_heads);
  cmp("num_key_value_heads", ref.num_kv_heads, model.num_kv_heads);
  cmp("head_dim", ref.head_dim, model.head_dim);
  cmp("rms_norm_eps", ref.rms_norm_eps, model.rms_norm_eps);
  cmp("rope_theta", ref.rope_theta, model.rope_theta);
  cmp("tie_word_embeddings", ref.tie_word_embeddings, model.tie_word_embeddings);
  return out;
}

uint64_t token_hash(const std::vector<int32_t>& ids) {
  Fnv1a f;
  for (int32_t id : ids) f.u32(static_cast<uint32_t>(id));
  return f.h;
}

uint64_t vocab_hash(const Vocab& v) {
  Fnv1a f;
  f.u32(static_cast<uint32_t>(v.size()));
  for (const Piece& p : v.pieces) {
    f.str(p.text);
    f.u32(static_cast<uint32_t>(p.type));
  }
  f.u32(static_cast<uint32_t>(v.bos_id));
  f.u32(static_cast<uint32_t>(v.eos_id));
  f.u32(static_cast<uint32_t>(v.unk_id));
  return f.h;
}

// --- Stored references ---------------------------------------------------------------------------------

bool looks_like_stored_reference(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec) || io::is_gguf(path)) return false;
  if (fs::path(path).extension() == ".safetensors") return true;
  // Any other name: a safetensors file starts with a u64 header length and then '{'.
  std::ifstream f(path, std::ios::binary);
  char head[9] = {};
  return f.read(head, 9) && head[8] == '{';
}

uint64_t save_reference(const std::string& path, const LlamaModel& ref, const at::Tensor& hidden, const PplWindows& w,
                        const ReferenceText& text, const std::vector<std::string>& protected_inputs) {
  const LlamaConfig& c = ref.config;
  PARE_ASSERT(text.ids != nullptr, "save_reference: the text's token ids are needed");
  PARE_ASSERT(hidden.dim() == 2 && hidden.size(0) == w.scored() && hidden.size(1) == c.hidden_size,
              "save_reference: hidden states are not [scored, d] over these windows");
  // The head and norm as the model stores them: float32 after the load is then the live reference's.
  auto as_stored = [&](const std::string& name, const std::vector<int64_t>& shape) {
    at::Tensor raw = ref.weights(name);
    const bool keep =
        raw.defined() && raw.sizes().vec() == shape &&
        (raw.scalar_type() == at::kFloat || raw.scalar_type() == at::kHalf || raw.scalar_type() == at::kBFloat16);
    return keep ? raw.contiguous() : llama_weight(ref.weights, c, name, shape, ref.source).contiguous();
  };
  const std::string head_name = c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight";
  std::vector<std::pair<std::string, at::Tensor>> tensors{
      {"hidden", hidden.to(at::kFloat).contiguous()},
      {"model.norm.weight", as_stored("model.norm.weight", {c.hidden_size})},
      {"lm_head.weight", as_stored(head_name, {c.vocab_size, c.hidden_size})}};
  std::map<std::string, std::string> meta{
      {"format", kReferenceFormat},
      {"version", kReferenceVersion},
      {"text_tokens", std::to_string(text.ids->size())},
      {"text_hash", hash_string(token_hash(*text.ids))},
      {"ctx", std::to_string(w.inputs.size(1))},
      {"protocol", protocol_name(w.protocol)},
      {"windows", std::to_string(w.inputs.size(0))},
      {"scored", std::to_string(w.scored())},
      {"vocab_size", std::to_string(c.vocab_size)},
      {"bos_token_id", std::to_string(c.bos_token_id)},
      {"hidden_size", std::to_string(c.hidden_size)},
      {"num_layers", std::to_string(c.num_layers)},
      {"rms_norm_eps", fmt::format("{}", c.rms_norm_eps)},  // shortest form: reads back exactly
      {"tie_word_embeddings", c.tie_word_embeddings ? "true" : "false"},
      {"tokenizer_hash", text.tokenizer_hash ? hash_string(*text.tokenizer_hash) : ""},
      {"tokenizer", text.tokenizer},
      {"source", ref.source},
      {"source_format", ref.format}};
  io::save_safetensors(path, tensors, meta, protected_inputs);
  return fs::file_size(path);
}

KldReference load_reference(const std::string& path, const LlamaConfig& model, const std::string& model_source,
                            const PplWindows& w, const ReferenceText& text) {
  const auto t0 = std::chrono::steady_clock::now();
  io::SafetensorsModel st = io::SafetensorsModel::open(path);
  const nlohmann::json& meta = st.metadata();
  auto field = [&](const char* key) -> std::string {
    auto it = meta.find(key);
    if (it == meta.end() || !it->is_string())
      throw Error(fmt::format("the stored reference lacks the metadata field '{}'", key))
          .file(path)
          .hint("write it again with pare ppl REF_MODEL --save-ref FILE");
    return it->get<std::string>();
  };
  auto number = [&](const char* key) -> int64_t {
    const std::string s = field(key);
    try {
      size_t used = 0;
      const int64_t v = std::stoll(s, &used);
      if (used == s.size()) return v;
    } catch (const std::exception&) {
    }
    throw Error(fmt::format("metadata field '{}' of the stored reference is not an integer", key))
        .file(path)
        .got("'" + s + "'");
  };
  {
    auto it = meta.find("format");
    if (it == meta.end() || !it->is_string() || it->get<std::string>() != kReferenceFormat)
      throw Error("not a stored pare reference (a safetensors file, but not one written by pare ppl --save-ref)")
          .file(path)
          .expected(fmt::format("__metadata__ format '{}'", kReferenceFormat))
          .got(it == meta.end() ? "no format field" : "format " + it->dump())
          .hint("--ref takes a model (Hugging Face folder, .gguf, .pare) or a file from pare ppl REF --save-ref FILE");
  }
  if (field("version") != kReferenceVersion)
    throw Error("unsupported stored reference version")
        .file(path)
        .expected(std::string("version ") + kReferenceVersion)
        .got("version " + field("version"));
  // The checks, cheapest and most telling first: what the ids mean, then how the text was cut.
  auto mismatch = [&](const std::string& key, const std::string& stored, const std::string& now,
                      const std::string& hint) {
    throw Error(fmt::format("the stored reference was made with another {}", key))
        .file(path)
        .expected(fmt::format("{} {} (this run)", key, now))
        .got(fmt::format("{} {} (stored)", key, stored))
        .hint(hint);
  };
  const std::string redo =
      "make the reference again for this run: pare ppl REF_MODEL --save-ref FILE with the same "
      "--text/--tokens, --ctx and --protocol";
  if (number("vocab_size") != model.vocab_size)
    mismatch("vocab_size", field("vocab_size"), std::to_string(model.vocab_size) + " (of " + model_source + ")",
             "the reference and the model must share one vocabulary");
  if (number("bos_token_id") != model.bos_token_id)
    mismatch("bos_token_id", field("bos_token_id"), std::to_string(model.bos_token_id) + " (of " + model_source + ")",
             "the reference and the model must share one vocabulary");
  const std::string stored_tok = field("tokenizer_hash");
  if (text.tokenizer_hash && !stored_tok.empty() && stored_tok != hash_string(*text.tokenizer_hash))
    mismatch("tokenizer", fmt::format("{} ({})", stored_tok, field("tokenizer")),
             fmt::format("{} ({})", hash_string(*text.tokenizer_hash), text.tokenizer),
             "the reference and the model must share one tokenizer");
  if (number("ctx") != w.inputs.size(1))
    mismatch("ctx", field("ctx"), std::to_string(w.inputs.size(1)), redo + " (or give --ctx " + field("ctx") + ")");
  if (field("protocol") != protocol_name(w.protocol))
    mismatch("protocol", field("protocol"), protocol_name(w.protocol),
             redo + " (or give --protocol " + field("protocol") + ")");
  PARE_ASSERT(text.ids != nullptr, "load_reference: the text's token ids are needed");
  const std::string now_text = fmt::format("{} tokens, {}", text.ids->size(), hash_string(token_hash(*text.ids)));
  const std::string stored_text = fmt::format("{} tokens, {}", field("text_tokens"), field("text_hash"));
  if (now_text != stored_text) mismatch("text", stored_text, now_text, redo);
  // The tensors: present, shaped as the metadata says.
  const int64_t S = w.scored(), d = number("hidden_size"), V = number("vocab_size");
  auto shape_of = [&](const std::string& name, const std::vector<int64_t>& want) {
    if (!st.has(name)) throw Error("the stored reference lacks a tensor").file(path).tensor(name).hint(redo);
    if (st.entry(name).shape != want)
      throw Error("a tensor of the stored reference has the wrong shape")
          .file(path)
          .tensor(name)
          .expected(ir::shape_string(want))
          .got(ir::shape_string(st.entry(name).shape));
    const std::string& dt = st.entry(name).dtype;
    if (dt != "F32" && dt != "F16" && dt != "BF16")
      throw Error("a tensor of the stored reference has an unsupported dtype")
          .file(path)
          .tensor(name)
          .expected("F32, F16 or BF16")
          .got(dt);
  };
  shape_of("hidden", {S, d});
  shape_of("model.norm.weight", {d});
  shape_of("lm_head.weight", {V, d});
  if (st.entry("hidden").dtype != "F32")
    throw Error("the stored reference's hidden states must be F32")
        .file(path)
        .tensor("hidden")
        .got(st.entry("hidden").dtype);
  double eps = 0;
  try {
    eps = std::stod(field("rms_norm_eps"));
  } catch (const std::exception&) {
    throw Error("metadata field 'rms_norm_eps' of the stored reference is not a number")
        .file(path)
        .got("'" + field("rms_norm_eps") + "'");
  }
  KldReference r;
  r.hidden = st.tensor("hidden");  // a view of the memory-mapped file
  r.head = llama_head(st.tensor_f32("model.norm.weight"), st.tensor_f32("lm_head.weight"), eps);
  r.source = path;
  r.hidden_size = d;
  r.num_layers = number("num_layers");
  r.metadata = meta;
  r.seconds = seconds_since(t0);
  return r;
}

}  // namespace pare::llm
