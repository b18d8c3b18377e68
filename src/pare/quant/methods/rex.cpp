#include "pare/quant/methods/rex.h"

#include <fmt/format.h>

#include "pare/error.h"
#include "pare/quant/methods/all_methods.h"
#include "pare/quant/methods/pipe_ensemble.h"
#include "pare/quant/methods/residual_expansion.h"
#include "pare/quant/methods/rtn.h"
#include "pare/quant/passes/weight_pass.h"

namespace pare::quant {

namespace {

std::vector<MethodOption> rex_option_table() {
  MethodOption order = int_option("order", 2, "expansion order K (terms per weight), 1..8");
  order.validate = [](const nlohmann::json& v, const std::string& where) {
    if (v.get<int64_t>() < 1)
      throw recipe_error("expansion order K must be at least 1", where)
          .got(v.dump())
          .hint("--order 1 is plain rounding; 2..4 add residual terms");
    if (v.get<int64_t>() > 8) throw recipe_error("expansion order K above 8", where).got(v.dump()).expected("1 to 8");
  };
  MethodOption sparsity = real_option("sparsity", 0.5, "fraction of output rows expanded from order 2 on, (0, 1]");
  sparsity.validate = [](const nlohmann::json& v, const std::string& where) {
    const double s = v.get<double>();
    if (!(s > 0 && s <= 1))
      throw recipe_error("expansion sparsity must be in (0, 1]", where)
          .got(fmt::format("{}", s))
          .hint("it is the fraction of output rows expanded from order 2 on: 0.25, 0.5 or 1");
  };
  MethodOption ensemble = int_option("ensemble", 1, "PIPE ensemble of M members run in parallel and summed (1: none)");
  ensemble.validate = [](const nlohmann::json& v, const std::string& where) {
    if (v.get<int64_t>() < 1) throw recipe_error("ensemble size must be at least 1", where).got(v.dump());
  };
  MethodOption split = choice_option("pipe_split", "first", {"first", "first-expanded"},
                                     "with --ensemble: first (spec candidate A) or first-expanded (later layers "
                                     "keep all orders)");
  return {order, sparsity, ensemble, split};
}

void check_rex(const Recipe& r, const std::string& where) {
  const RexOptions o = rex_options(r);
  if (o.ensemble > 1 && o.order < o.ensemble)
    throw recipe_error("a PIPE ensemble of M members needs at least M expansion orders", where)
        .got(fmt::format("--ensemble {} with --order {}", o.ensemble, o.order))
        .hint(fmt::format("pass --order {} or more", o.ensemble));
}

LayerWeight rex_weight(const WeightJob& job) {
  const RexOptions o = rex_options(job.recipe);
  ExpansionOptions e;
  e.order = o.order;
  e.sparsity = o.sparsity;
  const WeightQuantOptions rtn = rtn_options(job.plan);
  const std::string& name = job.plan.layer.weight;
  LayerWeight r;
  r.weight = expand_residuals(
      job.w, job.plan.layer.out_axis, e,
      [&](const at::Tensor& x, int64_t axis) { return quantize_weight(x, axis, rtn, name); }, name);
  return r;
}

// PIPE: the first layer's expansion split over parallel members whose outputs are summed (pipe_ensemble.h).
void build_pipe(GraphStage& s) {
  const RexOptions o = rex_options(s.recipe);
  s.report["pipe_members"] = 1;
  s.report["pipe_note"] = "";
  if (o.ensemble <= 1) return;
  if (!s.activations->empty())
    throw Error("a PIPE ensemble with quantized activations is not supported")
        .hint("members after the first carry small residual signals that need their own ranges: pass --abits 0");
  PipeEnsemble e = build_pipe_ensemble(*s.qdq, *s.layers, o.ensemble, o.pipe_split);
  s.report["pipe_note"] = e.note;
  if (!e.note.empty()) s.notes.push_back("pipe       " + e.note);
  if (!e.applied) return;
  s.report["pipe_members"] = e.members;
  s.notes.push_back(fmt::format("pipe       {} members summed at the output ({})", e.members, o.pipe_split));
  *s.qdq = std::move(e.graph);
  *s.layers = std::move(e.layers);
}

}  // namespace

RexOptions rex_options(const Recipe& r) {
  RexOptions o;
  o.order = static_cast<int>(r.option("order").get<int64_t>());
  o.sparsity = r.option("sparsity").get<double>();
  o.ensemble = static_cast<int>(r.option("ensemble").get<int64_t>());
  o.pipe_split = r.option("pipe_split").get<std::string>();
  return o;
}

Method rex_method() {
  Method m;
  m.name = "rex";
  m.summary = "residual expansion: K RTN terms per weight on a fraction of rows; PIPE ensembles with --ensemble";
  m.doc = "docs/methods/rex.md";
  m.options = rex_option_table();
  m.check = check_rex;
  m.check_model = [](const Recipe& r, ModelKind kind, const std::string& source) {
    if (kind == ModelKind::Llama && rex_options(r).ensemble > 1)
      throw Error("a PIPE ensemble does not apply to Llama models")
          .file(source)
          .got(fmt::format("--ensemble {}", rex_options(r).ensemble))
          .hint("RMSNorm does not commute with a sum of members; use --method rex without --ensemble");
  };
  m.qdq_refusal = [](const Recipe& r) {
    return rex_options(r).order > 1 ? "residual expansion terms (--order > 1) are not one QDQ weight" : "";
  };
  m.weight = rex_weight;
  m.after_weights = build_pipe;
  return m;
}

}  // namespace pare::quant
