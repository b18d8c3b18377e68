// Weight quantization of a Llama through the one quantization pipeline (quant/quantize_blocks.h), with the
// blocks streamed from the model's memory-mapped weights (llama_blocks.h): the embeddings, each decoder block,
// the final norm and head are quantized, written to a work folder OUT.partial/ and released, so peak memory
// is about one block's weights whatever the model's size. Finished units stay on disk (io/unit_folder.h): an
// interrupted run started again with the same settings resumes after the last finished unit. The package
// (llama_package.h) is assembled from the units at the end, and the work folder removed.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pare/blocks/block_source.h"
#include "pare/llm/llama_stream.h"
#include "pare/quant/recipe.h"

namespace pare::llm {

struct LlamaQuantizeOptions {
  quant::Recipe recipe;  // weights only (abits 0); rules and exclusions match Hugging Face names
  std::string out;       // FILE.pare
  std::vector<std::string> protected_inputs;
  std::optional<std::string> tokenizer;  // tokenizer.model bytes to store in the package
  nlohmann::json metadata = nlohmann::json::object();
  // Calibration windows (calibration_text.h) for a method that learns block by block; unused by the others.
  // Such a method needs every block's data path, so it starts over instead of resuming a work folder.
  std::vector<blocks::Values> calibration;
  // (units finished, units in all); called once at the start with the units found finished on disk.
  std::function<void(int64_t, int64_t)> progress;
  // Polled after each unit: true stops the run with `interrupted` set; the work folder keeps the finished
  // units, so the same call resumes (Ctrl-C in the CLI).
  std::function<bool()> should_stop;
};

struct LlamaQuantizeResult {
  // One row per tensor, in config order: quant::QuantizedLayer::to_json for the quantized ones; tensors kept
  // in float have "quantized": false, "grid" "float16" or "float32" and their bits per weight.
  nlohmann::json weights = nlohmann::json::array();
  int64_t units = 0, resumed_units = 0;
  int64_t params = 0, quantized_params = 0, file_bytes = 0;
  double quantized_bits_per_weight = 0;  // over the quantized (linear) weights alone
  double file_bits_per_weight = 0;       // the whole file (embeddings, head, norms, scales, header) per parameter
  // Bit operations of the quantized projections per token, relative to the same projections at 8-bit
  // weights (a projection's MACs per token equal its weight count), and their mean REx cost factor.
  double relative_bops = 0, cost_factor = 1;
  double seconds = 0;
  bool interrupted = false;  // should_stop asked: no package yet; finished_units are in OUT.partial
  int64_t finished_units = 0;
  nlohmann::json to_json() const;
};

// Errors before any work: a method that does not apply to Llamas, activation bits, a pattern matching no
// weight, a work folder left by a run with other settings.
LlamaQuantizeResult quantize_llama(const LlamaModel& m, const LlamaQuantizeOptions& o);

// The weights quantize_llama quantizes under `recipe`, as quantizable layers named by their Hugging Face
// names (node = weight = name), and their plans.
std::vector<quant::LayerPlan> plan_llama(const LlamaConfig& c, const quant::Recipe& recipe);

}  // namespace pare::llm
