// Calibration data for a Llama: a text through the model's tokenizer, cut into windows the block driver
// (blocks/block_driver.h) runs through the model, for methods that learn block by block.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "pare/blocks/block_source.h"
#include "pare/llm/tokenizer.h"

namespace pare::llm {

// The text `spec` names (brown:train, text:FILE or a file; a trailing ":N" keeps its first N tokens), encoded by
// `tok` and cut into windows of `ctx` tokens, each starting with `bos_id`; as driver batches
// {"input_ids": [b, ctx]} of at most `batch` windows. Error when the text is shorter than one window.
std::vector<blocks::Values> calibration_windows(const Tokenizer& tok, const std::string& spec, int64_t ctx,
                                                int64_t bos_id, int64_t batch = 8);

}  // namespace pare::llm
