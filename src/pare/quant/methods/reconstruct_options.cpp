#include "pare/quant/methods/reconstruct_options.h"

namespace pare::quant {
namespace {

std::string name_of(ReconstructLoss l) { return l == ReconstructLoss::Mse ? "mse" : "fisher"; }
std::string name_of(ReconstructInput i) {
  return i == ReconstructInput::Float ? "float" : i == ReconstructInput::Quantized ? "quantized" : "qdrop";
}
std::string name_of(RoundingVariable v) {
  return v == RoundingVariable::AdaRound ? "adaround" : v == RoundingVariable::Offset ? "offset" : "latent";
}

}  // namespace

std::vector<MethodOption> reconstruct_option_list(const ReconstructOptions& d) {
  return {
      choice_option("loss", name_of(d.loss), {"mse", "fisher"},
                    "block output error: plain, or weighted by the squared gradient of the model's loss (BRECQ)"),
      choice_option("variable", name_of(d.weight.variable), {"adaround", "offset", "latent"},
                    "what is learned: AdaRound's V, an offset on W with straight-through rounding, or latent codes"),
      bool_option("full_space", d.weight.full_space, "offset/latent may reach any code, not only floor or ceil"),
      bool_option("learn_scale", d.weight.learn_scale, "learn the weight scales too (LSQ gradient)"),
      choice_option("init", d.init, {"rtn", "gptq", "tquant", "mquant", "powerquant"},
                    "start: RTN, GPTQ's codes, ternary scales (tquant/mquant, 2-bit), PowerQuant's power grid"),
      bool_option("learn_exponent", d.weight.learn_exponent, "power grid: learn each layer's exponent (NUPES)"),
      choice_option("input", name_of(d.input), {"float", "quantized", "qdrop"},
                    "block inputs: float prefix, quantized prefix, or QDrop's random mix of the two"),
      real_option("drop_prob", d.drop_prob, "QDrop: share of values kept float (inputs and activation quantizers)", 0,
                  1),
      bool_option("learn_act", d.learn_act, "learn the activation scales of the block's layers (LSQ)"),
      choice_option("optimizer", d.optimizer, {"adam", "sgd"}, "optimizer of the learned variables"),
      choice_option("schedule", d.schedule, {"cosine", "constant"}, "learning-rate schedule over the iterations"),
      real_option("lr", d.lr, "learning rate of the rounding variables", 0, 10),
      real_option("scale_lr", d.scale_lr, "learning rate of learned weight and activation scales", 0, 10),
      real_option("exponent_lr", d.exponent_lr, "learning rate of learned power exponents", 0, 10),
      int_option("iters", d.iters, "optimizer steps per block", 0, 1e7),
      int_option("batch", d.batch, "samples per step (drawn from one calibration batch)", 1, 1e6),
      real_option("reg_weight", d.reg_weight, "weight of AdaRound's rounding regularizer", 0, 1e6),
      real_option("beta_start", d.beta_start, "AdaRound's regularizer exponent at the end of warm-up", 1, 1000),
      real_option("beta_end", d.beta_end, "AdaRound's regularizer exponent at the last step", 1, 1000),
      real_option("warmup", d.warmup, "share of the steps without the regularizer", 0, 1),
      real_option("noise", d.noise, "feature augmentation: Gaussian noise on block inputs, share of their std", 0, 10),
      choice_option("unit", d.unit, {"block", "layer"}, "reconstruct residual blocks or single layers (ONNX)"),
      int_option("draw_seed", d.seed, "seed of the batch draws, QDrop masks and noise", 0),
  };
}

ReconstructOptions reconstruct_options(const Recipe& r) {
  ReconstructOptions o;
  o.loss = r.option("loss").get<std::string>() == "fisher" ? ReconstructLoss::Fisher : ReconstructLoss::Mse;
  o.weight.variable = parse_rounding_variable(r.option("variable").get<std::string>());
  o.weight.full_space = r.option("full_space").get<bool>();
  o.weight.learn_scale = r.option("learn_scale").get<bool>();
  o.init = r.option("init").get<std::string>();
  o.weight.learn_exponent = r.option("learn_exponent").get<bool>();
  const std::string in = r.option("input").get<std::string>();
  o.input = in == "float"       ? ReconstructInput::Float
            : in == "quantized" ? ReconstructInput::Quantized
                                : ReconstructInput::QDrop;
  o.drop_prob = r.option("drop_prob").get<double>();
  o.learn_act = r.option("learn_act").get<bool>();
  o.optimizer = r.option("optimizer").get<std::string>();
  o.schedule = r.option("schedule").get<std::string>();
  o.lr = r.option("lr").get<double>();
  o.scale_lr = r.option("scale_lr").get<double>();
  o.exponent_lr = r.option("exponent_lr").get<double>();
  o.iters = r.option("iters").get<int64_t>();
  o.batch = r.option("batch").get<int64_t>();
  o.reg_weight = r.option("reg_weight").get<double>();
  o.beta_start = r.option("beta_start").get<double>();
  o.beta_end = r.option("beta_end").get<double>();
  o.warmup = r.option("warmup").get<double>();
  o.noise = r.option("noise").get<double>();
  o.unit = r.option("unit").get<std::string>();
  o.seed = r.option("draw_seed").get<int64_t>();
  return o;
}

}  // namespace pare::quant
