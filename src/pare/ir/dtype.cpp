// Mapping between ONNX element types and libtorch scalar types.
#include "pare/ir/dtype.h"

#include "pare/error.h"

namespace pare::ir {

std::string dtype_name(DType t) {
  switch (t) {
    case DType::Undefined:
      return "undefined";
    case DType::Float:
      return "float32";
    case DType::UInt8:
      return "uint8";
    case DType::Int8:
      return "int8";
    case DType::UInt16:
      return "uint16";
    case DType::Int16:
      return "int16";
    case DType::Int32:
      return "int32";
    case DType::Int64:
      return "int64";
    case DType::String:
      return "string";
    case DType::Bool:
      return "bool";
    case DType::Float16:
      return "float16";
    case DType::Double:
      return "float64";
    case DType::UInt32:
      return "uint32";
    case DType::UInt64:
      return "uint64";
    case DType::Complex64:
      return "complex64";
    case DType::Complex128:
      return "complex128";
    case DType::BFloat16:
      return "bfloat16";
  }
  return "type#" + std::to_string(static_cast<int>(t));
}

bool has_scalar_type(DType t) {
  switch (t) {
    case DType::Float:
    case DType::UInt8:
    case DType::Int8:
    case DType::Int16:
    case DType::Int32:
    case DType::Int64:
    case DType::Bool:
    case DType::Float16:
    case DType::Double:
    case DType::BFloat16:
    case DType::Complex64:
    case DType::Complex128:
      return true;
    default:
      return false;
  }
}

at::ScalarType to_scalar_type(DType t) {
  switch (t) {
    case DType::Float:
      return at::kFloat;
    case DType::UInt8:
      return at::kByte;
    case DType::Int8:
      return at::kChar;
    case DType::Int16:
      return at::kShort;
    case DType::Int32:
      return at::kInt;
    case DType::Int64:
      return at::kLong;
    case DType::Bool:
      return at::kBool;
    case DType::Float16:
      return at::kHalf;
    case DType::Double:
      return at::kDouble;
    case DType::BFloat16:
      return at::kBFloat16;
    case DType::Complex64:
      return at::kComplexFloat;
    case DType::Complex128:
      return at::kComplexDouble;
    default:
      throw Error("element type " + dtype_name(t) + " has no tensor representation in pare")
          .hint("pare computes with float, int8/16/32/64, uint8, bool, float16, bfloat16 and float64");
  }
}

DType from_scalar_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return DType::Float;
    case at::kByte:
      return DType::UInt8;
    case at::kChar:
      return DType::Int8;
    case at::kShort:
      return DType::Int16;
    case at::kInt:
      return DType::Int32;
    case at::kLong:
      return DType::Int64;
    case at::kBool:
      return DType::Bool;
    case at::kHalf:
      return DType::Float16;
    case at::kDouble:
      return DType::Double;
    case at::kBFloat16:
      return DType::BFloat16;
    case at::kComplexFloat:
      return DType::Complex64;
    case at::kComplexDouble:
      return DType::Complex128;
    default:
      throw Error(std::string("tensor type ") + c10::toString(t) + " has no ONNX equivalent");
  }
}

size_t dtype_size_bytes(DType t) {
  if (!has_scalar_type(t)) {
    if (t == DType::UInt16) return 2;
    if (t == DType::UInt32) return 4;
    if (t == DType::UInt64) return 8;
    return 0;
  }
  return c10::elementSize(to_scalar_type(t));
}

}  // namespace pare::ir
