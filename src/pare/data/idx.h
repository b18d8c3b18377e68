// IDX reader (the MNIST file format), plain or gzip-compressed: magic 0x0000 <type> <rank>, one
// big-endian uint32 per dimension, then big-endian values in C order.
#pragma once
#include <ATen/ATen.h>

#include <string>

namespace pare::data {

// Returns a tensor of the file's element type (uint8, int8, int16, int32, float32, float64) and shape.
// Throws Error naming the file for a wrong magic, an unknown type code, or a size that does not match.
at::Tensor load_idx(const std::string& path);
at::Tensor idx_from_bytes(const std::string& bytes, const std::string& context);

}  // namespace pare::data
