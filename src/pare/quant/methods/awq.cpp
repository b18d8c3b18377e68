#include "pare/quant/methods/awq.h"

#include <fmt/format.h>

#include <map>

#include "pare/blocks/block_driver.h"
#include "pare/error.h"
#include "pare/quant/layer_inputs.h"
#include "pare/quant/methods/all_methods.h"
#include "pare/quant/methods/awq_clip.h"
#include "pare/quant/methods/awq_fold.h"
#include "pare/quant/methods/gptq.h"
#include "pare/quant/methods/rtn.h"

namespace pare::quant {
namespace {

// What one pass over the block's quantized-prefix inputs keeps per input: sums of |x|, x² and x xᵀ (the
// Hessian, from which the search computes output errors without the rows).
struct InputStats {
  at::Tensor abs_sum, sq_sum, hessian;
  int64_t rows = 0;
  at::Tensor mean_hessian() const { return hessian / static_cast<double>(std::max<int64_t>(rows, 1)); }
};

std::map<std::string, InputStats> gather(blocks::BlockVisit& v, const BlockInputs& in) {
  std::map<std::string, InputStats> stats;
  in.scan(v, [&](const std::string& key, const at::Tensor& x) {
    InputStats& s = stats[key];
    const at::Tensor a = x.abs().sum(0), q = x.pow(2).sum(0);
    s.abs_sum = s.abs_sum.defined() ? s.abs_sum + a : a;
    s.sq_sum = s.sq_sum.defined() ? s.sq_sum + q : q;
    s.hessian = s.hessian.defined() ? s.hessian.addmm(x.t(), x) : x.t().mm(x);
    s.rows += x.size(0);
  });
  return stats;
}

// The float weights of the block as the method changes them (source layout), with what is in the block now.
struct Floats {
  BlockJob& job;
  std::map<std::string, at::Tensor> now;
  at::Tensor get(const std::string& name) const {
    const auto it = now.find(name);
    return it != now.end() ? it->second : job.source.weight(name).to(at::kFloat);
  }
  void set(const std::string& name, const at::Tensor& value) {
    now[name] = value;
    job.source.set_weight(job.visit.block(), name, value);
  }
};

const LayerPlan& plan_of(const BlockJob& job, const std::string& weight) {
  for (const auto& l : job.layers)
    if (l.plan.layer.weight == weight) return l.plan;
  PARE_ASSERT(false, "awq: a weight without a plan");
  return job.layers.front().plan;
}

at::Tensor column_scales(const at::Tensor& s, int64_t r) { return s.repeat_interleave(r / s.size(0)); }

// Applies s to a group: its layers' columns times s, 1/s folded into `fold`.
void apply(Floats& f, const std::vector<std::string>& group, const ScaleFold& fold, const at::Tensor& s) {
  for (const auto& w : group) {
    const int64_t axis = plan_of(f.job, w).layer.out_axis;
    const at::Tensor t = f.get(w), m = to_matrix(t, axis);
    f.set(w, from_matrix(m * column_scales(s, m.size(1)).unsqueeze(0), t.sizes(), axis));
  }
  for (const auto& w : fold.producers) {
    const int64_t axis = plan_of(f.job, w).layer.out_axis;
    const at::Tensor t = f.get(w), m = to_matrix(t, axis);
    f.set(w, from_matrix(m / s.unsqueeze(1), t.sizes(), axis));
  }
  for (const auto& v : fold.vectors) {
    const at::Tensor t = f.get(v);
    f.set(v, t / s.reshape(t.sizes()));
  }
}

// Whether the block still computes what it did (float weights): the fold is exact up to rounding.
bool same_function(blocks::BlockVisit& v, const blocks::Values& before) {
  const blocks::Values after = v.run(v.quantized_inputs(0));
  for (const auto& [name, t] : before) {
    const double scale = std::max(t.abs().max().item<double>(), 1e-12);
    if ((after.at(name) - t).abs().max().item<double>() > 1e-4 * scale) return false;
  }
  return true;
}

struct Group {
  std::string key;
  std::vector<std::string> weights, nodes;
  int64_t channels = 0;
  AwqSearch search;
  std::string note;
};

// The planned layers with input rows, grouped by the input they read, in graph order.
std::vector<Group> groups_of(const BlockJob& job, const BlockInputs& in, const ir::Graph& g) {
  std::vector<Group> out;
  std::map<std::string, size_t> at_key;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& [w, li] : in.by_weight) {
      if (li.node != g.nodes[i].name || li.value.empty()) continue;
      if (!at_key.count(li.key())) at_key[li.key()] = out.size(), out.push_back({li.key(), {}, {}, 0, {}, ""});
      Group& gr = out[at_key[li.key()]];
      gr.weights.push_back(w);
      gr.nodes.push_back(li.node);
      const at::Tensor t = job.source.weight(w);
      gr.channels = li.conv ? t.size(1) : to_matrix(t, plan_of(job, w).layer.out_axis).size(1);
    }
  return out;
}

std::map<std::string, LayerRef> producers_of(const BlockJob& job, const ir::Graph& g) {
  std::map<std::string, LayerRef> out;
  for (const auto& l : find_quantizable(g))
    for (const auto& jl : job.layers)
      if (jl.plan.layer.weight == l.weight)
        out[l.node] = {l.weight, job.source.weight(l.weight).size(jl.plan.layer.out_axis)};
  return out;
}

// Search, apply and verify one group's scales; α = 0 with a note where they cannot be folded.
void scale_group(Floats& f, Group& gr, const InputStats& st, const ScaleFold& fold, int64_t grid,
                 const blocks::Values& before) {
  std::vector<at::Tensor> ws;
  std::vector<WeightQuantOptions> base;
  for (const auto& w : gr.weights) {
    const LayerPlan& p = plan_of(f.job, w);
    ws.push_back(to_matrix(f.get(w), p.layer.out_axis));
    base.push_back(rtn_options(p));
    base.back().scale.importance = st.sq_sum / static_cast<double>(st.rows);
  }
  if (!fold.why_not.empty()) {
    gr.note = "not scaled (α = 0): " + fold.why_not;
    return;
  }
  const double n = static_cast<double>(std::max<int64_t>(st.rows, 1));
  gr.search = awq_search(st.abs_sum / n, st.mean_hessian(), ws, base, gr.channels, grid);
  if (gr.search.alpha == 0) return;
  std::map<std::string, at::Tensor> old;
  for (const auto& w : gr.weights) old[w] = f.get(w);
  for (const auto& w : fold.producers) old[w] = f.get(w);
  for (const auto& w : fold.vectors) old[w] = f.get(w);
  apply(f, gr.weights, fold, gr.search.scales);
  if (same_function(f.job.visit, before)) return;
  for (const auto& [name, t] : old) f.set(name, t);
  gr.note = "not scaled (α = 0): folding the scale would change the block's function";
  gr.search.alpha = 0;
  gr.search.scales = at::Tensor();
}

struct Finish {
  bool gptq = false, clip = false;
};

// The final weight of one planned layer: W·diag(s), clipped (option clip), with the base quantizer, on the
// scaled inputs.
void quantize_layer_weight(QuantizedLayer& l, const Floats& f, const InputStats* st, const Group* gr, Finish how) {
  const std::string& name = l.plan.layer.weight;
  const int64_t axis = l.plan.layer.out_axis;
  const at::Tensor w = f.get(name);
  WeightQuantOptions base = rtn_options(l.plan);
  if (!st) {
    l.weight = quantize_weight(w, axis, base, name);
    return;
  }
  const int64_t r = st->sq_sum.size(0);
  // 1 / s per column of the matrix view: the scaled inputs are x / s.
  const at::Tensor inv = gr && gr->search.scales.defined() ? 1.0 / column_scales(gr->search.scales, r) : at::ones({r});
  base.scale.importance = st->sq_sum / static_cast<double>(st->rows) * inv.pow(2);
  at::Tensor m = to_matrix(w, axis), h;
  if (how.gptq || how.clip) h = st->mean_hessian() * inv.unsqueeze(0) * inv.unsqueeze(1);
  if (how.clip) m = awq_clip(m, h, base);
  if (!how.gptq) {
    l.weight = quantize_weight(from_matrix(m, w.sizes(), axis), axis, base, name);
    return;
  }
  QuantizedTensor q = gptq_quantize(m, h, base, GptqOptions{}, name);
  q.shape = w.sizes().vec();
  q.out_axis = axis;
  l.weight = std::move(q);
}

void awq_block(BlockJob& job) {
  const ir::Graph& g = job.visit.block().graph;
  const BlockInputs in = block_inputs(g, job.layers);
  const Finish how{job.recipe.option("base").get<std::string>() == "gptq", job.recipe.option("clip").get<bool>()};
  const int64_t grid = job.recipe.option("alpha_grid").get<int64_t>();
  const std::map<std::string, InputStats> stats = gather(job.visit, in);
  Floats f{job, {}};
  std::vector<Group> groups = groups_of(job, in, g);
  const std::map<std::string, LayerRef> producers = producers_of(job, g);
  const blocks::Values before = groups.empty() ? blocks::Values{} : job.visit.run(job.visit.quantized_inputs(0));
  for (auto& gr : groups) {
    const std::string x = in.by_weight.at(gr.weights.front()).value;
    scale_group(f, gr, stats.at(gr.key), find_fold(g, x, gr.channels, gr.nodes, producers), grid, before);
  }
  std::map<std::string, const Group*> group_of;
  for (const auto& gr : groups)
    for (const auto& w : gr.weights) group_of[w] = &gr;
  for (auto& l : job.layers) {
    if (!l.plan.quantize) continue;
    const LayerInput* li = in.find(l.plan.layer.weight);
    const auto gi = group_of.find(l.plan.layer.weight);
    const Group* gr = gi != group_of.end() ? gi->second : nullptr;
    const InputStats* st = gr ? &stats.at(gr->key) : nullptr;
    quantize_layer_weight(l, f, st, gr, how);
    if (!gr) {
      l.note = li ? "no input rows (" + li->why_not + "): RTN" : "not in a block AWQ sees: RTN";
      continue;
    }
    l.note = gr->note.empty() ? l.note : gr->note;
    l.fields = {{"alpha", gr->search.alpha}};
    // The group's output error on its calibration inputs, relative to RTN's (α = 0): at most 1 by construction.
    if (gr->search.unscaled_error > 0) l.fields["output_error_vs_rtn"] = gr->search.error / gr->search.unscaled_error;
  }
  job.floats = std::move(f.now);
}

void check_awq(const Recipe& r, const std::string& where) {
  if (r.abits != 0)
    throw recipe_error("awq is weights-only: its scales change the activations that a static range would cover", where)
        .got(fmt::format("abits {}", r.abits))
        .hint("pass --abits 0");
}

}  // namespace

