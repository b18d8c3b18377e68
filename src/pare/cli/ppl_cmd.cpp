// `pare ppl MODEL --text FILE --ctx N --protocol windows|llamacpp`: perplexity of a Llama model (Hugging
// Face folder, GGUF file or .pare package), computed layer by layer from memory-mapped weights.
#include <fmt/format.h>

#include <iostream>

#include "pare/cli/command.h"
#include "pare/error.h"
#include "pare/exec/threads.h"
#include "pare/io/atomic_file.h"
#include "pare/io/npy.h"
#include "pare/llm/model_loader.h"
#include "pare/llm/model_tokenizer.h"
#include "pare/llm/perplexity.h"
#include "pare/report/progress.h"

namespace pare::cli {

Action add_ppl_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("ppl", "Perplexity of a Llama model on a text (Hugging Face folder, GGUF, .pare)");
  auto model = std::make_shared<std::string>();
  auto text = std::make_shared<std::string>();
  auto tokens = std::make_shared<std::string>();
  auto tokenizer = std::make_shared<std::string>();
  auto ctx = std::make_shared<int64_t>(512);
  auto protocol = std::make_shared<std::string>("windows");
  auto json = std::make_shared<std::string>();
  auto threads = std::make_shared<int>(0);
  auto batch = std::make_shared<int64_t>(8);
  auto quiet = std::make_shared<bool>(false);
  cmd->add_option("model", *model, "Hugging Face model folder, .gguf file or .pare package")->required();
  auto* t = cmd->add_option("--text", *text, "text to score: a UTF-8 file, text:FILE or brown:heldout|valid|train");
  auto* k = cmd->add_option("--tokens", *tokens, "token ids to score instead of a text (.npy, 1-D integers)");
  t->excludes(k);
  cmd->add_option("--tokenizer", *tokenizer,
                  "SentencePiece tokenizer.model (default: the model folder's, or the GGUF file's vocabulary)");
  cmd->add_option("--ctx", *ctx, "tokens per window")->check(CLI::Range(4, 1 << 20));
  cmd->add_option("--protocol", *protocol,
                  "windows (non-overlapping windows, every token after the first scored) or llamacpp "
                  "(llama-perplexity: BOS per chunk, second half scored)")
      ->check(CLI::IsMember({"windows", "llamacpp"}));
  cmd->add_option("--json", *json, "also write the results as JSON to this file");
  cmd->add_option("--threads", *threads, "compute threads (0: one per core)");
  cmd->add_option("--batch", *batch, "windows per run (memory: attention scores of this many windows)")
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_flag("--quiet", *quiet, "no progress output");
  return [=]() {
    exec::set_threads(*threads);
    if (text->empty() && tokens->empty())
      throw Error("nothing to score").hint("give --text FILE (or --tokens FILE.npy of token ids)");
    // Everything that can fail on bad input fails here, before the long part.
    llm::LlamaModel m = llm::load_llama(*model);
    std::vector<int32_t> ids;
    std::string tokenizer_used;
    if (!tokens->empty()) {
      at::Tensor a = io::load_npy(*tokens);
      if (a.dim() != 1 || !at::isIntegralType(a.scalar_type(), false))
        throw Error("token ids must be a 1-D integer array")
            .file(*tokens)
            .got(fmt::format("{} of {}", ir::shape_string(a.sizes()), std::string(c10::toString(a.scalar_type()))));
      a = a.to(at::kInt).contiguous();
      ids.assign(a.data_ptr<int32_t>(), a.data_ptr<int32_t>() + a.numel());
      tokenizer_used = "(token ids from " + *tokens + ")";
    } else {
      const data::TextSpec spec = llm::text_argument(*text);
      const llm::Tokenizer tok = llm::model_tokenizer(*model, *tokenizer, m.config.vocab_size);
      llm::TokenStream ts = llm::load_token_stream(spec, tok);
      tokenizer_used = fmt::format("(tokenizer {}, {:.3f} tokens/word)", tok.source(), ts.tokens_per_word());
      ids = std::move(ts.ids);
    }
    const llm::PplProtocol p = llm::parse_protocol(*protocol);
    llm::PplWindows w = llm::make_windows(ids, *ctx, p, m.config.bos_token_id);
    report::Progress bar("ppl", m.config.num_layers + 1, *quiet);
    llm::StreamOptions so;
    so.sub_batch = *batch;
    so.progress = [&](int64_t done, int64_t) {
      bar.update(done, fmt::format("{} windows of {}", w.inputs.size(0), *ctx));
    };
    llm::PplResult r = llm::perplexity(m, w, so);
    bar.finish(fmt::format("{:.0f} tokens/s", r.tokens_per_second));
    fmt::print("model       {} ({})\n", *model, m.format);
    fmt::print("text        {} tokens {}\n", ids.size(), tokenizer_used);
    fmt::print("protocol    {}, ctx {}, {} windows, {} scored tokens\n", llm::protocol_name(p), r.ctx, r.windows,
               r.scored);
    fmt::print("perplexity  {:.4f} (nll {:.5f} +- {:.5f} nats/token)\n", r.perplexity, r.nll, r.nll_stderr);
    fmt::print("speed       {:.0f} tokens/s ({:.2f} s)\n", r.tokens_per_second, r.seconds);
    if (!json->empty()) {
      nlohmann::json j = r.to_json();
      j["model"] = *model;
      j["format"] = m.format;
      j["text"] = tokens->empty() ? *text : *tokens;
      j["text_tokens"] = ids.size();
      j["tokenizer"] = tokenizer_used;
      io::write_atomic(*json, [&](std::ostream& out) { out << j.dump(2) << "\n"; }, {*model, *text, *tokens});
    }
    return 0;
  };
}

}  // namespace pare::cli
