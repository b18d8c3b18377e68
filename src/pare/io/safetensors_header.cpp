// The checks of one safetensors header, field by field, and the format's dtype table. Format facts are from the spec
// in github.com/huggingface/safetensors (README, "Format" and "Notes").
#include "pare/io/safetensors_header.h"

#include <fmt/format.h>
#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>
#include <tuple>

#include "pare/error.h"
#include "pare/ir/graph.h"

namespace pare::io {
namespace {

constexpr uint64_t kMaxElements = uint64_t{1} << 40;  // as the ONNX and NPY readers: beyond it, a damaged shape
const char kDamaged[] = "the file is damaged or is not safetensors; download or write it again";

// The spec's dtypes with whole bytes per element; F4/F6 (packed) are unknown here.
const SafetensorsDType kDTypes[] = {{"F32", 4, at::kFloat},
                                    {"F16", 2, at::kHalf},
                                    {"BF16", 2, at::kBFloat16},
                                    {"F64", 8, at::kDouble},
                                    {"I64", 8, at::kLong},
                                    {"I32", 4, at::kInt},
                                    {"I16", 2, at::kShort},
                                    {"I8", 1, at::kChar},
                                    {"U8", 1, at::kByte},
                                    {"BOOL", 1, at::kBool},
                                    {"U16", 2, at::ScalarType::Undefined},
                                    {"U32", 4, at::ScalarType::Undefined},
                                    {"U64", 8, at::ScalarType::Undefined},
                                    {"F8_E4M3", 1, at::ScalarType::Undefined},
                                    {"F8_E5M2", 1, at::ScalarType::Undefined},
                                    {"F8_E8M0", 1, at::ScalarType::Undefined},
                                    {"C64", 8, at::ScalarType::Undefined}};

}  // namespace

const SafetensorsDType* find_safetensors_dtype(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

const SafetensorsDType* find_safetensors_dtype(at::ScalarType type) {
  for (const auto& d : kDTypes)
    if (d.type == type && type != at::ScalarType::Undefined) return &d;
  return nullptr;
}

std::string safetensors_dtype_names(bool readable_only) {
  std::string s;
  for (const auto& d : kDTypes)
    if (!readable_only || d.type != at::ScalarType::Undefined) s += (s.empty() ? "" : " ") + std::string(d.name);
  return s;
}

namespace {

// A JSON value for a "got:" line, cut short.
std::string brief(const nlohmann::json& j) {
  std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return s.size() > 120 ? s.substr(0, 120) + "..." : s;
}

std::string printable(const uint8_t* p, size_t n) {
  std::string out = "'";
  for (size_t i = 0; i < n; ++i)
    out +=
        std::isprint(p[i]) && p[i] != '\\' ? std::string(1, static_cast<char>(p[i])) : fmt::format("\\x{:02x}", p[i]);
  return out + "'";
}

std::string offsets_string(uint64_t begin, uint64_t end) { return fmt::format("[{}, {}]", begin, end); }

// Parses the JSON text, refusing duplicate keys (the spec disallows them; nlohmann would keep the last).
nlohmann::json parse_json(const char* text, size_t n, const std::string& context) {
  std::vector<std::set<std::string>> open_objects;
  auto no_duplicates = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) {
      open_objects.emplace_back();
    } else if (event == Event::object_end) {
      open_objects.pop_back();
    } else if (event == Event::key && !open_objects.back().insert(parsed.get<std::string>()).second) {
      const std::string key = parsed.get<std::string>();
      Error e(open_objects.size() == 1 ? "name appears twice in the safetensors header"
                                       : "key '" + key + "' appears twice in an object of the safetensors header");
      if (open_objects.size() == 1) e.tensor(key);
      throw e.file(context).expected("unique keys (the spec disallows duplicates)").hint(kDamaged);
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text, text + n, no_duplicates);
  } catch (const nlohmann::json::exception& ex) {
    throw Error("safetensors header is not valid JSON").file(context).got(ex.what()).hint(kDamaged);
  }
}

std::vector<uint64_t> unsigned_list(const nlohmann::json& v, const char* field, const std::string& name,
                                    const std::string& context) {
  auto bad = [&](const std::string& what, const std::string& expected) {
    return Error(what).file(context).tensor(name).expected(expected).got(brief(v)).hint(kDamaged);
  };
  if (!v.is_array()) throw bad(std::string("field '") + field + "' is missing or not a list", "a list of integers");
  std::vector<uint64_t> out;
  for (const auto& x : v) {
    if (x.is_number_integer() && !x.is_number_unsigned())
      throw bad(std::string("field '") + field + "' holds a negative number", "integers >= 0");
    if (!x.is_number_unsigned()) throw bad(std::string("field '") + field + "' is not a list of integers", "integers");
    out.push_back(x.get<uint64_t>());
  }
  return out;
}

SafetensorsEntry parse_entry(const std::string& name, const nlohmann::json& v, uint64_t buffer_bytes,
                             const std::string& context) {
  if (!v.is_object())
    throw Error("header entry is not an object")
        .file(context)
        .tensor(name)
        .expected(R"({"dtype": "F32", "shape": [...], "data_offsets": [BEGIN, END]})")
        .got(brief(v))
        .hint(kDamaged);
  SafetensorsEntry e;
  e.name = name;
  e.file = context;
  const auto dtype = v.find("dtype");
  if (dtype == v.end() || !dtype->is_string())
    throw Error("field 'dtype' is missing or not a string").file(context).tensor(name).got(brief(v)).hint(kDamaged);
  e.dtype = dtype->get<std::string>();
  const SafetensorsDType* type = find_safetensors_dtype(e.dtype);
  if (!type)
    throw Error("unknown dtype '" + e.dtype + "'")
        .file(context)
        .tensor(name)
        .expected("one of " + safetensors_dtype_names(false))
        .got("'" + e.dtype + "'")
        .hint("the file may come from a newer safetensors; convert the tensor to F16, BF16 or F32 in Python");
  const auto shape_it = v.find("shape");
  const std::vector<uint64_t> shape =
      unsigned_list(shape_it == v.end() ? nlohmann::json() : *shape_it, "shape", name, context);
  // Zero-size dimensions must not hide huge ones: libtorch multiplies all of them when it makes a tensor.
  uint64_t nonzero = 1;
  bool empty = false;
  for (uint64_t d : shape) {
    if (d == 0) {
      empty = true;
      continue;
    }
    if (d > kMaxElements || nonzero > kMaxElements / d)
      throw Error("shape is implausibly large")
          .file(context)
          .tensor(name)
          .expected("at most 2^40 elements (ignoring zero-size dimensions)")
          .got(brief(*shape_it))
          .hint(kDamaged);
    nonzero *= d;
  }
  for (uint64_t d : shape) e.shape.push_back(static_cast<int64_t>(d));
  const auto offsets_it = v.find("data_offsets");
  const std::vector<uint64_t> offsets =
      unsigned_list(offsets_it == v.end() ? nlohmann::json() : *offsets_it, "data_offsets", name, context);
  if (offsets.size() != 2)
    throw Error("field 'data_offsets' is not a pair")
        .file(context)
        .tensor(name)
        .expected("[BEGIN, END]")
        .got(brief(*offsets_it))
        .hint(kDamaged);
  e.begin = offsets[0];
  e.end = offsets[1];
  if (e.begin > e.end || e.end > buffer_bytes)
    throw Error(e.begin > e.end ? "data_offsets end before they begin" : "data_offsets run past the end of the buffer")
        .file(context)
        .tensor(name)
        .expected(fmt::format("0 <= BEGIN <= END <= {} (the buffer's size in bytes)", buffer_bytes))
        .got(offsets_string(e.begin, e.end))
        .hint(e.begin > e.end ? kDamaged : "the file is truncated or damaged; download or write it again");
  const uint64_t bytes = (empty ? 0 : nonzero) * type->bytes;
  if (e.end - e.begin != bytes)
    throw Error("data_offsets do not match the dtype and shape")
        .file(context)
        .tensor(name)
        .expected(fmt::format("{} bytes for {}{}", bytes, e.dtype, ir::shape_string(e.shape)))
        .got(fmt::format("{} bytes (data_offsets {})", e.end - e.begin, offsets_string(e.begin, e.end)))
        .hint(kDamaged);
  return e;
}

// The spec: tensors fill the buffer without holes or overlap (so no byte is read twice, none hides data).
void check_tiling(const std::vector<SafetensorsEntry>& entries, uint64_t buffer_bytes, const std::string& context) {
  std::vector<const SafetensorsEntry*> order;
  for (const auto& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
    return std::tie(a->begin, a->end, a->name) < std::tie(b->begin, b->end, b->name);
  });
  uint64_t pos = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const SafetensorsEntry* e : order) {
    if (e->begin < pos)
      throw Error("tensor overlaps '" + prev->name + "' in the buffer")
          .file(context)
          .tensor(e->name)
          .expected(fmt::format("data_offsets starting at {} (where '{}' ends)", pos, prev->name))
          .got(offsets_string(e->begin, e->end))
          .hint(kDamaged);
    if (e->begin > pos)
      throw Error(fmt::format("the buffer has a hole of {} bytes before this tensor", e->begin - pos))
          .file(context)
          .tensor(e->name)
          .expected(fmt::format("data_offsets starting at {} (the spec allows no holes)", pos))
          .got(offsets_string(e->begin, e->end))
          .hint(kDamaged);
    pos = e->end;
    prev = e;
  }
  if (pos != buffer_bytes)
    throw Error(fmt::format("the buffer has {} bytes after the last tensor", buffer_bytes - pos))
        .file(context)
        .expected(fmt::format("a buffer of {} bytes (the spec allows no holes)", pos))
        .got(fmt::format("{} bytes", buffer_bytes))
        .hint(kDamaged);
}

