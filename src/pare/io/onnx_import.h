// ONNX import: a .onnx file (with external data beside it) becomes an ir::Graph that keeps every
// name, initializer and attribute. Structural problems are reported as pare::Error naming the file.
#pragma once
#include <onnx/onnx_pb.h>

#include <string>

#include "pare/ir/graph.h"

namespace pare::io {

constexpr int64_t kMinOpset = 1;   // older opsets load; ops resolve to the version they were defined at
constexpr int64_t kMaxOpset = 17;  // newest opset of Debian's ONNX 1.12, which pare is tested against

ir::Graph load_onnx(const std::string& path);
ir::Graph graph_from_model(const onnx::ModelProto& model, const std::string& base_dir, const std::string& context);
// Reads and parses the protobuf only (no conversion); throws Error on unreadable/corrupt files.
onnx::ModelProto read_model_proto(const std::string& path);
// The same from bytes in memory; `context` names the source in errors.
onnx::ModelProto model_proto_from_bytes(const std::string& bytes, const std::string& context);
// load_onnx for a model already in memory; external data is looked up under `base_dir`.
ir::Graph load_onnx_from_bytes(const std::string& bytes, const std::string& base_dir, const std::string& context);

}  // namespace pare::io
