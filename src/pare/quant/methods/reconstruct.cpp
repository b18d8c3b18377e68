// The block-reconstruction engine and its named presets as registry entries (docs/methods/reconstruct.md).
// Every entry declares every switch of the engine; the presets differ in their defaults only:
//   adaround  layer by layer, AdaRound's V, quantized-prefix inputs (arXiv 2004.10568)
//   brecq     block by block, AdaRound's V, Fisher-weighted output loss, learned activation scales
//             (arXiv 2102.05426)
//   qdrop     block by block, AdaRound's V, QDrop's random mix of float and quantized values, learned
//             activation scales (arXiv 2203.05740)
//   nupes     PowerQuant's power grid, then full-space latent codes and each layer's exponent learned by
//             gradient (arXiv 2308.05600)
//   reconstruct  the engine with the defaults our sweep chose (docs/results/reconstruct.md)
#include <fmt/format.h>

#include "pare/error.h"
#include "pare/quant/methods/all_methods.h"
#include "pare/quant/methods/reconstruct_engine.h"
#include "pare/quant/methods/rtn.h"

namespace pare::quant {
namespace {

Method engine_method(std::string name, std::string summary, const ReconstructOptions& defaults) {
  Method m;
  m.name = std::move(name);
  m.summary = std::move(summary);
  m.doc = "docs/methods/reconstruct.md";
  m.data = DataNeed::Calibration;
  m.data_required = true;
  m.grids = {GridKind::Uniform, GridKind::Ternary, GridKind::Power};
  m.options = reconstruct_option_list(defaults);
  m.check = [](const Recipe& r, const std::string& where) {
    const std::string init = r.option("init").get<std::string>();
    if (init == "powerquant" && r.option("variable").get<std::string>() == "offset")
      throw recipe_error("a power grid learns its codes in the power domain, not as an offset in weight units", where)
          .got("--init powerquant --variable offset")
          .hint("pass --variable latent (NUPES) or --variable adaround");
    if ((init == "tquant" || init == "mquant") && r.wbits != 2)
      throw recipe_error(
          "ternary starting scales (--init " + r.option("init").get<std::string>() + ") are for 2-bit weights", where)
          .got(fmt::format("--wbits {}", r.wbits))
          .hint("pass --wbits 2, or --init rtn");
  };
  m.check_model = [](const Recipe& r, ModelKind kind, const std::string& source) {
    if (kind != ModelKind::Llama) return;
    std::string what;
    if (r.option("loss").get<std::string>() == "fisher") what = "--loss fisher";
    if (r.option("unit").get<std::string>() == "layer") what = "--unit layer";
    if (what.empty()) return;
    Error e("method " + r.method + " with " + what + " works on ONNX graphs only");
    if (!source.empty()) e.file(source);
    throw e.hint(
        "a Llama is reconstructed decoder block by decoder block with the plain output loss: pass "
        "--loss mse --unit block");
  };
  m.qdq_refusal = [](const Recipe& r) -> std::string {
    const std::string init = r.option("init").get<std::string>();
    if (r.wbits == 2 && (init == "tquant" || init == "mquant"))
      return "ternary scales have no exact DequantizeLinear form here";
    if (init == "powerquant") return "a power grid is not one DequantizeLinear";
    return "";
  };
  m.layerwise = [](const Recipe& r) { return r.option("unit").get<std::string>() == "layer"; };
  m.output_fisher = [](const Recipe& r) { return r.option("loss").get<std::string>() == "fisher"; };
  m.block = [](BlockJob& job) { reconstruct_block(job, reconstruct_options(job.recipe)); };
  m.weight = [](const WeightJob& job) { return LayerWeight{rtn_weight(job), "outside any block: RTN", nullptr}; };
  return m;
}

}  // namespace

Method reconstruct_method() {
  // Chosen by bench/reconstruct.py on ResNet-20 (docs/results/reconstruct.md): latent codes with straight-through
  // rounding beat AdaRound's V at W4A4 and W2A8 at 100 steps per block.
  ReconstructOptions d;
  d.weight.variable = RoundingVariable::Latent;
  d.lr = 5e-3;
  return engine_method("reconstruct", "block reconstruction with every axis a switch (loss, variable, inputs, ...)", d);
}

Method adaround_method() {
  ReconstructOptions d;
  d.unit = "layer";
  d.input = ReconstructInput::Quantized;
  return engine_method("adaround", "AdaRound: learned up/down rounding, layer by layer", d);
}

Method brecq_method() {
  ReconstructOptions d;
  d.loss = ReconstructLoss::Fisher;
  d.input = ReconstructInput::Quantized;
  d.learn_act = true;
  return engine_method("brecq", "BRECQ: AdaRound rounding per block with a Fisher-weighted output loss", d);
}

Method qdrop_method() {
  ReconstructOptions d;
  d.input = ReconstructInput::QDrop;
  d.learn_act = true;
  return engine_method("qdrop", "QDrop: block reconstruction with activation quantization dropped at random", d);
}

Method nupes_method() {
  ReconstructOptions d;
  d.init = "powerquant";
  d.weight.variable = RoundingVariable::Latent;
  d.weight.full_space = true;
  d.weight.learn_exponent = true;
  d.lr = 5e-3;
  return engine_method("nupes",
                       "NUPES: power grid from PowerQuant, then codes and each layer's exponent learned per block", d);
}

}  // namespace pare::quant
