// How messages spell tensor shapes and element types: "[1, 3, 224, 224]", "float32". Shared by every module
// (base layer: no pare dependencies) so that errors read the same wherever they come from.
#pragma once
#include <ATen/ATen.h>

#include <string>

namespace pare {

std::string shape_string(at::IntArrayRef sizes);  // "[1, 3, 224, 224]"
std::string scalar_type_name(at::ScalarType t);   // "float32", "int64", "bfloat16", ...

}  // namespace pare
