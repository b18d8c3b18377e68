// Attribute access with kind checks, so a malformed model fails with the node and attribute named.
#include "pare/ops/op_context.h"

#include "pare/error.h"

namespace pare::ops {
using K = ir::Attribute::Kind;

const ir::Attribute& OpContext::get(const std::string& key, K kind) const {
  const ir::Attribute* a = node_.attr(key);
  if (!a) fail("required attribute '" + key + "' is missing");
  if (a->kind != kind)
    fail("attribute '" + key + "' has kind " + ir::attribute_kind_name(a->kind) + ", expected " +
         ir::attribute_kind_name(kind));
  return *a;
}

int64_t OpContext::attr_int(const std::string& key) const { return get(key, K::Int).i; }
int64_t OpContext::attr_int(const std::string& key, int64_t def) const {
  return has_attr(key) ? get(key, K::Int).i : def;
}
double OpContext::attr_float(const std::string& key, double def) const {
  if (!has_attr(key)) return def;
  const ir::Attribute* a = node_.attr(key);
  if (a->kind == K::Int) return static_cast<double>(a->i);  // some exporters write integral floats as ints
  return get(key, K::Float).f;
}
std::string OpContext::attr_string(const std::string& key, const std::string& def) const {
  return has_attr(key) ? get(key, K::String).s : def;
}
std::vector<int64_t> OpContext::attr_ints(const std::string& key, std::vector<int64_t> def) const {
  return has_attr(key) ? get(key, K::Ints).ints : def;
}
std::vector<double> OpContext::attr_floats(const std::string& key, std::vector<double> def) const {
  return has_attr(key) ? get(key, K::Floats).floats : def;
}
std::vector<std::string> OpContext::attr_strings(const std::string& key, std::vector<std::string> def) const {
  return has_attr(key) ? get(key, K::Strings).strings : def;
}
at::Tensor OpContext::attr_tensor(const std::string& key) const { return get(key, K::Tensor).t; }

void OpContext::fail(const std::string& what, const std::string& hint) const {
  Error e(node_.op_type + ": " + what);
  e.node(node_.name);
  if (!hint.empty()) e.hint(hint);
  throw e;
}

std::vector<int64_t> to_int_vector(const at::Tensor& t) {
  at::Tensor c = t.to(at::kLong).contiguous().reshape({-1});
  const int64_t* p = c.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + c.numel());
}

int64_t normalize_axis(const OpContext& ctx, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
    ctx.fail("axis " + std::to_string(axis) + " is out of range for a tensor of rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

}  // namespace pare::ops
