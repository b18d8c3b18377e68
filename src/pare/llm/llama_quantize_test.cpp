// Streamed Llama quantization to a .pare package: what the package holds, that perplexity runs on it,
// and that an interrupted run resumes to the same bytes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "pare/blocks/block_driver.h"
#include "pare/error.h"
#include "pare/formats/ggml_blocks.h"
#include "pare/formats/quantized_tensor.h"
#include "pare/io/gguf.h"
#include "pare/llm/gguf_llama.h"
#include "pare/llm/llama_blocks.h"
#include "pare/llm/llama_package.h"
#include "pare/llm/llama_quantize.h"
#include "pare/llm/model_loader.h"
#include "pare/llm/model_size.h"
#include "pare/llm/perplexity.h"
#include "pare/quant/method_registry.h"
#include "pare/quant/methods/rtn.h"
#include "pare/quant/quantize_weight.h"

namespace pare::llm {
namespace {
namespace fs = std::filesystem;

struct Folder {
  fs::path dir;
  explicit Folder(const std::string& name) : dir(fs::temp_directory_path() / name) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Folder() { fs::remove_all(dir); }
  std::string operator/(const std::string& f) const { return (dir / f).string(); }
};

// A random test-preset model written as a Hugging Face folder (fp16).
std::string write_model(const Folder& f) {
  const LlamaConfig c = LlamaConfig::preset("test");
  const WeightSource w = random_weights(c, 7);
  std::vector<std::pair<std::string, at::Tensor>> weights;
  for (const auto& t : llama_tensors(c)) weights.emplace_back(t.name, w(t.name));
  save_llama_folder(f / "model", c, weights, at::kHalf);
  return f / "model";
}

// A vocabulary of `n` pieces, for GGUF files (their tokenizer keys).
Vocab random_vocab(int64_t n) {
  Vocab v;
  for (int64_t i = 0; i < n; ++i) v.pieces.push_back({"p" + std::to_string(i), 0.0f, PieceType::Normal});
  v.bos_id = 1;
  v.eos_id = 2;
  v.unk_id = 0;
  return v;
}

quant::Recipe w4g32() {
  quant::Recipe r;
  r.wbits = 4;
  r.abits = 0;
  r.granularity = "group:32";
  return r;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(LlamaQuantize, PackageHoldsTheRoundedWeightsAndRuns) {
  Folder f("pare_llama_quantize_test1");
  const LlamaModel src = load_llama(write_model(f));
  LlamaQuantizeOptions o;
  o.recipe = w4g32();
  o.out = f / "q.pare";
  const LlamaQuantizeResult r = quantize_llama(src, o);
  EXPECT_EQ(r.units, src.config.num_layers + 2);
  EXPECT_EQ(r.resumed_units, 0);
  EXPECT_FALSE(fs::exists(o.out + ".partial"));  // removed once the package is complete
  // int4 codes + one float16 scale per 32 weights.
  EXPECT_DOUBLE_EQ(r.quantized_bits_per_weight, 4.0 + 16.0 / 32.0);
  EXPECT_GT(r.file_bits_per_weight, r.quantized_bits_per_weight);  // embeddings and head stay float16

  // The size read back from the package's index is what the quantizer reported, and the float16 source
  // folder is 16 bits per projection weight.
  const ModelSize size = model_size(o.out, src.config);
  EXPECT_DOUBLE_EQ(size.linear_bits_per_weight(), r.quantized_bits_per_weight);
  EXPECT_DOUBLE_EQ(size.file_bits_per_weight(), r.file_bits_per_weight);
  EXPECT_EQ(size.params, r.params);
  EXPECT_DOUBLE_EQ(model_size(f / "model", src.config).linear_bits_per_weight(), 16.0);

  ASSERT_TRUE(is_llama_package(o.out));
  const LlamaModel q = load_llama(o.out);
  EXPECT_EQ(q.format, "pare");
  quant::WeightQuantOptions wo;
  wo.grid = quant::Grid::uniform(4);
  wo.granularity = quant::Granularity::group(32);
  wo.scale.scale_bits = 16;
  int quantized = 0;
  for (const auto& t : llama_tensors(src.config)) {
    const at::Tensor w = src.weights(t.name).to(at::kFloat), got = q.weights(t.name).to(at::kFloat);
    if (t.name.find("_proj.weight") != std::string::npos) {
      EXPECT_TRUE(at::equal(got, quant::quantize_weight(w, 0, wo, t.name).dequantize())) << t.name;
      EXPECT_FALSE(at::equal(got, w)) << t.name;
      ++quantized;
    } else {
      EXPECT_TRUE(at::equal(got, w)) << t.name;  // float16 source kept exactly
    }
  }
  EXPECT_EQ(quantized, 7 * src.config.num_layers);

  // Perplexity on the package equals perplexity of the same dequantized weights held in memory.
  LlamaModel mem = q;
  std::map<std::string, at::Tensor> held;
  for (const auto& t : llama_tensors(src.config)) held[t.name] = q.weights(t.name);
  mem.weights = [held](const std::string& n) { return held.count(n) ? held.at(n) : at::Tensor(); };
  mem.release = nullptr;
  std::vector<int32_t> tokens(600);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>((i * 37 + i / 7) % 256);
  const PplWindows win = make_windows(tokens, 64, PplProtocol::Windows, 1);
  EXPECT_EQ(perplexity(q, win).perplexity, perplexity(mem, win).perplexity);
  EXPECT_NE(perplexity(q, win).perplexity, perplexity(src, win).perplexity);
}

TEST(LlamaQuantize, InterruptedRunResumesToTheSameBytes) {
  Folder f("pare_llama_quantize_test2");
  const LlamaModel src = load_llama(write_model(f));
  LlamaQuantizeOptions o;
  o.recipe = w4g32();
  o.out = f / "whole.pare";
  quantize_llama(src, o);

  o.out = f / "resumed.pare";
  int64_t polls = 0;
  o.should_stop = [&] { return ++polls == 2; };  // Ctrl-C during the second unit
  const LlamaQuantizeResult stopped = quantize_llama(src, o);
  EXPECT_TRUE(stopped.interrupted);
  EXPECT_EQ(stopped.finished_units, 2);
  EXPECT_FALSE(fs::exists(o.out));
  EXPECT_TRUE(fs::exists(o.out + ".partial/unit-0001.json"));
  EXPECT_FALSE(fs::exists(o.out + ".partial/unit-0002.json"));
  o.should_stop = nullptr;
  int64_t first_progress = -1;
  o.progress = [&](int64_t done, int64_t) {
    if (first_progress < 0) first_progress = done;
  };
  const LlamaQuantizeResult r = quantize_llama(src, o);
  EXPECT_EQ(r.resumed_units, 2);
  EXPECT_EQ(first_progress, 2);
  EXPECT_EQ(file_bytes(f / "whole.pare"), file_bytes(f / "resumed.pare"));
}

TEST(LlamaQuantize, RefusesWhatItCannotDo) {
  Folder f("pare_llama_quantize_test3");
  const LlamaModel src = load_llama(write_model(f));
  LlamaQuantizeOptions o;
  o.out = f / "q.pare";
  o.recipe = w4g32();
  o.recipe.abits = 8;
  EXPECT_THROW(quantize_llama(src, o), Error);  // weights only
  o.recipe = w4g32();
  o.recipe.method = "gptq";
  EXPECT_THROW(quantize_llama(src, o), Error);
  o.recipe.method = "dfq";  // needs BatchNorm and ReLU
  EXPECT_THROW(quantize_llama(src, o), Error);
  o.recipe = w4g32();
  o.recipe.method = "rex";
  o.recipe.options = {{"order", 2}, {"sparsity", 0.5}, {"ensemble", 2}, {"pipe_split", "first"}};  // RMSNorm: no PIPE
  EXPECT_THROW(quantize_llama(src, o), Error);
  o.recipe = w4g32();
  o.recipe.exclude = {"model\\.layers\\.9\\..*"};  // no such layer
  EXPECT_THROW(quantize_llama(src, o), Error);
  // A work folder from a run with other settings is not silently mixed in.
  o.recipe = w4g32();
  o.should_stop = [] { return true; };
  EXPECT_TRUE(quantize_llama(src, o).interrupted);
  o.should_stop = nullptr;
  o.recipe.wbits = 3;
  try {
    quantize_llama(src, o);
    FAIL() << "mixed two settings";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("other settings"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("/recipe/wbits: folder 4, now 3"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(o.out));
}

// A W4 group:32 (W8 group:32) package exported to Q4_0 (Q8_0) keeps its codes: the GGUF holds the package's
// codes and scales, so llama.cpp sees exactly the weights pare evaluated, with no second rounding.
TEST(LlamaQuantize, GgufExportKeepsThePackagesCodes) {
  Folder f("pare_llama_quantize_test5");
  const LlamaModel src = load_llama(write_model(f));
  const Vocab vocab = random_vocab(src.config.vocab_size);
  for (auto [bits, type] :
       {std::pair<int, formats::GgmlType>{4, formats::GgmlType::Q4_0}, {8, formats::GgmlType::Q8_0}}) {
    LlamaQuantizeOptions o;
    o.recipe = w4g32();
    o.recipe.wbits = bits;
    o.out = f / ("q" + std::to_string(bits) + ".pare");
    quantize_llama(src, o);
    const LlamaModel q = load_llama(o.out);
    const GgufExport r = export_llama_gguf(q, vocab, type, f / "q.gguf", "test");
    EXPECT_EQ(r.kept_codes, 7 * src.config.num_layers);
    EXPECT_TRUE(r.rounded.empty());
    const io::GgufFile g = io::GgufFile::open(f / "q.gguf");
    for (const auto& t : llama_tensors(src.config)) {
      if (t.name.find("_proj.weight") == std::string::npos) continue;
      const std::string name = gguf_tensor_name(t.name);
      const io::GgufBytes raw = g.raw(name);
      const formats::QuantizedTensor held = formats::from_ggml_blocks(raw.data, t.shape[0], t.shape[1], type);
      formats::QuantizedTensor stored = q.quantized(t.name)->main;
      const int64_t heads = t.name.find("q_proj") != std::string::npos   ? src.config.num_heads
                            : t.name.find("k_proj") != std::string::npos ? src.config.num_kv_heads
                                                                         : 0;
      if (heads > 0) {
        stored.codes = hf_to_gguf_rows(stored.codes, heads);
        stored.scales = hf_to_gguf_rows(stored.scales, heads);
      }
      EXPECT_TRUE(at::equal(held.codes, stored.codes)) << name;
      EXPECT_TRUE(at::equal(held.scales, stored.scales)) << name;
    }
    // Read back, the GGUF model's weights are the package's, value for value.
    const LlamaModel back = load_llama(f / "q.gguf");
    for (const auto& t : llama_tensors(src.config)) {
      if (t.name.find("_proj.weight") == std::string::npos) continue;
      EXPECT_TRUE(at::equal(back.weights(t.name), q.weights(t.name).to(at::kFloat))) << t.name;
    }
  }
}

// A method that learns gets every Llama block (embeddings, decoder layers, head) with calibration windows on
// its float-prefix and quantized-prefix paths; what it sets is what the package holds.
TEST(LlamaQuantize, AMethodThatLearnsRunsOnLlamaBlocks) {
  Folder f("pare_llama_quantize_test6");
  const LlamaModel src = load_llama(write_model(f));
  std::vector<std::pair<int64_t, bool>> seen;  // block, quantized-prefix hidden state differs from the float one
  quant::MethodRegistry reg = quant::builtin_methods();
  quant::Method m;
  m.name = "probe";
  m.data = quant::DataNeed::Calibration;
  m.data_required = true;
  m.block = [&seen](quant::BlockJob& job) {
    blocks::BlockVisit& v = job.visit;
    const std::string h = LlamaBlocks::hidden_value(v.index() - 1);
    seen.emplace_back(v.index(), v.index() > 0 && !at::equal(v.float_inputs(0).at(h), v.quantized_inputs(0).at(h)));
    for (auto& l : job.layers)
      l.weight = quant::quantize_weight(job.source.weight(l.plan.layer.weight), 0, quant::rtn_options(l.plan),
                                        l.plan.layer.weight);
  };
  reg.add(m);
  LlamaQuantizeOptions o;
  o.recipe =
      quant::Recipe::from_json({{"method", "probe"}, {"wbits", 4}, {"abits", 0}, {"granularity", "group:32"}}, "", reg);
  o.out = f / "learned.pare";
  EXPECT_THROW(quantize_llama(src, o), Error);  // no calibration windows
  at::Tensor ids = at::randint(0, src.config.vocab_size, {4, 16}, at::TensorOptions().dtype(at::kLong));
  o.calibration = {{{"input_ids", ids.narrow(0, 0, 2)}}, {{"input_ids", ids.narrow(0, 2, 2)}}};
  quantize_llama(src, o);
  ASSERT_EQ(static_cast<int64_t>(seen.size()), src.config.num_layers + 2);
  EXPECT_FALSE(seen[1].second);  // the first decoder layer reads the embeddings, unquantized
  EXPECT_TRUE(seen[2].second);   // the second reads the first, quantized
  LlamaQuantizeOptions plain;
  plain.recipe = w4g32();
  plain.out = f / "plain.pare";
  quantize_llama(src, plain);
  const LlamaModel a = load_llama(o.out), b = load_llama(plain.out);
  for (const auto& t : llama_tensors(src.config))
    EXPECT_TRUE(at::equal(a.weights(t.name), b.weights(t.name))) << t.name;
}

// The reconstruction engine on Llama decoder blocks (rotary tables and mask shared by a batch's windows): every
// projection learned or kept at its start, no block's calibration loss above RTN's, and the package holds it.
TEST(LlamaQuantize, ReconstructionRunsOnDecoderBlocks) {
  Folder f("pare_llama_quantize_test7");
  const LlamaModel src = load_llama(write_model(f));
  LlamaQuantizeOptions o;
  o.recipe = quant::Recipe::from_json(
      {{"method", "qdrop"}, {"wbits", 3}, {"abits", 0}, {"granularity", "group:32"}, {"iters", 30}, {"batch", 2}}, "");
  o.out = f / "qdrop.pare";
  at::manual_seed(2);
  const at::Tensor ids = at::randint(0, src.config.vocab_size, {4, 16}, at::TensorOptions().dtype(at::kLong));
  o.calibration = {{{"input_ids", ids.narrow(0, 0, 2)}}, {{"input_ids", ids.narrow(0, 2, 2)}}};
  const LlamaQuantizeResult r = quantize_llama(src, o);
  int learned = 0;
  for (const auto& w : r.weights) {
    if (!w.contains("block_loss")) continue;
    EXPECT_LE(w["block_loss"].get<double>(), w["block_loss_init"].get<double>());
    ++learned;
  }
  EXPECT_EQ(learned, 7 * src.config.num_layers);
  EXPECT_TRUE(fs::exists(o.out));
  o.recipe = quant::Recipe::from_json({{"method", "brecq"}, {"wbits", 3}, {"abits", 0}}, "");
  EXPECT_THROW(quantize_llama(src, o), Error);  // the Fisher needs a whole-graph backward pass
}

TEST(LlamaQuantize, RulesAndExclusionsUseHuggingFaceNames) {
  const LlamaConfig c = LlamaConfig::preset("test");
  quant::Recipe r = w4g32();
  r.exclude = {".*down_proj.*"};
  r.layers.push_back({"model\\.layers\\.0\\..*", 8, std::nullopt, std::nullopt});
  int excluded = 0, eight = 0;
  for (const auto& p : plan_llama(c, r)) {
    if (!p.quantize) ++excluded;
    if (p.quantize && p.weight_grid.bits == 8) ++eight;
  }
  EXPECT_EQ(excluded, c.num_layers);
  EXPECT_EQ(eight, 6);  // layer 0's projections but its excluded down_proj
}

}  // namespace
}  // namespace pare::llm

namespace pare::llm {
namespace {

// ggml's Q8_0 activation rounding: per block of 32, d = max|x| / 127, values round(x / d) * float16(d).
TEST(LlamaCppNumerics, Q8_0RoundingOfActivations) {
  at::Tensor x = at::randn({2, 3, 64}, at::TensorOptions().dtype(at::kFloat)) * 3;
  x.index_put_({0, 0, at::indexing::Slice(0, 32)}, 0.0f);  // a zero block stays zero
  const at::Tensor y = round_activation(x, "q8_0");
  ASSERT_EQ(y.sizes(), x.sizes());
  const at::Tensor blocks = x.reshape({2, 3, 2, 32}), yb = y.reshape({2, 3, 2, 32});
  const at::Tensor d = blocks.abs().amax(-1, true) / 127.0f, d16 = d.to(at::kHalf).to(at::kFloat);
  // Every value is an integer multiple (|k| <= 127) of the block's float16 scale, within half a step of x plus
  // what the float16 scale adds (up to 127 times its rounding).
  const at::Tensor k = yb / at::clamp_min(d16, 1e-30f);
  EXPECT_TRUE(at::allclose(k, at::round(k), 0, 1e-3));
  EXPECT_LE(k.abs().max().item<float>(), 127.5f);
  EXPECT_TRUE(((yb - blocks).abs() <= d * 0.5f + (d16 - d).abs() * 127.0f + 1e-6f).all().item<bool>());
  EXPECT_TRUE(at::equal(y[0][0].narrow(0, 0, 32), at::zeros({32})));
  EXPECT_FALSE(at::equal(y, x));
  EXPECT_TRUE(at::equal(round_activation(x, "f16"), x.to(at::kHalf).to(at::kFloat)));
  EXPECT_TRUE(at::equal(round_activation(x, ""), x));
}

// The graph's rounding (ops in the block graph) and the head's (libtorch) change the logits slightly.
TEST(LlamaCppNumerics, RoundedModelStaysCloseToTheFloatOne) {
  const LlamaConfig c = LlamaConfig::preset("test");
  LlamaModel m;
  m.config = c;
  m.weights = random_weights(c, 3);
  m.source = "random";
  m.format = "graph";
  at::Tensor ids = at::randint(0, c.vocab_size, {2, 16}, at::TensorOptions().dtype(at::kLong));
  auto logits = [&](const LlamaModel& model) {
    at::Tensor out;
    stream_logits(model, ids, {}, [&](int64_t, const at::Tensor& l) { out = out.defined() ? at::cat({out, l}) : l; });
    return out;
  };
  const at::Tensor exact = logits(m);
  LlamaModel q = m;
  q.rounding = [](const std::string&) { return std::string("q8_0"); };
  const at::Tensor rounded = logits(q);
  const double rel = ((rounded - exact).norm() / exact.norm()).item<double>();
  EXPECT_GT(rel, 1e-5);  // it does something
  EXPECT_LT(rel, 2e-2);  // 8-bit activations: a small change
  q.rounding = [](const std::string&) { return std::string(); };
  EXPECT_TRUE(at::equal(logits(q), exact));
}

}  // namespace
}  // namespace pare::llm
