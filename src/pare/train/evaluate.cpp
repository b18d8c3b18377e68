// Batched evaluation. Logits are reduced on the fly so memory stays at one batch.
#include "pare/train/evaluate.h"

#include <chrono>
#include <tuple>

#include "pare/blocks/model_data.h"
#include "pare/error.h"
#include "pare/ir/graph.h"

namespace pare::train {

nlohmann::json EvalResult::to_json() const {
  return {{"samples", samples}, {"positions", positions},
          {"top1", top1},       {"top5", top5},
          {"loss", loss},       {"per_class_top1", per_class_top1},
          {"seconds", seconds}, {"samples_per_second", samples_per_second()}};
}

EvalResult evaluate(exec::Executor& ex, const data::Dataset& data, const EvalOptions& options) {
  const ir::Graph& g = ex.graph();
  const std::string in_name = g.inputs.empty() ? "" : g.inputs[0].name;
  const std::string out_name = options.output.empty() ? g.outputs.at(0).name : options.output;
  blocks::check_labels_fit(ex, data, out_name);
  at::NoGradGuard no_grad;
  EvalResult r;
  const int64_t n = data.size();
  at::Tensor correct_per_class, count_per_class;
  double loss_sum = 0;
  int64_t top1 = 0, top5 = 0, classes = 0;
  bool sequence = false;  // [N, T, C] logits: no per-class accuracy
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t start = 0; start < n; start += options.batch_size) {
    const int64_t len = std::min(options.batch_size, n - start);
    at::Tensor x = data.inputs.narrow(0, start, len);
    at::Tensor y = data.labels.narrow(0, start, len);
    at::Tensor logits = ex.run({{in_name, x}}, {out_name}).at(out_name).to(at::kFloat);
    const bool seq = logits.dim() == 3;
    sequence = sequence || seq;
    std::tie(logits, y) = blocks::flatten_positions(logits, y, out_name);
    r.positions += y.size(0);
    if (!classes) {
      classes = logits.size(1);
      correct_per_class = at::zeros({classes}, at::kLong);
      count_per_class = at::zeros({classes}, at::kLong);
    }
    if (y.max().item<int64_t>() >= classes || y.min().item<int64_t>() < 0)
      throw Error("a label is outside the model's " + std::to_string(classes) + " classes")
          .got("labels from " + std::to_string(y.min().item<int64_t>()) + " to " +
               std::to_string(y.max().item<int64_t>()))
          .hint("the dataset does not belong to this model");
    loss_sum += at::cross_entropy_loss(logits, y, {}, at::Reduction::Sum).item<double>();
    at::Tensor top = std::get<1>(logits.topk(std::min<int64_t>(5, classes), 1));
    at::Tensor hit1 = top.select(1, 0) == y;
    top1 += hit1.sum().item<int64_t>();
    top5 += (top == y.unsqueeze(1)).any(1).sum().item<int64_t>();
    if (!seq) {
      correct_per_class.index_add_(0, y, hit1.to(at::kLong));
      count_per_class.index_add_(0, y, at::ones_like(y));
    }
    if (options.progress) options.progress(start + len, n);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.samples = n;
  const int64_t m = r.positions;
  r.top1 = m ? 100.0 * top1 / m : 0;
  r.top5 = m ? 100.0 * top5 / m : 0;
  r.loss = m ? loss_sum / m : 0;
  for (int64_t c = 0; !sequence && c < classes; ++c) {
    const int64_t cnt = count_per_class[c].item<int64_t>();
    r.per_class_top1.push_back(cnt ? 100.0 * correct_per_class[c].item<int64_t>() / cnt : 0.0);
  }
  return r;
}

}  // namespace pare::train
