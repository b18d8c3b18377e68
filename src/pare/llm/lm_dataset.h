// Next-token training samples from a token stream, as a data::Dataset that the ordinary trainer and
// evaluator take: windows of ctx + 1 consecutive tokens with stride ctx, inputs = window[0:ctx],
// labels = window[1:ctx+1] (int64 [N, ctx] each). The tail that does not fill a window is dropped.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "pare/data/dataset.h"

namespace pare::llm {

data::Dataset lm_windows(const std::vector<int32_t>& tokens, int64_t ctx, int64_t vocab_size, const std::string& name);

}  // namespace pare::llm
