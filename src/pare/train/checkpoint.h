// Training checkpoints: every float initializer of the graph (weights and BatchNorm statistics), the
// optimizer state and the progress counters, in one file written atomically. The file records a
// fingerprint of the model's structure, so resuming with another model fails before any work.
//
// Layout: "PARECKPT" | u32 version | u64 header bytes | JSON header | tensor blobs (raw, little-endian).
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "pare/ir/graph.h"

namespace pare::train {

struct Checkpoint {
  std::string fingerprint;                    // of the graph structure (ops, wiring, initializer shapes)
  int64_t epochs_done = 0, steps_done = 0;    // progress counters
  std::map<std::string, at::Tensor> weights;  // initializer name -> value
  std::map<std::string, at::Tensor> optimizer;
  nlohmann::json info;  // options and history, for reports
};

// A stable hash (hex) of node ops, domains, wiring and initializer names/dtypes/shapes.
std::string graph_fingerprint(const ir::Graph& graph);

void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
// Throws Error naming `path` on a truncated, corrupt or foreign file.
Checkpoint load_checkpoint(const std::string& path);
// Copies the checkpoint's weights into `graph`'s initializers in place; throws Error naming the first
// difference when the checkpoint was made from another model.
void restore_weights(ir::Graph& graph, const Checkpoint& ckpt, const std::string& path);

}  // namespace pare::train
