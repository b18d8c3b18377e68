#include "pare/quant/methods/reconstruct_engine.h"

#include <ATen/CPUGeneratorImpl.h>

#include <map>
#include <memory>

#include "pare/blocks/block_driver.h"
#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/optim/lr_schedule.h"
#include "pare/optim/optimizer.h"
#include "pare/quant/fake_quantize.h"
#include "pare/quant/method_registry.h"
#include "pare/quant/methods/gptq.h"
#include "pare/quant/passes/activation_pass.h"
#include "pare/quant/quantizable.h"

namespace pare::quant {
namespace {

// One layer being learned.
struct Learned {
  QuantizedLayer* layer;
  QuantizableLayer where;  // in the block's graph
  std::vector<int64_t> shape;
  std::unique_ptr<LearnedWeight> weight;
  int64_t act = -1;  // index of its activation quantizer in BlockJob::activations, -1: none
};

// One activation quantizer of the block, with its scale as a parameter when learned.
struct ActState {
  ActivationQuant* quant;
  at::Tensor scale, zero_point;  // shaped to broadcast over the activation
};

// The starting quantized tensor: the weight operator of the method `init` names (rtn, tquant, mquant,
// powerquant), with that method's own fallbacks (RTN where a ternary or power grid does not apply).
QuantizedTensor initial_weight(const at::Tensor& w, const LayerPlan& plan, const Recipe& recipe,
                               const std::string& init) {
  static const nlohmann::json unprepared;  // powerquant then searches this layer's own exponent
  return builtin_methods().at(init).weight(WeightJob{w, plan, recipe, unprepared, {}}).weight.main;
}

// A copy of a batch's values outside inference mode (the driver runs under it; autograd refuses its tensors).
blocks::Values usable(const blocks::Values& v) {
  blocks::Values out;
  for (const auto& [k, t] : v) out[k] = t.clone();
  return out;
}

at::Tensor broadcast(const at::Tensor& t, const ActivationQuant& a) {
  if (a.axis < 0) return t.reshape({});
  std::vector<int64_t> shape(static_cast<size_t>(a.rank), 1);
  shape[static_cast<size_t>(a.axis)] = t.numel();
  return t.reshape(shape);
}

at::Tensor fake_act(const at::Tensor& x, const ActState& s) {
  return fake_quantize_rows(x, s.quant->grid, s.scale, s.zero_point);
}

class Engine {
 public:
  Engine(BlockJob& job, const ReconstructOptions& o)
      : job_(job), v_(job.visit), o_(o), gen_(at::detail::createCPUGenerator(static_cast<uint64_t>(o.seed))) {}

  void run() {
    setup_layers();
    if (learned_.empty()) return;
    for (int64_t b = 0; b < v_.batches(); ++b) {
      fin_.push_back(usable(v_.float_inputs(b)));
      qin_.push_back(usable(v_.quantized_inputs(b)));
      fout_.push_back(usable(v_.float_outputs(b)));
      if (o_.loss == ReconstructLoss::Fisher) fisher_.push_back(normalized_fisher(b));
    }
    exec::ExecOptions eo;
    eo.grad = true;
    eo.channels_last = true;  // oneDNN's fast convolution layout, forward and backward
    ex_ = std::make_unique<exec::Executor>(v_.block().graph, eo);
    setup_activations();
    const double before = eval_loss();
    train();
    finish(before);
  }

 private:
  void setup_layers() {
    std::map<std::string, QuantizableLayer> in_block;
    for (const auto& l : find_quantizable(v_.block().graph)) in_block[l.weight] = l;
    if (o_.init == "gptq") gptq_layers(job_, GptqOptions{});  // GPTQ's codes (and its fallbacks' notes) to start
    for (auto& l : job_.layers) {
      if (!l.plan.quantize) continue;
      const at::Tensor w = job_.source.weight(l.plan.layer.weight).to(at::kFloat);
      QuantizedTensor init = o_.init == "gptq" ? l.weight.main : initial_weight(w, l.plan, job_.recipe, o_.init);
      const auto it = in_block.find(l.plan.layer.weight);
      if (it == in_block.end() || o_.iters == 0) {
        l.weight = std::move(init);
        if (it == in_block.end()) l.note = "not in the block's graph: not learned";
        continue;
      }
      auto lw = std::make_unique<LearnedWeight>(to_matrix(w, l.plan.layer.out_axis), init, o_.weight);
      learned_.push_back({&l, it->second, w.sizes().vec(), std::move(lw)});
    }
  }

