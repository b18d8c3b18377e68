// GgufValue: one typed GGUF metadata value (scalar, string or array), its accessors and its short text form.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "pare/error.h"
#include "pare/io/gguf.h"

namespace pare::io {

namespace {

template <typename T>
struct GgufTypeOf;
template <>
struct GgufTypeOf<uint8_t> {
  static constexpr GgufType value = GgufType::U8;
};
template <>
struct GgufTypeOf<int8_t> {
  static constexpr GgufType value = GgufType::I8;
};
template <>
struct GgufTypeOf<uint16_t> {
  static constexpr GgufType value = GgufType::U16;
};
template <>
struct GgufTypeOf<int16_t> {
  static constexpr GgufType value = GgufType::I16;
};
template <>
struct GgufTypeOf<uint32_t> {
  static constexpr GgufType value = GgufType::U32;
};
template <>
struct GgufTypeOf<int32_t> {
  static constexpr GgufType value = GgufType::I32;
};
template <>
struct GgufTypeOf<uint64_t> {
  static constexpr GgufType value = GgufType::U64;
};
template <>
struct GgufTypeOf<int64_t> {
  static constexpr GgufType value = GgufType::I64;
};
template <>
struct GgufTypeOf<float> {
  static constexpr GgufType value = GgufType::F32;
};
template <>
struct GgufTypeOf<double> {
  static constexpr GgufType value = GgufType::F64;
};
template <>
struct GgufTypeOf<bool> {
  static constexpr GgufType value = GgufType::Bool;
};

[[noreturn]] void wrong_type(const std::string& expected, const std::string& got) {
  throw Error("GGUF value has the wrong type").expected(expected).got(got);
}

// A string for one line of text: control characters escaped, cut at `max_chars` bytes.
std::string quote(const std::string& s, size_t max_chars) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < max_chars; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\n')
      out += "\\n";
    else if (c == '"' || c == '\\')
      out += std::string("\\") + static_cast<char>(c);
    else if (c < 0x20 || c == 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  out += "\"";
  if (s.size() > max_chars) out += fmt::format("... ({} bytes)", s.size());
  return out;
}

}  // namespace

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::U8:
      return "u8";
    case GgufType::I8:
      return "i8";
    case GgufType::U16:
      return "u16";
    case GgufType::I16:
      return "i16";
    case GgufType::U32:
      return "u32";
    case GgufType::I32:
      return "i32";
    case GgufType::F32:
      return "f32";
    case GgufType::Bool:
      return "bool";
    case GgufType::String:
      return "str";
    case GgufType::Array:
      return "arr";
    case GgufType::U64:
      return "u64";
    case GgufType::I64:
      return "i64";
    case GgufType::F64:
      return "f64";
  }
  return "?";
}

size_t gguf_scalar_bytes(GgufType t) {
  switch (t) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::Bool:
      return 1;
    case GgufType::U16:
    case GgufType::I16:
      return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32:
      return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64:
      return 8;
    case GgufType::String:
    case GgufType::Array:
      return 0;
  }
  return 0;
}

#define PARE_GGUF_SCALAR_CTOR(T) \
  GgufValue::GgufValue(T v) : type_(GgufTypeOf<T>::value), elem_(type_) { std::memcpy(&scalar_, &v, sizeof(T)); }
PARE_GGUF_SCALAR_CTOR(uint8_t)
PARE_GGUF_SCALAR_CTOR(int8_t)
PARE_GGUF_SCALAR_CTOR(uint16_t)
PARE_GGUF_SCALAR_CTOR(int16_t)
PARE_GGUF_SCALAR_CTOR(uint32_t)
PARE_GGUF_SCALAR_CTOR(int32_t)
PARE_GGUF_SCALAR_CTOR(uint64_t)
PARE_GGUF_SCALAR_CTOR(int64_t)
PARE_GGUF_SCALAR_CTOR(float)
PARE_GGUF_SCALAR_CTOR(double)
#undef PARE_GGUF_SCALAR_CTOR

GgufValue::GgufValue(bool v) : type_(GgufType::Bool), elem_(GgufType::Bool), scalar_(v ? 1 : 0) {}
GgufValue::GgufValue(std::string v) : type_(GgufType::String), elem_(GgufType::String), string_(std::move(v)) {}
GgufValue::GgufValue(const char* v) : GgufValue(std::string(v)) {}

template <typename T>
GgufValue GgufValue::array(const std::vector<T>& items) {
  GgufValue v;
  v.type_ = GgufType::Array;
  v.elem_ = GgufTypeOf<T>::value;
  v.count_ = items.size();
  v.raw_.resize(items.size() * sizeof(T));
  for (size_t i = 0; i < items.size(); ++i) {
    const T item = items[i];  // vector<bool> yields a proxy: copy to a T first
    std::memcpy(v.raw_.data() + i * sizeof(T), &item, sizeof(T));
  }
  return v;
}

GgufValue GgufValue::array(std::vector<std::string> items) {
  GgufValue v;
  v.type_ = GgufType::Array;
  v.elem_ = GgufType::String;
  v.count_ = items.size();
  v.strings_ = std::move(items);
  return v;
}

GgufValue GgufValue::array_of_arrays(std::vector<GgufValue> items) {
  for (const GgufValue& item : items)
    if (!item.is_array()) wrong_type("an array for every element of an array of arrays", item.type_string());
  GgufValue v;
  v.type_ = GgufType::Array;
  v.elem_ = GgufType::Array;
  v.count_ = items.size();
  v.nested_ = std::move(items);
  return v;
}

