// ONNX export: ir::Graph -> ModelProto / .onnx file that passes onnx::checker and runs in ONNX Runtime.
#pragma once
#include <onnx/onnx_pb.h>

#include <string>

#include "pare/ir/graph.h"

namespace pare::io {

struct OnnxSaveOptions {
  // Initializers of at least this many bytes go to "<file>.data" beside the model; 0 never.
  // Protobuf caps one message at 2 GiB, so large models must use external data.
  int64_t external_data_min_bytes = 0;
  bool check = true;  // run onnx::checker on the result before renaming it into place
};

onnx::ModelProto graph_to_model(const ir::Graph& g);
// Writes atomically; never overwrites a file listed in `protected_inputs`.
void save_onnx(const ir::Graph& g, const std::string& path, const OnnxSaveOptions& options = {},
               const std::vector<std::string>& protected_inputs = {});

}  // namespace pare::io
