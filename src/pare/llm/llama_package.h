// A quantized Llama as a .pare package (the byte layout of io/package_format.h, pare_package.h): instead of
// an ONNX graph, the header holds the model's Hugging Face config and its tensors by Hugging Face name,
//
//   "llama":     config.json's fields (LlamaConfig::to_json)
//   "tensors":   {NAME: {"dtype": "F16" | "F32", "shape", "data": BLOB}}   -- weights kept in float
//   "quantized": [{"weight": NAME, ...one quantized weight, package_format.h}]
//   "tokenizer": BLOB (the SentencePiece tokenizer.model bytes) or null
//   "metadata":  {"recipe", "source", ...}
//
// Read lazily: opening checks the header, every tensor's presence and shape against the config and every
// blob's size, without touching the weights; a weight is read (CRC-checked, dequantized) only when a layer
// asks for it, and its pages can be released after, so perplexity runs block by block in bounded memory.
#pragma once
#include <optional>
#include <string>

#include "pare/llm/llama_stream.h"

namespace pare::llm {

// Whether `path` is a .pare package holding a Llama (false for other files and for graph packages).
bool is_llama_package(const std::string& path);

LlamaModel load_llama_package(const std::string& path);

// The tokenizer.model bytes stored in the package, if any.
std::optional<std::string> llama_package_tokenizer(const std::string& path);

}  // namespace pare::llm
