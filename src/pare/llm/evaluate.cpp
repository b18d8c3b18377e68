#include "pare/llm/evaluate.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "pare/error.h"
#include "pare/io/atomic_file.h"
#include "pare/io/gguf.h"
#include "pare/io/npy.h"
#include "pare/io/safetensors.h"
#include "pare/llm/gguf_llama.h"
#include "pare/llm/model_loader.h"
#include "pare/llm/model_tokenizer.h"

namespace pare::llm {

namespace {

// What a run holds between its checks and its long part.
struct Run {
  LlamaModel model;
  std::optional<LlamaModel> ref_model;  // a live reference
  bool stored_ref = false;              // --ref names a file written by --save-ref
  std::vector<int32_t> ids;
  ReferenceText text;
  std::optional<PplWindows> windows;
  std::optional<KldReference> kref;
  std::vector<std::string> inputs;  // files an output must not replace
};

// The tokenizer a reference model comes with, if any: its folder's tokenizer.model or its GGUF vocabulary
// (problems with those are errors); nothing for a folder without one. Other files (.pare) have one when
// model_tokenizer finds it, and are compared by vocab_size alone otherwise.
std::optional<Tokenizer> reference_tokenizer(const std::string& path, int64_t vocab_size) {
  namespace fs = std::filesystem;
  if (fs::is_directory(path)) {
    if (!fs::exists(fs::path(path) / "tokenizer.model")) return std::nullopt;
    return model_tokenizer(path, "", vocab_size);
  }
  if (io::is_gguf(path)) return model_tokenizer(path, "", vocab_size);
  try {
    return model_tokenizer(path, "", vocab_size);
  } catch (const Error&) {
    return std::nullopt;
  }
}

void load_models(const EvaluateOptions& o, Run& run, EvaluateResult& r) {
  if (o.text.empty() && o.tokens.empty())
    throw Error("nothing to score").hint("give --text FILE (or --tokens FILE.npy of token ids)");
  run.model = load_llama(o.model);
  if (o.llamacpp_numerics) use_llamacpp_numerics(run.model);
  r.model_format = run.model.format;
  run.stored_ref = !o.ref.empty() && looks_like_stored_reference(o.ref);
  if (!o.ref.empty() && !run.stored_ref) {
    run.ref_model = load_llama(o.ref);
    if (o.llamacpp_numerics) use_llamacpp_numerics(*run.ref_model);
    check_same_vocab_size(run.ref_model->config, o.ref, run.model.config, o.model);
    r.config_differences = config_differences(run.ref_model->config, run.model.config);
    r.ref_format = run.ref_model->format;
  }
  if (run.stored_ref && !o.save_ref.empty())
    throw Error("--save-ref with a stored --ref: the reference is stored already")
        .file(o.ref)
        .hint("--save-ref takes the reference model's results: pare ppl REF_MODEL --save-ref FILE");
  if (run.stored_ref) r.ref_format = "stored";
}

// Unless given, a run takes a stored reference's ctx and protocol (load_reference checks the rest).
std::pair<int64_t, std::string> context_of(const EvaluateOptions& o, const Run& run) {
  int64_t limit = run.model.config.max_position_embeddings;  // a model is not run past the positions it knows
  if (run.ref_model) limit = std::min(limit, run.ref_model->config.max_position_embeddings);
  int64_t ctx = o.ctx.value_or(std::min<int64_t>(512, limit));
  std::string protocol = o.protocol.value_or("windows");
  if (!run.stored_ref) return {ctx, protocol};
  const nlohmann::json meta = io::SafetensorsModel::open(o.ref).metadata();
  auto stored = [&](const char* key) {
    return meta.contains(key) && meta[key].is_string() ? meta[key].get<std::string>() : std::string();
  };
  if (!o.ctx && !stored("ctx").empty()) {
    try {
      ctx = std::stoll(stored("ctx"));
    } catch (const std::exception&) {
    }
  }
  if (!o.protocol && (stored("protocol") == "windows" || stored("protocol") == "llamacpp"))
    protocol = stored("protocol");
  return {ctx, protocol};
}

void read_tokens(const EvaluateOptions& o, Run& run, EvaluateResult& r) {
  if (!o.tokens.empty()) {
    at::Tensor a = io::load_npy(o.tokens);
    if (a.dim() != 1 || !at::isIntegralType(a.scalar_type(), false))
      throw Error("token ids must be a 1-D integer array")
          .file(o.tokens)
          .got(fmt::format("{} of {}", ir::shape_string(a.sizes()), std::string(c10::toString(a.scalar_type()))));
    a = a.to(at::kInt).contiguous();
    run.ids.assign(a.data_ptr<int32_t>(), a.data_ptr<int32_t>() + a.numel());
    r.tokenizer = "(token ids from " + o.tokens + ")";
    r.vocabulary_check = "vocab_size only (token ids given)";
    return;
  }
  const data::TextSpec spec = text_argument(o.text);
  const Tokenizer tok =
      model_tokenizer(o.model, o.tokenizer, run.model.config.vocab_size,
                      "give --tokenizer FILE (a SentencePiece model), or --tokens FILE.npy of token ids");
  if (run.ref_model) {
    if (std::optional<Tokenizer> rt = reference_tokenizer(o.ref, run.ref_model->config.vocab_size)) {
      check_same_vocabulary(rt->vocab(), rt->source(), tok.vocab(), tok.source());
      r.vocabulary_check = fmt::format("the same ({} pieces of {} and {})", tok.size(), rt->source(), tok.source());
    } else {
      r.vocabulary_check = "vocab_size only (the reference has no tokenizer)";
    }
  }
  run.text.tokenizer_hash = vocab_hash(tok.vocab());
  run.text.tokenizer = tok.source();
  TokenStream ts = load_token_stream(spec, tok);
  r.tokenizer = fmt::format("(tokenizer {}, {:.3f} tokens/word)", tok.source(), ts.tokens_per_word());
  run.ids = std::move(ts.ids);
}

// A stored reference, checked against this run; and the files no output may replace, a model folder's
// files among them (its weights are memory-mapped).
void prepare_reference(const EvaluateOptions& o, Run& run, EvaluateResult& r) {
  if (run.stored_ref) {
    run.kref = load_reference(o.ref, run.model.config, o.model, *run.windows, run.text);
    if (run.kref->hidden_size != run.model.config.hidden_size)
      r.config_differences.push_back(
          fmt::format("hidden_size {} vs {}", run.kref->hidden_size, run.model.config.hidden_size));
    if (run.kref->num_layers != run.model.config.num_layers)
      r.config_differences.push_back(
          fmt::format("num_hidden_layers {} vs {}", run.kref->num_layers, run.model.config.num_layers));
    r.vocabulary_check = run.text.tokenizer_hash && !run.kref->metadata.value("tokenizer_hash", "").empty()
                             ? "the same (tokenizer hash of the stored reference)"
                             : "vocab_size only (token ids given)";
    r.stored_ref = run.kref->metadata;
  }
  run.inputs = {o.model, o.ref, o.text, o.tokens, o.tokenizer};
  for (const std::string& dir : {o.model, o.ref}) {
    std::error_code ec;
    if (!dir.empty() && std::filesystem::is_directory(dir, ec))
      for (const auto& e : std::filesystem::directory_iterator(dir, ec)) run.inputs.push_back(e.path().string());
  }
  io::check_output_path(o.save_ref, run.inputs, "--save-ref");
  io::check_output_path(o.json, run.inputs, "--json");
}

nlohmann::json save(const EvaluateOptions& o, const Run& run, const LlamaModel& ref, const at::Tensor& hidden) {
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t bytes = save_reference(o.save_ref, ref, hidden, *run.windows, run.text, run.inputs);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t scored = hidden.size(0);
  return {{"path", o.save_ref},
          {"bytes", bytes},
          {"scored_tokens", scored},
          {"bytes_per_scored_token", scored ? double(bytes) / scored : 0.0},
          {"hidden_bytes_per_scored_token", 4 * ref.config.hidden_size},
          {"write_seconds", secs}};
}

// The long part: the reference's layers (when live), then the model's, then the heads.
void run_passes(const EvaluateOptions& o, Run& run, EvaluateResult& r) {
  const auto t_start = std::chrono::steady_clock::now();
  const PplWindows& w = *run.windows;
  const int64_t ref_layers = run.ref_model ? run.ref_model->config.num_layers : 0;
  const int64_t total = ref_layers + run.model.config.num_layers + 1;
  const std::string status = fmt::format("{} windows of {}", w.inputs.size(0), w.inputs.size(1));
  StreamOptions so;
  so.sub_batch = o.sub_batch;
  if (o.progress) so.progress = [&](int64_t done, int64_t) { o.progress(ref_layers + done, total, status); };
  if (run.ref_model) {
    StreamOptions ro = so;
    if (o.progress) ro.progress = [&](int64_t done, int64_t) { o.progress(done, total, status + " (reference)"); };
    run.kref = reference_from_model(*run.ref_model, w, ro);
    if (!o.save_ref.empty()) r.saved = save(o, run, *run.ref_model, run.kref->hidden);
  }
  if (run.kref) {
    r.kld = kl_divergence(*run.kref, run.model, w, so);
    r.ppl = r.kld->model_perplexity();
  } else if (!o.save_ref.empty()) {
    at::Tensor hidden = stream_hidden(run.model, w.inputs, so);
    r.saved = save(o, run, run.model, scored_rows(hidden, w));
    r.ppl = perplexity(hidden, llama_head(run.model), w, o.sub_batch);
    r.ppl.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    r.ppl.tokens_per_second = tokens_per_second(w, r.ppl.seconds);
    if (o.progress) o.progress(total, total, status);
  } else {
    r.ppl = perplexity(run.model, w, so);
  }
}

}  // namespace

nlohmann::json EvaluateResult::to_json(const EvaluateOptions& o) const {
  nlohmann::json j = ppl.to_json();
  j["model"] = o.model;
  j["format"] = model_format;
  j["size"] = size.to_json();
  j["text"] = o.tokens.empty() ? o.text : o.tokens;
  j["text_tokens"] = text_tokens;
  j["tokenizer"] = tokenizer;
  if (kld) {
    nlohmann::json kj = kld->to_json();
    kj["reference"] = o.ref;
    kj["reference_format"] = ref_format;
    if (ref_size) kj["reference_size"] = ref_size->to_json();
    if (!stored_ref.is_null()) kj["stored_reference"] = stored_ref;
    kj["config_differences"] = config_differences;
    kj["vocabulary_check"] = vocabulary_check;
    j["kld"] = kj;
  }
  if (!saved.is_null()) j["saved_reference"] = saved;
  return j;
}

EvaluateResult evaluate(const EvaluateOptions& o) {
  EvaluateResult r;
  Run run;
  load_models(o, run, r);
  const auto [ctx, protocol] = context_of(o, run);
  read_tokens(o, run, r);
  r.text_tokens = static_cast<int64_t>(run.ids.size());
  run.text.ids = &run.ids;
  run.windows = make_windows(run.ids, ctx, parse_protocol(protocol), run.model.config.bos_token_id);
  prepare_reference(o, run, r);
  run_passes(o, run, r);
  r.inputs = run.inputs;
  // Stored references are safetensors files of hidden states, not models: no size for them.
  r.size = model_size(o.model, run.model.config);
  if (run.ref_model) r.ref_size = model_size(o.ref, run.ref_model->config);
  return r;
}

}  // namespace pare::llm