template <typename T>
T GgufValue::get() const {
  if (type_ != GgufTypeOf<T>::value) wrong_type(gguf_type_name(GgufTypeOf<T>::value), type_string());
  if constexpr (std::is_same_v<T, bool>) {
    return scalar_ != 0;
  } else {
    T v;
    std::memcpy(&v, &scalar_, sizeof(T));
    return v;
  }
}

const std::string& GgufValue::str() const {
  if (type_ != GgufType::String) wrong_type("str", type_string());
  return string_;
}

template <typename T>
std::vector<T> GgufValue::numbers() const {
  if (type_ != GgufType::Array || elem_ != GgufTypeOf<T>::value)
    wrong_type(std::string("arr[") + gguf_type_name(GgufTypeOf<T>::value) + "]", type_string());
  std::vector<T> out(count_);
  for (size_t i = 0; i < count_; ++i) {
    if constexpr (std::is_same_v<T, bool>) {
      out[i] = raw_[i] != 0;
    } else {
      std::memcpy(&out[i], raw_.data() + i * sizeof(T), sizeof(T));
    }
  }
  return out;
}

const std::vector<std::string>& GgufValue::strings() const {
  if (type_ != GgufType::Array || elem_ != GgufType::String) wrong_type("arr[str]", type_string());
  return strings_;
}

const std::vector<GgufValue>& GgufValue::arrays() const {
  if (type_ != GgufType::Array || elem_ != GgufType::Array) wrong_type("arr[arr]", type_string());
  return nested_;
}

uint64_t GgufValue::as_uint() const {
  switch (type_) {
    case GgufType::U8:
    case GgufType::U16:
    case GgufType::U32:
    case GgufType::U64:
      return scalar_;  // zero-extended: the upper bytes stay 0
    case GgufType::I8: {
      const int8_t v = get<int8_t>();
      if (v >= 0) return static_cast<uint64_t>(v);
      break;
    }
    case GgufType::I16: {
      const int16_t v = get<int16_t>();
      if (v >= 0) return static_cast<uint64_t>(v);
      break;
    }
    case GgufType::I32: {
      const int32_t v = get<int32_t>();
      if (v >= 0) return static_cast<uint64_t>(v);
      break;
    }
    case GgufType::I64: {
      const int64_t v = get<int64_t>();
      if (v >= 0) return static_cast<uint64_t>(v);
      break;
    }
    default:
      wrong_type("an integer (u8 to i64)", type_string());
  }
  wrong_type("an integer >= 0", text());
}

GgufValue GgufValue::element(uint64_t i) const {
  if (type_ != GgufType::Array) wrong_type("arr", type_string());
  PARE_ASSERT(i < count_, "GGUF array index out of range");
  if (elem_ == GgufType::String) return GgufValue(strings_[i]);
  if (elem_ == GgufType::Array) return nested_[i];
  GgufValue v;
  v.type_ = v.elem_ = elem_;
  const size_t n = gguf_scalar_bytes(elem_);
  std::memcpy(&v.scalar_, raw_.data() + i * n, n);
  return v;
}

std::string GgufValue::type_string() const {
  if (type_ != GgufType::Array) return gguf_type_name(type_);
  return fmt::format("arr[{},{}]", gguf_type_name(elem_), count_);
}

std::string GgufValue::text(size_t max_items, size_t max_chars) const {
  switch (type_) {
    case GgufType::U8:
      return std::to_string(get<uint8_t>());
    case GgufType::I8:
      return std::to_string(get<int8_t>());
    case GgufType::U16:
      return std::to_string(get<uint16_t>());
    case GgufType::I16:
      return std::to_string(get<int16_t>());
    case GgufType::U32:
      return std::to_string(get<uint32_t>());
    case GgufType::I32:
      return std::to_string(get<int32_t>());
    case GgufType::U64:
      return std::to_string(get<uint64_t>());
    case GgufType::I64:
      return std::to_string(get<int64_t>());
    case GgufType::F32:
      return fmt::format("{}", get<float>());
    case GgufType::F64:
      return fmt::format("{}", get<double>());
    case GgufType::Bool:
      return get<bool>() ? "true" : "false";
    case GgufType::String:
      return quote(string_, max_chars);
    case GgufType::Array:
      break;
  }
  std::string out = "[";
  for (uint64_t i = 0; i < count_ && i < max_items; ++i)
    out += (i ? ", " : "") + element(i).text(max_items, std::min<size_t>(max_chars, 32));
  if (count_ > max_items) out += fmt::format(", ... ({} items)", count_);
  return out + "]";
}

bool GgufValue::operator==(const GgufValue& o) const {
  return type_ == o.type_ && elem_ == o.elem_ && count_ == o.count_ && scalar_ == o.scalar_ && string_ == o.string_ &&
         raw_ == o.raw_ && strings_ == o.strings_ && nested_ == o.nested_;
}

#define PARE_GGUF_INSTANTIATE(T)                                       \
  template GgufValue GgufValue::array<T>(const std::vector<T>& items); \
  template T GgufValue::get<T>() const;                                \
  template std::vector<T> GgufValue::numbers<T>() const;
PARE_GGUF_INSTANTIATE(uint8_t)
PARE_GGUF_INSTANTIATE(int8_t)
PARE_GGUF_INSTANTIATE(uint16_t)
PARE_GGUF_INSTANTIATE(int16_t)
PARE_GGUF_INSTANTIATE(uint32_t)
PARE_GGUF_INSTANTIATE(int32_t)
PARE_GGUF_INSTANTIATE(uint64_t)
PARE_GGUF_INSTANTIATE(int64_t)
PARE_GGUF_INSTANTIATE(float)
PARE_GGUF_INSTANTIATE(double)
PARE_GGUF_INSTANTIATE(bool)
#undef PARE_GGUF_INSTANTIATE

}  // namespace pare::io
