// The `pare info` summary of a safetensors file or model folder: every tensor (name, dtype, shape, bytes, and its
// shard when there are several) and totals per dtype. Reads only what the headers say, never the tensor data.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "pare/io/safetensors.h"

namespace pare::report {

nlohmann::json safetensors_summary_json(const io::SafetensorsModel& m);
std::string safetensors_summary_text(const io::SafetensorsModel& m);

}  // namespace pare::report
