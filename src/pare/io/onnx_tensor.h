// Conversion between ONNX TensorProto and at::Tensor, including tensors stored in external data files.
#pragma once
#include <ATen/ATen.h>
#include <onnx/onnx_pb.h>

#include <string>

namespace pare::io {

// Decodes `proto`. `base_dir` resolves external data locations; `context` (file path) names errors.
// Throws Error naming the tensor when data is missing, truncated, of the wrong size or type.
at::Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& base_dir, const std::string& context);

// Encodes `t` (made contiguous, little-endian raw_data) under `name`.
void tensor_to_proto(const at::Tensor& t, const std::string& name, onnx::TensorProto* proto);

}  // namespace pare::io
