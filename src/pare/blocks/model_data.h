// How data meets a model: whether a dataset's samples fit a graph's input and its labels the graph's output,
// how logits pair with labels, and what images a model takes. The one place that knows both sides, so that
// data/ knows no models and every consumer (evaluation, training, calibration, the block driver) checks alike.
#pragma once
#include <string>
#include <utility>

#include "pare/data/dataset.h"
#include "pare/exec/executor.h"
#include "pare/ir/graph.h"

namespace pare::blocks {

// Throws Error naming the model input when the dataset's samples do not have the model's input shape,
// or (with `need_labels`) the dataset has no labels.
void check_samples_fit(const ir::Graph& graph, const data::Dataset& data, bool need_labels = true);
// Runs one sample to learn the model's class count (the logits' last dimension) and checks every label
// against it; returns the class count. Cheap: meant to run before any long work.
int64_t check_labels_fit(exec::Executor& ex, const data::Dataset& data, const std::string& output = "");

// Logits [N, C] with labels [N], or [N, T, C] with [N, T] flattened to [N*T, C] and [N*T]. Throws Error
// naming `output` when the shapes do not pair up that way.
std::pair<at::Tensor, at::Tensor> flatten_positions(const at::Tensor& logits, const at::Tensor& labels,
                                                    const std::string& output);

// What image folders decode to for a model whose first input is [N, C, H, W]: C (when 1 or 3), H and W.
data::ImageTransform image_transform_for(const ir::Graph& graph);

}  // namespace pare::blocks