nlohmann::json check_metadata(const nlohmann::json& m, const std::string& context) {
  if (m.is_null()) return nlohmann::json::object();  // the reference reader takes null as absent
  auto bad = [&](const std::string& what) {
    return Error(what)
        .file(context)
        .expected(R"(a map of strings, e.g. {"format": "pt"})")
        .got(brief(m))
        .hint("the metadata must be strings only; write the file again");
  };
  if (!m.is_object()) throw bad("field '__metadata__' is not an object");
  for (const auto& [key, value] : m.items())
    if (!value.is_string()) throw bad("field '__metadata__' holds a non-string value for key '" + key + "'");
  return m;
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, const std::string& context) {
  if (size < 8)
    throw Error(size == 0 ? "safetensors file is empty" : "safetensors file is too short")
        .file(context)
        .expected("at least 8 bytes (the header length)")
        .got(std::to_string(size) + " bytes")
        .hint(kDamaged);
  uint64_t n = 0;
  std::memcpy(&n, data, 8);
  if (n > kSafetensorsMaxHeaderBytes)
    throw Error("safetensors header length is implausibly large")
        .file(context)
        .expected("at most 100000000 bytes (the spec's limit)")
        .got(std::to_string(n) + " bytes")
        .hint(kDamaged);
  if (n > size - 8)
    throw Error("safetensors header runs past the end of the file (truncated?)")
        .file(context)
        .expected(std::to_string(n) + " header bytes after the 8-byte length")
        .got(fmt::format("a file of {} bytes", size))
        .hint("the file is truncated or damaged; download or write it again");
  const uint8_t* text = data + 8;
  if (n == 0 || text[0] != '{')
    throw Error("safetensors header is not a JSON object")
        .file(context)
        .expected("JSON starting with '{'")
        .got(n == 0 ? "an empty header" : "first bytes " + printable(text, std::min<uint64_t>(n, 16)))
        .hint(kDamaged);
  const nlohmann::json j = parse_json(reinterpret_cast<const char*>(text), n, context);
  if (!j.is_object()) throw Error("safetensors header is not a JSON object").file(context).hint(kDamaged);
  SafetensorsHeader out;
  out.buffer = 8 + n;
  const uint64_t buffer_bytes = size - out.buffer;
  for (const auto& [name, value] : j.items()) {
    if (name == "__metadata__")
      out.metadata = check_metadata(value, context);
    else
      out.entries.push_back(parse_entry(name, value, buffer_bytes, context));
  }
  check_tiling(out.entries, buffer_bytes, context);
  return out;
}

}  // namespace pare::io
