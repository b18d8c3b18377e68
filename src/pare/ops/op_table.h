// OpTable: (domain, op type, since-version) -> implementation. A model at opset N uses the newest
// entry whose `since` <= N. Built once by builtin() from all_ops.cpp, immutable afterwards.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "pare/ops/op_context.h"

namespace pare::ops {

using OpFn = Tensors (*)(const OpContext& ctx, const Tensors& inputs);

struct OpEntry {
  OpEntry(std::string op_type, int since_opset, OpFn impl, std::string op_domain = "")
      : op(std::move(op_type)), since(since_opset), fn(impl), domain(std::move(op_domain)) {}
  std::string op;
  int since = 1;
  OpFn fn = nullptr;
  std::string domain;  // "" = default ONNX domain
};

class OpTable {
 public:
  void add(OpEntry entry);
  // Newest entry with since <= opset, or nullptr when pare has no implementation.
  const OpEntry* find(const std::string& domain, const std::string& op, int64_t opset) const;
  // Every (domain, op) known, sorted; and the since-versions of one op.
  std::vector<std::pair<std::string, std::string>> ops() const;
  std::vector<int> versions(const std::string& domain, const std::string& op) const;

  static const OpTable& builtin();

 private:
  std::map<std::pair<std::string, std::string>, std::vector<OpEntry>> entries_;  // sorted by since
};

// Family registration functions, called in order by builtin() (ops/all_ops.cpp).
void register_all_ops(OpTable& t);

}  // namespace pare::ops