  // Activation quantizers of the learned layers, as overrides of their activation inputs.
  void setup_activations() {
    if (!job_.activations) return;
    std::map<std::string, size_t> by_value;
    for (size_t i = 0; i < job_.activations->size(); ++i) by_value[(*job_.activations)[i].value] = i;
    const ir::Graph& g = v_.block().graph;
    for (auto& l : learned_) {
      if (l.layer->plan.abits <= 0 || l.where.activation_input < 0) continue;
      const ir::Node& n = g.nodes[*g.find_node(l.where.node)];
      const auto it = by_value.find(n.inputs[static_cast<size_t>(l.where.activation_input)]);
      if (it == by_value.end()) continue;
      l.act = static_cast<int64_t>(it->second);
      if (!acts_.count(it->second)) {
        ActivationQuant& a = (*job_.activations)[it->second];
        ActState s{&a, broadcast(a.scale.to(at::kFloat), a).clone(), broadcast(a.zero_point, a)};
        if (o_.learn_act) s.scale.requires_grad_(true);
        acts_[it->second] = s;
      }
      const ActState* s = &acts_[it->second];
      ex_->set_weight_override(
          l.where.node,
          [this, s](const at::Tensor& x) {
            const at::Tensor q = fake_act(x, *s);
            if (!training_ || o_.input != ReconstructInput::QDrop) return q;
            return at::where(at::rand(x.sizes(), gen_) < o_.drop_prob, x, q);
          },
          l.where.activation_input);
    }
  }

  // Puts the learned weights, as the variables make them now (or hard), into the block.
  void set_weights(bool hard) {
    for (auto& l : learned_) {
      const at::Tensor w = hard ? l.weight->result().dequantize()
                                : from_matrix(l.weight->matrix(), l.shape, l.layer->plan.layer.out_axis);
      job_.source.set_weight(v_.block(), l.layer->plan.layer.weight, w);
    }
  }

  // The block's inputs for a step: one batch's samples `idx` (all of them when undefined) on the chosen path.
  exec::TensorMap inputs(int64_t b, const at::Tensor& idx, ReconstructInput path) {
    exec::TensorMap feeds;
    for (const auto& name : v_.block().inputs) {
      at::Tensor f = fin_[b].at(name), q = qin_[b].at(name);
      const bool sample = job_.source.per_sample(name) && f.dim() > 0;
      if (sample && idx.defined()) f = f.index_select(0, idx), q = q.index_select(0, idx);
      at::Tensor x = path == ReconstructInput::Float ? f : q;
      if (path == ReconstructInput::QDrop && sample && q.is_floating_point())
        x = at::where(at::rand(q.sizes(), gen_) < o_.drop_prob, f, q);
      if (o_.noise > 0 && training_ && sample && x.is_floating_point())
        x = x + at::randn(x.sizes(), gen_) * (o_.noise * f.std().item<double>());
      feeds[name] = x;
    }
    return feeds;
  }

  at::Tensor loss(int64_t b, const at::Tensor& idx, const exec::TensorMap& out) {
    at::Tensor total = at::zeros({});
    for (const auto& name : v_.block().outputs) {
      const at::Tensor& y = out.at(name);
      if (!y.is_floating_point() || y.dim() == 0) continue;
      at::Tensor t = fout_[b].at(name);
      if (idx.defined() && job_.source.per_sample(name)) t = t.index_select(0, idx);
      at::Tensor sq = (y - t).pow(2);
      if (o_.loss == ReconstructLoss::Fisher) {
        const at::Tensor& f = fisher_[static_cast<size_t>(b)].at(name);
        sq = sq * (idx.defined() ? f.index_select(0, idx) : f);
      }
      total = total + sq.sum() / static_cast<double>(y.size(0));
    }
    return total;
  }

  // Batch b's Fisher at each block output, scaled to mean 1 so that the loss keeps the plain loss's scale.
  blocks::Values normalized_fisher(int64_t b) const {
    PARE_ASSERT(job_.output_fisher, "a Fisher-weighted loss without the Fisher");
    blocks::Values out;
    for (const auto& name : v_.block().outputs) {
      const auto it = job_.output_fisher->find(name);
      if (it == job_.output_fisher->end()) continue;
      const at::Tensor& f = it->second.at(static_cast<size_t>(b));
      out[name] = f / f.mean().clamp_min(1e-30);
    }
    return out;
  }

  // The block's loss on the first batch, quantized-prefix inputs, hard weights and activations.
  double eval_loss() {
    at::NoGradGuard no_grad;
    set_weights(true);
    training_ = false;
    return loss(0, {}, ex_->run(inputs(0, {}, ReconstructInput::Quantized), v_.block().outputs)).item<double>();
  }

