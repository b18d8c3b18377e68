// OpTable lookup by opset, and the one immutable built-in table.
#include "pare/ops/op_table.h"

#include <algorithm>

#include "pare/error.h"

namespace pare::ops {

void OpTable::add(OpEntry entry) {
  PARE_ASSERT(entry.fn != nullptr, "op registered without an implementation");
  auto& list = entries_[{entry.domain, entry.op}];
  for (const auto& e : list) PARE_ASSERT(e.since != entry.since, "op version registered twice");
  list.push_back(std::move(entry));
  std::sort(list.begin(), list.end(), [](const OpEntry& a, const OpEntry& b) { return a.since < b.since; });
}

const OpEntry* OpTable::find(const std::string& domain, const std::string& op, int64_t opset) const {
  auto it = entries_.find({domain == "ai.onnx" ? "" : domain, op});
  if (it == entries_.end()) return nullptr;
  const OpEntry* best = nullptr;
  for (const auto& e : it->second)
    if (e.since <= opset) best = &e;
  return best;
}

std::vector<std::pair<std::string, std::string>> OpTable::ops() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& kv : entries_) out.push_back(kv.first);
  return out;
}

std::vector<int> OpTable::versions(const std::string& domain, const std::string& op) const {
  std::vector<int> out;
  auto it = entries_.find({domain == "ai.onnx" ? "" : domain, op});  // as in find()
  if (it != entries_.end())
    for (const auto& e : it->second) out.push_back(e.since);
  return out;
}

const OpTable& OpTable::builtin() {
  // A function-local static built on first use; never modified after construction.
  static const OpTable table = [] {
    OpTable t;
    register_all_ops(t);
    return t;
  }();
  return table;
}

}  // namespace pare::ops
