// `pare ppl MODEL --text FILE --ctx N --protocol windows|llamacpp`: perplexity of a Llama model (Hugging
// Face folder, GGUF file or .pare package), computed layer by layer from memory-mapped weights.
// `--ref REF`: also the KL divergence of MODEL's next-token distributions from REF's (a model, or a
// reference stored by `--save-ref FILE`) and their top-1 agreement (llm/kl_divergence.h).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>

#include "pare/cli/command.h"
#include "pare/error.h"
#include "pare/exec/threads.h"
#include "pare/io/atomic_file.h"
#include "pare/io/gguf.h"
#include "pare/io/npy.h"
#include "pare/io/safetensors.h"
#include "pare/llm/gguf_llama.h"
#include "pare/llm/kl_divergence.h"
#include "pare/llm/model_loader.h"
#include "pare/llm/model_size.h"
#include "pare/llm/model_tokenizer.h"
#include "pare/llm/perplexity.h"
#include "pare/report/progress.h"

namespace pare::cli {

namespace {

// The tokenizer a reference model comes with, if any: its folder's tokenizer.model or its GGUF vocabulary
// (problems with those are errors); nothing for a folder without one. Other files (.pare) have one when
// model_tokenizer finds it, and are compared by vocab_size alone otherwise.
std::optional<llm::Tokenizer> reference_tokenizer(const std::string& path, int64_t vocab_size) {
  namespace fs = std::filesystem;
  if (fs::is_directory(path)) {
    if (!fs::exists(fs::path(path) / "tokenizer.model")) return std::nullopt;
    return llm::model_tokenizer(path, "", vocab_size);
  }
  if (io::is_gguf(path)) return llm::model_tokenizer(path, "", vocab_size);
  try {
    return llm::model_tokenizer(path, "", vocab_size);
  } catch (const Error&) {
    return std::nullopt;
  }
}

void print_kld(const llm::KldResult& k) {
  fmt::print("KLD         mean {:.6g} +- {:.2g}, median {:.4g}, p99 {:.4g}, max {:.4g} (nats, {} positions)\n",
             k.kld_mean, k.kld_stderr, k.kld_median, k.kld_p99, k.kld_max, k.scored);
  fmt::print("top-1 same  {:.2f} %\n", k.top1_same);
  fmt::print("ppl         ref {:.4f}  model {:.4f}  ratio {:.5f} (ln ratio {:.5f} +- {:.5f})\n", k.ppl_ref, k.ppl_model,
             k.ppl_ratio, k.ln_ppl_ratio, k.ln_ppl_ratio_stderr);
}

}  // namespace

Action add_ppl_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("ppl",
                                 "Perplexity of a Llama model on a text (Hugging Face folder, GGUF, .pare); with "
                                 "--ref, its KL divergence from a reference model");
  auto model = std::make_shared<std::string>();
  auto text = std::make_shared<std::string>();
  auto tokens = std::make_shared<std::string>();
  auto tokenizer = std::make_shared<std::string>();
  auto ctx = std::make_shared<int64_t>(512);
  auto protocol = std::make_shared<std::string>("windows");
  auto json = std::make_shared<std::string>();
  auto ref = std::make_shared<std::string>();
  auto save_ref = std::make_shared<std::string>();
  auto threads = std::make_shared<int>(0);
  auto batch = std::make_shared<int64_t>(8);
  auto quiet = std::make_shared<bool>(false);
  cmd->add_option("model", *model, "Hugging Face model folder, .gguf file or .pare package")->required();
  auto* t = cmd->add_option("--text", *text, "text to score: a UTF-8 file, text:FILE or brown:heldout|valid|train");
  auto* k = cmd->add_option("--tokens", *tokens, "token ids to score instead of a text (.npy, 1-D integers)");
  t->excludes(k);
  cmd->add_option("--tokenizer", *tokenizer,
                  "SentencePiece tokenizer.model (default: the model folder's, or the GGUF file's vocabulary)");
  auto* ctx_opt = cmd->add_option("--ctx", *ctx, "tokens per window (with a stored --ref: its ctx by default)")
                      ->check(CLI::Range(4, 1 << 20));
  auto* protocol_opt =
      cmd->add_option("--protocol", *protocol,
                      "windows (non-overlapping windows, every token after the first scored) or llamacpp "
                      "(llama-perplexity: BOS per chunk, second half scored); with a stored --ref: its protocol "
                      "by default")
          ->check(CLI::IsMember({"windows", "llamacpp"}));
  cmd->add_option("--ref", *ref,
                  "reference for KL divergence and top-1 agreement over the scored positions: a model (folder, "
                  ".gguf, .pare) or a file written by --save-ref");
  cmd->add_option("--save-ref", *save_ref,
                  "store the reference (--ref REF_MODEL, or MODEL itself without --ref) for later --ref FILE: its "
                  "final hidden states and head, as .safetensors");
  cmd->add_option("--json", *json, "also write the results as JSON to this file");
  cmd->add_option("--threads", *threads, "compute threads (0: one per core)");
  cmd->add_option("--batch", *batch, "windows per run (memory: attention scores of this many windows)")
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_flag("--quiet", *quiet, "no progress output");
  auto llamacpp_numerics = std::make_shared<bool>(false);
  cmd->add_flag("--llamacpp-numerics", *llamacpp_numerics,
                "GGUF models: round activations as llama.cpp's CPU backend does before each matrix product "
                "(Q8_0 blocks for Q8_0/Q4_0 weights, float16 for F16), to reproduce its figures");
  return [=]() {
    const auto t_start = std::chrono::steady_clock::now();
    exec::set_threads(*threads);
    if (text->empty() && tokens->empty())
      throw Error("nothing to score").hint("give --text FILE (or --tokens FILE.npy of token ids)");
    // Everything that can fail on bad input fails here, before the long part.
    llm::LlamaModel m = llm::load_llama(*model);
    if (*llamacpp_numerics) llm::use_llamacpp_numerics(m);
    const bool stored_ref = !ref->empty() && llm::looks_like_stored_reference(*ref);
    std::optional<llm::LlamaModel> ref_model;
    std::vector<std::string> differences;
    if (!ref->empty() && !stored_ref) {
      ref_model = llm::load_llama(*ref);
      if (*llamacpp_numerics) llm::use_llamacpp_numerics(*ref_model);
      llm::check_same_vocab_size(ref_model->config, *ref, m.config, *model);
      differences = llm::config_differences(ref_model->config, m.config);
    }
    if (stored_ref && !save_ref->empty())
      throw Error("--save-ref with a stored --ref: the reference is stored already")
          .file(*ref)
          .hint("--save-ref takes the reference model's results: pare ppl REF_MODEL --save-ref FILE");
    if (stored_ref) {
      // Unless given, the run takes the stored reference's ctx and protocol (load_reference checks the rest).
      const nlohmann::json meta = io::SafetensorsModel::open(*ref).metadata();
      auto stored = [&](const char* key) {
        return meta.contains(key) && meta[key].is_string() ? meta[key].get<std::string>() : std::string();
      };
      if (ctx_opt->count() == 0 && !stored("ctx").empty()) {
        try {
          *ctx = std::stoll(stored("ctx"));
        } catch (const std::exception&) {
        }
      }
      if (protocol_opt->count() == 0 && (stored("protocol") == "windows" || stored("protocol") == "llamacpp"))
        *protocol = stored("protocol");
    }
    std::vector<int32_t> ids;
    std::string tokenizer_used, vocab_check;
    llm::ReferenceText ref_text;
    if (!tokens->empty()) {
      at::Tensor a = io::load_npy(*tokens);
      if (a.dim() != 1 || !at::isIntegralType(a.scalar_type(), false))
        throw Error("token ids must be a 1-D integer array")
            .file(*tokens)
            .got(fmt::format("{} of {}", ir::shape_string(a.sizes()), std::string(c10::toString(a.scalar_type()))));
      a = a.to(at::kInt).contiguous();
      ids.assign(a.data_ptr<int32_t>(), a.data_ptr<int32_t>() + a.numel());
      tokenizer_used = "(token ids from " + *tokens + ")";
      vocab_check = "vocab_size only (token ids given)";
    } else {
      const data::TextSpec spec = llm::text_argument(*text);
      const llm::Tokenizer tok = llm::model_tokenizer(*model, *tokenizer, m.config.vocab_size);
      if (ref_model) {
        std::optional<llm::Tokenizer> rt = reference_tokenizer(*ref, ref_model->config.vocab_size);
        if (rt) {
          llm::check_same_vocabulary(rt->vocab(), rt->source(), tok.vocab(), tok.source());
          vocab_check = fmt::format("the same ({} pieces of {} and {})", tok.size(), rt->source(), tok.source());
        } else {
          vocab_check = "vocab_size only (the reference has no tokenizer)";
        }
      }
      ref_text.tokenizer_hash = llm::vocab_hash(tok.vocab());
      ref_text.tokenizer = tok.source();
      llm::TokenStream ts = llm::load_token_stream(spec, tok);
      tokenizer_used = fmt::format("(tokenizer {}, {:.3f} tokens/word)", tok.source(), ts.tokens_per_word());
      ids = std::move(ts.ids);
    }
    ref_text.ids = &ids;
    const llm::PplProtocol p = llm::parse_protocol(*protocol);
    llm::PplWindows w = llm::make_windows(ids, *ctx, p, m.config.bos_token_id);
    std::optional<llm::KldReference> kref;
    if (stored_ref) {
      kref = llm::load_reference(*ref, m.config, *model, w, ref_text);
      if (kref->hidden_size != m.config.hidden_size)
        differences.push_back(fmt::format("hidden_size {} vs {}", kref->hidden_size, m.config.hidden_size));
      if (kref->num_layers != m.config.num_layers)
        differences.push_back(fmt::format("num_hidden_layers {} vs {}", kref->num_layers, m.config.num_layers));
      vocab_check = ref_text.tokenizer_hash && !kref->metadata.value("tokenizer_hash", "").empty()
                        ? "the same (tokenizer hash of the stored reference)"
                        : "vocab_size only (token ids given)";
    }
    // Outputs must not replace an input, nor a file inside a model folder (its weights are memory-mapped).
    std::vector<std::string> inputs{*model, *ref, *text, *tokens, *tokenizer};
    for (const std::string& dir : {*model, *ref}) {
      std::error_code ec;
      if (!dir.empty() && std::filesystem::is_directory(dir, ec))
        for (const auto& e : std::filesystem::directory_iterator(dir, ec)) inputs.push_back(e.path().string());
    }
    if (!save_ref->empty()) io::refuse_overwrite(*save_ref, inputs);

    // The long part: the reference's layers (when live), then the model's, then the heads.
    const int64_t ref_layers = ref_model ? ref_model->config.num_layers : 0;
    report::Progress bar(ref_model ? "ppl+kld" : "ppl", ref_layers + m.config.num_layers + 1, *quiet);
    const std::string status = fmt::format("{} windows of {}", w.inputs.size(0), *ctx);
    llm::StreamOptions so;
    so.sub_batch = *batch;
    so.progress = [&](int64_t done, int64_t) { bar.update(ref_layers + done, status); };
    nlohmann::json saved;
    auto save = [&](const llm::LlamaModel& r, const at::Tensor& hidden) {
      const auto t0 = std::chrono::steady_clock::now();
      const uint64_t bytes = llm::save_reference(*save_ref, r, hidden, w, ref_text, inputs);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const int64_t scored = hidden.size(0);
      saved = {{"path", *save_ref},
               {"bytes", bytes},
               {"scored_tokens", scored},
               {"bytes_per_scored_token", scored ? double(bytes) / scored : 0.0},
               {"hidden_bytes_per_scored_token", 4 * r.config.hidden_size},
               {"write_seconds", secs}};
    };
    llm::PplResult r;
    std::optional<llm::KldResult> kres;
    if (ref_model) {
      llm::StreamOptions ro = so;
      ro.progress = [&](int64_t done, int64_t) { bar.update(done, status + " (reference)"); };
      kref = llm::reference_from_model(*ref_model, w, ro);
      if (!save_ref->empty()) save(*ref_model, kref->hidden);
    }
    if (kref) {
      kres = llm::kl_divergence(*kref, m, w, so);
      r = kres->model_perplexity();
    } else if (!save_ref->empty()) {
      at::Tensor hidden = llm::stream_hidden(m, w.inputs, so);
      save(m, llm::scored_rows(hidden, w));
      r = llm::perplexity(hidden, llm::llama_head(m), w, *batch);
      r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
      r.tokens_per_second = r.seconds > 0 ? r.windows * r.ctx / r.seconds : 0;
      bar.update(m.config.num_layers + 1, status);
    } else {
      r = llm::perplexity(m, w, so);
    }
    bar.finish(fmt::format("{:.0f} tokens/s", r.tokens_per_second));
    // Stored references are safetensors files of hidden states, not models: no size for them.
    const llm::ModelSize size = llm::model_size(*model, m.config);
    std::optional<llm::ModelSize> ref_size;
    if (ref_model) ref_size = llm::model_size(*ref, ref_model->config);
    fmt::print("model       {} ({})\n", *model, m.format);
    fmt::print("size        {}\n", size.str());
    if (ref_model) fmt::print("reference   {} ({})\n", *ref, ref_model->format);
    if (ref_size) fmt::print("ref. size   {}\n", ref_size->str());
    if (stored_ref) fmt::print("reference   {} (stored reference of {})\n", *ref, kref->metadata.value("source", "?"));
    if (!differences.empty())
      fmt::print("note        reference and model configs differ: {}\n", fmt::join(differences, ", "));
    fmt::print("text        {} tokens {}\n", ids.size(), tokenizer_used);
    if (kref && !vocab_check.empty()) fmt::print("vocabulary  {}\n", vocab_check);
    fmt::print("protocol    {}, ctx {}, {} windows, {} scored tokens\n", llm::protocol_name(p), r.ctx, r.windows,
               r.scored);
    fmt::print("perplexity  {:.4f} (nll {:.5f} +- {:.5f} nats/token)\n", r.perplexity, r.nll, r.nll_stderr);
    if (kres) print_kld(*kres);
    fmt::print("speed       {:.0f} tokens/s ({:.2f} s)\n", r.tokens_per_second, r.seconds);
    if (!saved.is_null())
      fmt::print("saved       {} ({:.2f} MB: {:.0f} bytes per scored token, written in {:.2f} s)\n", *save_ref,
                 saved["bytes"].get<uint64_t>() / 1e6, saved["bytes_per_scored_token"].get<double>(),
                 saved["write_seconds"].get<double>());
    if (!json->empty()) {
      nlohmann::json j = r.to_json();
      j["model"] = *model;
      j["format"] = m.format;
      j["size"] = size.to_json();
      j["text"] = tokens->empty() ? *text : *tokens;
      j["text_tokens"] = ids.size();
      j["tokenizer"] = tokenizer_used;
      if (kres) {
        nlohmann::json kj = kres->to_json();
        kj["reference"] = *ref;
        kj["reference_format"] = ref_model ? ref_model->format : "stored";
        if (ref_size) kj["reference_size"] = ref_size->to_json();
        if (stored_ref) kj["stored_reference"] = kref->metadata;
        kj["config_differences"] = differences;
        kj["vocabulary_check"] = vocab_check;
        j["kld"] = kj;
      }
      if (!saved.is_null()) j["saved_reference"] = saved;
      io::write_atomic(
          *json, [&](std::ostream& out) { out << j.dump(2) << "\n"; }, inputs);
    }
    return 0;
  };
}

}  // namespace pare::cli