  void train() {
    std::vector<optim::Param> wp, sp, ep;  // rounding variables, scales, exponents: each at its own rate
    for (auto& l : learned_)
      for (const auto& [kind, t] : l.weight->parameters())
        (kind == "v" ? wp : kind == "scale" ? sp : ep).push_back({l.layer->plan.layer.weight + "/" + kind, t, false});
    for (auto& [i, s] : acts_)
      if (o_.learn_act) sp.push_back({s.quant->value + "/act_scale", s.scale, false});
    optim::OptimizerOptions oo;
    oo.kind = o_.optimizer == "adam" ? "adamw" : "sgd";
    optim::Optimizer weights(wp, oo), scales(sp, oo), exponents(ep, oo);
    optim::LrSchedule sched;
    sched.kind = o_.schedule;
    sched.base_lr = 1.0;
    sched.total_steps = o_.iters;
    const int64_t warm = static_cast<int64_t>(o_.warmup * static_cast<double>(o_.iters));
    training_ = true;
    for (int64_t it = 0; it < o_.iters; ++it) {
      const int64_t b = at::randint(v_.batches(), {1}, gen_).item<int64_t>();
      const int64_t n = fin_[b].at(v_.block().inputs.front()).size(0);
      const at::Tensor idx = at::randperm(n, gen_).narrow(0, 0, std::min(n, o_.batch));
      set_weights(false);
      const exec::TensorMap out = ex_->run(inputs(b, idx, o_.input), v_.block().outputs);
      at::Tensor total = loss(b, idx, out);
      if (it >= warm && o_.reg_weight > 0) {
        const double rel = static_cast<double>(it - warm) / static_cast<double>(std::max<int64_t>(1, o_.iters - warm));
        const double beta = o_.beta_end + (o_.beta_start - o_.beta_end) * (1.0 - rel);
        for (auto& l : learned_) total = total + o_.reg_weight * l.weight->regularizer(beta);
      }
      weights.zero_grad();
      scales.zero_grad();
      exponents.zero_grad();
      total.backward();
      const double f = sched.at(it);
      weights.step(o_.lr * f);
      scales.step(o_.scale_lr * f);
      exponents.step(o_.exponent_lr * f);
      for (auto& l : learned_) l.weight->project();
    }
    training_ = false;
  }

  void finish(double before) {
    std::map<size_t, at::Tensor> act_before;
    for (auto& [i, s] : acts_) {
      act_before[i] = s.quant->scale;
      if (o_.learn_act) s.quant->scale = s.scale.detach().abs().reshape(s.quant->scale.sizes()).clone();
    }
    const double after = eval_loss();
    // Never worse than the start on the calibration data: a block that did not improve keeps its start.
    const bool kept = after <= before;
    for (auto& l : learned_) {
      l.layer->weight = kept ? l.weight->result() : l.weight->start();
      l.layer->fields = {{"block_loss_init", before}, {"block_loss", kept ? after : before}};
      if (!kept) l.layer->note = "reconstruction did not lower the block loss: start kept";
      if (kept && o_.weight.variable == RoundingVariable::AdaRound)
        l.layer->fields["rounding_converged"] = l.weight->converged_share();
    }
    for (auto& [i, s] : acts_) {
      if (!kept) s.quant->scale = act_before[i];
      s.scale = broadcast(s.quant->scale.to(at::kFloat), *s.quant).detach();
    }
    // The later blocks learn from this block's outputs with its activation quantizers in place.
    for (const auto& l : learned_) {
      if (l.act < 0) continue;
      const ActState& s = acts_.at(static_cast<size_t>(l.act));
      const ActState hard{s.quant, s.scale.abs(), s.zero_point};
      v_.override_input(l.where.node, l.where.activation_input,
                        [hard](const at::Tensor& x) { return fake_act(x, hard); });
    }
  }

  BlockJob& job_;
  blocks::BlockVisit& v_;
  const ReconstructOptions& o_;
  at::Generator gen_;
  std::vector<Learned> learned_;
  std::map<size_t, ActState> acts_;
  std::vector<blocks::Values> fin_, qin_, fout_, fisher_;  // fisher_: with --loss fisher
  std::unique_ptr<exec::Executor> ex_;
  bool training_ = false;
};

}  // namespace

void reconstruct_block(BlockJob& job, const ReconstructOptions& options) { Engine(job, options).run(); }

}  // namespace pare::quant
