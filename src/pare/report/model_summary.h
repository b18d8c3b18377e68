// A readable and a JSON summary of a model: inputs/outputs, op histogram, parameters, unsupported ops.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "pare/ir/graph.h"

namespace pare::report {

nlohmann::json model_summary_json(const ir::Graph& g, const std::string& path);
std::string model_summary_text(const ir::Graph& g, const std::string& path);
// Human-readable byte count: "1.2 MB".
std::string format_bytes(int64_t bytes);

}  // namespace pare::report
