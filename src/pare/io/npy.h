// .npy read/write (NumPy format 1.0-3.0) for float32, float16, float64, int64, int32, int8, uint8, bool.
#pragma once
#include <ATen/ATen.h>

#include <string>

namespace pare::io {

// Throws Error naming the file for a bad magic, unsupported dtype, big-endian or Fortran data, or truncation.
at::Tensor load_npy(const std::string& path);
at::Tensor npy_from_bytes(const std::string& bytes, const std::string& context);
// Writes atomically (temp file + rename).
void save_npy(const at::Tensor& t, const std::string& path);
std::string npy_to_bytes(const at::Tensor& t);

}  // namespace pare::io
