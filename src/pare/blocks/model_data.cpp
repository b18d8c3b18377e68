#include "pare/blocks/model_data.h"

#include "pare/error.h"

namespace pare::blocks {

void check_samples_fit(const ir::Graph& g, const data::Dataset& data, bool need_labels) {
  if (g.inputs.size() != 1)
    throw Error("training, evaluation and calibration need a model with one input")
        .got(std::to_string(g.inputs.size()) + " inputs");
  if (need_labels && !data.labels.defined()) throw Error("dataset '" + data.name + "' has no labels");
  if (data.size() == 0) throw Error("dataset '" + data.name + "' is empty");
  const std::string in_name = g.inputs[0].name;
  if (const auto& shape = g.inputs[0].shape) {
    bool ok = static_cast<int64_t>(shape->size()) == data.inputs.dim();
    for (size_t i = 1; ok && i < shape->size(); ++i)
      ok = !(*shape)[i].known() || (*shape)[i].value == data.inputs.size(static_cast<int64_t>(i));
    if (!ok)
      throw Error("dataset samples do not fit the model input")
          .tensor(in_name)
          .expected(ir::shape_string(shape))
          .got(ir::shape_string(data.inputs.sizes()) + " from " + data.name)
          .hint(data.name.rfind("fmnist", 0) == 0
                    ? "fmnist: is 1x28x28 images; give this model its own data: folder:DIR (class sub-folders of "
                      "images, resized to the model's input) or npy:DIR (DIR/inputs.npy in the model's shape)"
                    : "give samples in the model's input shape: folder:DIR (images, resized to the model's input) "
                      "or npy:DIR (DIR/inputs.npy)");
  }
}

std::pair<at::Tensor, at::Tensor> flatten_positions(const at::Tensor& logits, const at::Tensor& labels,
                                                    const std::string& output) {
  const bool seq = logits.dim() == 3 && labels.dim() == 2 && logits.size(1) == labels.size(1);
  if (!(seq || (logits.dim() == 2 && labels.dim() == 1)) || logits.size(0) != labels.size(0))
    throw Error("model output does not pair with the labels")
        .tensor(output)
        .expected("[batch, classes] logits for [batch] labels, or [batch, T, classes] for [batch, T]")
        .got(ir::shape_string(logits.sizes()) + " logits for " + ir::shape_string(labels.sizes()) + " labels");
  if (!seq) return {logits, labels};
  return {logits.reshape({-1, logits.size(2)}), labels.reshape({-1})};
}

int64_t check_labels_fit(exec::Executor& ex, const data::Dataset& data, const std::string& output) {
  const ir::Graph& g = ex.graph();
  check_samples_fit(g, data);
  const std::string out_name = output.empty() ? g.outputs.at(0).name : output;
  at::NoGradGuard no_grad;
  const bool was_training = ex.options().training;
  ex.set_training(false);
  at::Tensor logits = ex.run({{g.inputs[0].name, data.inputs.narrow(0, 0, 1)}}, {out_name}).at(out_name);
  ex.set_training(was_training);
  flatten_positions(logits, data.labels.narrow(0, 0, 1), out_name);
  const int64_t classes = logits.size(-1);
  const int64_t lo = data.labels.min().item<int64_t>(), hi = data.labels.max().item<int64_t>();
  if (lo < 0 || hi >= classes)
    throw Error("a label of '" + data.name + "' is outside the model's " + std::to_string(classes) + " classes")
        .tensor(out_name)
        .expected("labels from 0 to " + std::to_string(classes - 1))
        .got("labels from " + std::to_string(lo) + " to " + std::to_string(hi))
        .hint("the dataset does not belong to this model (build it with --classes to match)");
  return classes;
}

data::ImageTransform image_transform_for(const ir::Graph& g) {
  data::ImageTransform t;
  if (!g.inputs.empty() && g.inputs[0].shape && g.inputs[0].shape->size() == 4) {
    const auto& dims = *g.inputs[0].shape;
    if (dims[1].known() && (dims[1].value == 1 || dims[1].value == 3)) t.channels = dims[1].value;
    if (dims[2].known()) t.height = dims[2].value;
    if (dims[3].known()) t.width = dims[3].value;
  }
  return t;
}

}  // namespace pare::blocks