at::Tensor awq_scales(const at::Tensor& mean_abs, double alpha) {
  const at::Tensor s = mean_abs.to(at::kFloat).pow(alpha).clamp_min(1e-4);
  return s / (s.max() * s.min()).sqrt();
}

AwqSearch awq_search(const at::Tensor& mean_abs, const at::Tensor& hessian, const std::vector<at::Tensor>& weights,
                     const std::vector<WeightQuantOptions>& base, int64_t channels, int64_t grid) {
  const int64_t r = hessian.size(0);
  const at::Tensor m = mean_abs.reshape({channels, r / channels}).mean(1);
  AwqSearch best;
  for (int64_t i = 0; i < grid; ++i) {
    const double alpha = static_cast<double>(i) / static_cast<double>(grid);
    const at::Tensor s = awq_scales(m, alpha), sc = column_scales(s, r).unsqueeze(0);
    double err = 0;
    for (size_t k = 0; k < weights.size(); ++k) {
      WeightQuantOptions o = base[k];
      if (o.scale.importance.defined()) o.scale.importance = o.scale.importance / sc.squeeze(0).pow(2);
      const at::Tensor d = weights[k] - quantize_weight(weights[k] * sc, 0, o, "awq").dequantize() / sc;
      err += (d.mm(hessian) * d).sum().item<double>();  // mean over the rows of |x (w - q)ᵀ|²
    }
    if (i == 0) best.unscaled_error = err;
    if (i == 0 || err < best.error) best = {alpha, s, err, best.unscaled_error};
  }
  return best;
}

Method awq_method() {
  Method m;
  m.name = "awq";
  m.summary =
      "AWQ: per-input-channel scales from activation magnitudes, searched per layer group, folded into the op before";
  m.doc = "docs/methods/awq.md";
  m.data = DataNeed::Calibration;
  m.data_required = true;
  m.options = {
      int_option("alpha_grid", 20, "α values tried in [0, 1) (s = mean|x|^α)", 1, 1000),
      choice_option("base", "rtn", {"rtn", "gptq"}, "quantizer of the scaled weights (gptq: on the scaled inputs)"),
      bool_option("clip", false, "AWQ's clipping search: per row, the clip ratio with the least output error")};
  m.check = check_awq;
  m.block = awq_block;
  m.weight = [](const WeightJob& job) { return LayerWeight{rtn_weight(job), "outside any block: RTN", nullptr}; };
  return m;
}

}  // namespace pare::quant
