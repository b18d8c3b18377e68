// The data-free ternary operators as registry entries (docs/methods/ternary.md): tquant, mquant and
// ternary-rtn quantize every 2-bit layer to alpha * {-1, 0, 1} (ternary_operator.h).
#include <fmt/format.h>

#include "pare/error.h"
#include "pare/quant/methods/all_methods.h"
#include "pare/quant/methods/rtn.h"
#include "pare/quant/methods/ternary_operator.h"

namespace pare::quant {

namespace {

// A layer whose plan is not 2 bits (a first_last or per-layer rule) falls back to RTN at its bits.
LayerWeight ternary_weight(const WeightJob& job, TernaryOp op) {
  LayerWeight r;
  const int bits = job.plan.weight_grid.bits;
  if (bits != 2) {
    r.note = "ternary method on a " + std::to_string(bits) + "-bit layer: RTN";
    r.weight = rtn_weight(job);
    return r;
  }
  TernaryOptions t;
  t.op = op;
  t.scale_bits = job.plan.weight_scale.scale_bits;
  r.weight = ternarize_weight(job.w, job.plan.layer.out_axis, job.plan.granularity, t, job.plan.layer.weight);
  return r;
}

Method ternary_method(TernaryOp op, std::string summary) {
  Method m;
  m.name = to_string(op);
  m.summary = std::move(summary);
  m.doc = "docs/methods/ternary.md";
  m.grids = {GridKind::Ternary};
  m.check = [](const Recipe& r, const std::string& where) {
    if (r.wbits != 2)
      throw recipe_error("method " + r.method + " quantizes weights to ternary values", where)
          .got(fmt::format("--wbits {}", r.wbits))
          .hint("pass --wbits 2 (ternary)");
    if (r.abits == 1)
      throw recipe_error("ternary weights need activations of at least 2 bits", where)
          .got("--abits 1")
          .hint("pass --abits 8 (or 4), or --abits 0 for float activations");
  };
  m.weight = [op](const WeightJob& job) { return ternary_weight(job, op); };
  return m;
}

}  // namespace

Method tquant_method() {
  return ternary_method(TernaryOp::TQuant, "ternary, support equalization: threshold M/3, scale 2M/3 per row");
}

Method mquant_method() {
  return ternary_method(TernaryOp::MQuant,
                        "ternary, mass equalization: a third of each row becomes 0, scale the mean of the rest");
}

Method ternary_rtn_method() {
  return ternary_method(TernaryOp::Rtn, "ternary rounding to {-M, 0, M}, M = max |w| of the row");
}

}  // namespace pare::quant
