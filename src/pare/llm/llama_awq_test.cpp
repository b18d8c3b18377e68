// AWQ on Llamas: as one ONNX-style graph, the scales folded into the RMSNorm gains, the value projection's rows
// (through attention) and up_proj's rows (through SwiGLU) leave the float model's logits unchanged; streamed
// to a package, the folded gains are stored and used, and the quantized weights are plain grid tensors.
#include <gtest/gtest.h>

#include <filesystem>

#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/llm/llama_graph.h"
#include "pare/llm/llama_quantize.h"
#include "pare/llm/model_loader.h"
#include "pare/quant/quantize_model.h"

namespace pare::llm {
namespace {
namespace fs = std::filesystem;

at::Tensor logits(const ir::Graph& g, const at::Tensor& ids) {
  exec::Executor ex(g);
  return ex.run({{"input_ids", ids}}).at("logits");
}

TEST(LlamaAwq, FoldedGraphComputesTheSameLogits) {
  const LlamaConfig c = LlamaConfig::preset("test");
  const ir::Graph g = llama_graph(c, random_weights(c, 7));
  at::manual_seed(2);
  data::Dataset calib;
  calib.name = "random";
  calib.inputs = at::randint(0, c.vocab_size, {8, 16}, at::TensorOptions().dtype(at::kLong));
  quant::QuantizeOptions o;
  o.calib = &calib;
  o.calibration.batch_size = 4;
  o.recipe = quant::Recipe::from_json({{"method", "awq"}, {"wbits", 4}, {"abits", 0}}, "");
  const quant::QuantizeResult r = quant::quantize_model(g, o);
  const at::Tensor ref = logits(g, calib.inputs), got = logits(r.folded, calib.inputs);
  EXPECT_LE((got - ref).abs().max().item<double>(), 1e-5 * ref.abs().max().item<double>());
  int scaled = 0;
  for (const auto& l : r.layers) {
    // Every group finds its fold but o_proj: the test preset has grouped-query attention (2 heads per v head).
    if (l.plan.layer.weight.find("o_proj") != std::string::npos)
      EXPECT_NE(l.note.find("grouped-query"), std::string::npos) << l.note;
    else
      EXPECT_TRUE(l.note.empty()) << l.plan.layer.node << ": " << l.note;
    if (l.fields.is_object() && l.fields.value("alpha", 0.0) > 0) ++scaled;
  }
  EXPECT_GT(scaled, 0);
  // The RMSNorm gains carry 1/s.
  EXPECT_FALSE(at::equal(r.folded.initializers.at("model.layers.0.input_layernorm.weight"),
                         g.initializers.at("model.layers.0.input_layernorm.weight")));
}

TEST(LlamaAwq, PackageStoresTheFoldedGainsAndRefusesWithoutCalibration) {
  const fs::path dir = fs::temp_directory_path() / "pare_llama_awq_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const LlamaConfig c = LlamaConfig::preset("test");
  const WeightSource w = random_weights(c, 7);
  std::vector<std::pair<std::string, at::Tensor>> weights;
  for (const auto& t : llama_tensors(c)) weights.emplace_back(t.name, w(t.name));
  save_llama_folder((dir / "model").string(), c, weights, at::kFloat);
  const LlamaModel src = load_llama((dir / "model").string());
  LlamaQuantizeOptions o;
  o.recipe = quant::Recipe::from_json({{"method", "awq"}, {"wbits", 4}, {"abits", 0}, {"granularity", "group:32"}}, "");
  o.out = (dir / "awq.pare").string();
  EXPECT_THROW(quantize_llama(src, o), Error);  // no calibration windows
  const at::Tensor ids = at::randint(0, c.vocab_size, {4, 16}, at::TensorOptions().dtype(at::kLong));
  o.calibration = {{{"input_ids", ids.narrow(0, 0, 2)}}, {{"input_ids", ids.narrow(0, 2, 2)}}};
  quantize_llama(src, o);
  const LlamaModel q = load_llama(o.out);
  // The package's model: its gains are the folded ones, and its logits stay near the float model's.
  const ir::Graph fl = llama_graph(c, src.weights), qg = llama_graph(c, q.weights);
  EXPECT_FALSE(at::equal(q.weights("model.layers.0.input_layernorm.weight").to(at::kFloat),
                         src.weights("model.layers.0.input_layernorm.weight").to(at::kFloat)));
  const at::Tensor ref = logits(fl, ids), got = logits(qg, ids);
  EXPECT_LT((got - ref).pow(2).mean().item<double>(), 0.05 * ref.pow(2).mean().item<double>());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pare::llm
