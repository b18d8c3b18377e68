// Element types of IR values, numbered as ONNX TensorProto.DataType so that codes survive a round
// trip even for types libtorch cannot hold (strings, int4 written by later exporters).
#pragma once
#include <ATen/ATen.h>
#include <cstdint>
#include <string>

namespace pare::ir {

enum class DType : int32_t {
  Undefined = 0,
  Float = 1,
  UInt8 = 2,
  Int8 = 3,
  UInt16 = 4,
  Int16 = 5,
  Int32 = 6,
  Int64 = 7,
  String = 8,
  Bool = 9,
  Float16 = 10,
  Double = 11,
  UInt32 = 12,
  UInt64 = 13,
  Complex64 = 14,
  Complex128 = 15,
  BFloat16 = 16,
};

std::string dtype_name(DType t);           // "float32", "int64", ...
bool has_scalar_type(DType t);             // libtorch can hold it
at::ScalarType to_scalar_type(DType t);    // throws Error for types libtorch lacks
DType from_scalar_type(at::ScalarType t);  // throws Error for types ONNX lacks
size_t dtype_size_bytes(DType t);          // 0 for String/Undefined

}  // namespace pare::ir
