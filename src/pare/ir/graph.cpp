// Graph queries and structural edits: producers/consumers, topological order, clone, node replacement.
#include "pare/ir/graph.h"

#include <deque>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "pare/error.h"

namespace pare::ir {

const char* attribute_kind_name(Attribute::Kind k) {
  switch (k) {
    case Attribute::Kind::Int:
      return "int";
    case Attribute::Kind::Float:
      return "float";
    case Attribute::Kind::String:
      return "string";
    case Attribute::Kind::Tensor:
      return "tensor";
    case Attribute::Kind::Graph:
      return "graph";
    case Attribute::Kind::Ints:
      return "ints";
    case Attribute::Kind::Floats:
      return "floats";
    case Attribute::Kind::Strings:
      return "strings";
  }
  return "?";
}

std::string shape_string(const std::optional<std::vector<Dim>>& shape) {
  if (!shape) return "[?]";
  std::string s = "[";
  for (size_t i = 0; i < shape->size(); ++i) {
    if (i) s += ", ";
    const Dim& d = (*shape)[i];
    s += d.known() ? std::to_string(d.value) : (d.param.empty() ? "?" : d.param);
  }
  return s + "]";
}

const Attribute* Node::attr(const std::string& key) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? nullptr : &it->second;
}

std::optional<NodeId> Graph::producer(const std::string& value) const {
  if (value.empty()) return std::nullopt;
  for (NodeId i = 0; i < nodes.size(); ++i)
    for (const auto& o : nodes[i].outputs)
      if (o == value) return i;
  return std::nullopt;
}

std::vector<NodeId> Graph::consumers(const std::string& value) const {
  std::vector<NodeId> out;
  if (value.empty()) return out;
  for (NodeId i = 0; i < nodes.size(); ++i)
    for (const auto& in : nodes[i].inputs)
      if (in == value) {
        out.push_back(i);
        break;
      }
  return out;
}

bool Graph::is_input(const std::string& value) const {
  for (const auto& v : inputs)
    if (v.name == value) return true;
  return false;
}

bool Graph::is_output(const std::string& value) const {
  for (const auto& v : outputs)
    if (v.name == value) return true;
  return false;
}

const ValueInfo* Graph::find_value_info(const std::string& value) const {
  for (const auto* list : {&inputs, &outputs, &value_info})
    for (const auto& v : *list)
      if (v.name == value) return &v;
  return nullptr;
}

std::optional<NodeId> Graph::find_node(const std::string& node_name) const {
  for (NodeId i = 0; i < nodes.size(); ++i)
    if (nodes[i].name == node_name) return i;
  return std::nullopt;
}

int64_t Graph::opset(const std::string& domain) const {
  auto it = opsets.find(domain);
  if (it != opsets.end()) return it->second;
  if (domain == "ai.onnx") return opset("");
  return 0;
}

std::vector<std::string> Graph::undefined_values() const {
  std::unordered_set<std::string> defined;
  for (const auto& v : inputs) defined.insert(v.name);
  for (const auto& kv : initializers) defined.insert(kv.first);
  for (const auto& n : nodes)
    for (const auto& o : n.outputs) defined.insert(o);
  std::vector<std::string> missing;
  std::set<std::string> seen;
  for (const auto& n : nodes)
    for (const auto& in : n.inputs)
      if (!in.empty() && !defined.count(in) && seen.insert(in).second) missing.push_back(in);
  for (const auto& o : outputs)
    if (!defined.count(o.name) && seen.insert(o.name).second) missing.push_back(o.name);
  return missing;
}

void Graph::toposort() {
  // Kahn's algorithm, stable: among ready nodes the earlier one in the current order goes first.
  std::unordered_map<std::string, NodeId> producer_of;
  for (NodeId i = 0; i < nodes.size(); ++i)
    for (const auto& o : nodes[i].outputs)
      if (!o.empty()) producer_of[o] = i;
  std::vector<int> pending(nodes.size(), 0);
  std::vector<std::vector<NodeId>> users(nodes.size());
  for (NodeId i = 0; i < nodes.size(); ++i) {
    std::set<NodeId> deps;
    for (const auto& in : nodes[i].inputs) {
      auto it = producer_of.find(in);
      if (it != producer_of.end() && it->second != i) deps.insert(it->second);
      if (it != producer_of.end() && it->second == i)
        throw Error("node reads its own output '" + in + "'").node(nodes[i].name);
    }
    pending[i] = static_cast<int>(deps.size());
    for (NodeId d : deps) users[d].push_back(i);
  }
  std::set<NodeId> ready;
  for (NodeId i = 0; i < nodes.size(); ++i)
    if (pending[i] == 0) ready.insert(i);
  std::vector<NodeId> order;  // nodes move only once the order is complete, so a cycle leaves g intact
  order.reserve(nodes.size());
  while (!ready.empty()) {
    NodeId i = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(i);
    for (NodeId u : users[i])
      if (--pending[u] == 0) ready.insert(u);
  }
  if (order.size() != nodes.size()) {
    std::string stuck;
    for (NodeId i = 0; i < nodes.size(); ++i)
      if (pending[i] > 0) {
        stuck = nodes[i].name;
        break;
      }
    throw Error("the graph has a cycle").node(stuck).hint("ONNX graphs must be acyclic; loops belong in a Loop node");
  }
  std::vector<Node> sorted;
  sorted.reserve(nodes.size());
  for (NodeId i : order) sorted.push_back(std::move(nodes[i]));
  nodes = std::move(sorted);
}

static Attributes clone_attrs(const Attributes& attrs) {
  Attributes out = attrs;
  for (auto& kv : out) {
    if (kv.second.kind == Attribute::Kind::Tensor && kv.second.t.defined()) kv.second.t = kv.second.t.clone();
    if (kv.second.kind == Attribute::Kind::Graph && kv.second.g)
      kv.second.g = std::make_shared<Graph>(kv.second.g->clone());
  }
  return out;
}

std::string Graph::own_initializer(const std::string& node_name, int input) {
  auto id = find_node(node_name);
  PARE_ASSERT(id.has_value() && input >= 0 && input < static_cast<int>(nodes[*id].inputs.size()),
              "own_initializer: no such node input");
  const std::string w = nodes[*id].inputs[input];
  if (consumers(w).size() <= 1 && !is_output(w)) return w;
  const std::string copy = w + "__" + node_name;
  initializers[copy] = initializers.at(w);
  nodes[*id].inputs[input] = copy;
  return copy;
}

Graph Graph::clone() const {
  Graph g = *this;
  for (auto& kv : g.initializers) kv.second = kv.second.detach().clone();
  for (auto& n : g.nodes) n.attrs = clone_attrs(n.attrs);
  return g;
}

void Graph::replace_node(NodeId id, std::vector<Node> replacement) {
  PARE_ASSERT(id < nodes.size(), "replace_node: node id out of range");
  nodes.erase(nodes.begin() + static_cast<std::ptrdiff_t>(id));
  nodes.insert(nodes.begin() + static_cast<std::ptrdiff_t>(id), std::make_move_iterator(replacement.begin()),
               std::make_move_iterator(replacement.end()));
  toposort();
}

void Graph::remove_dead() {
  std::unordered_set<std::string> live;
  for (const auto& o : outputs) live.insert(o.name);
  std::vector<bool> keep(nodes.size(), false);
  for (NodeId i = nodes.size(); i-- > 0;) {
    for (const auto& o : nodes[i].outputs)
      if (live.count(o)) keep[i] = true;
    if (keep[i])
      for (const auto& in : nodes[i].inputs) live.insert(in);
  }
  std::vector<Node> kept;
  for (NodeId i = 0; i < nodes.size(); ++i)
    if (keep[i]) kept.push_back(std::move(nodes[i]));
  nodes = std::move(kept);
  for (auto it = initializers.begin(); it != initializers.end();)
    it = live.count(it->first) ? std::next(it) : initializers.erase(it);
}

std::string Graph::unique_name(const std::string& prefix) const {
  std::unordered_set<std::string> used;
  for (const auto& v : inputs) used.insert(v.name);
  for (const auto& kv : initializers) used.insert(kv.first);
  for (const auto& n : nodes) {
    used.insert(n.name);
    for (const auto& o : n.outputs) used.insert(o);
  }
  if (!used.count(prefix)) return prefix;
  for (int k = 1;; ++k) {
    std::string candidate = prefix + "_" + std::to_string(k);
    if (!used.count(candidate)) return candidate;
  }
}

Graph Graph::extract(const std::vector<std::string>& in_names, const std::vector<std::string>& out_names) const {
  std::unordered_set<std::string> boundary(in_names.begin(), in_names.end());
  std::unordered_map<std::string, NodeId> producer_of;
  for (NodeId i = 0; i < nodes.size(); ++i)
    for (const auto& o : nodes[i].outputs) producer_of[o] = i;

  std::vector<bool> take(nodes.size(), false);
  std::set<std::string> used_inits;
  std::deque<std::string> todo(out_names.begin(), out_names.end());
  std::unordered_set<std::string> visited;
  while (!todo.empty()) {
    std::string v = todo.front();
    todo.pop_front();
    if (v.empty() || !visited.insert(v).second || boundary.count(v)) continue;
    if (is_initializer(v)) {
      used_inits.insert(v);
      continue;
    }
    auto it = producer_of.find(v);
    if (it == producer_of.end()) {
      throw Error("cannot extract a sub-graph: value '" + v +
                  "' is needed but is neither produced inside it "
                  "nor among the given inputs")
          .tensor(v)
          .hint("add '" + v + "' to the sub-graph inputs");
    }
    take[it->second] = true;
    for (const auto& in : nodes[it->second].inputs) todo.push_back(in);
  }
  for (const auto& o : out_names)
    if (!boundary.count(o) && !producer_of.count(o) && !is_initializer(o))
      throw Error("cannot extract a sub-graph: output '" + o + "' does not exist in the graph").tensor(o);

  Graph sub;
  sub.name = name + "_sub";
  sub.opsets = opsets;
  sub.ir_version = ir_version;
  sub.producer_name = producer_name;
  for (NodeId i = 0; i < nodes.size(); ++i)
    if (take[i]) sub.nodes.push_back(nodes[i]);
  for (const auto& v : in_names) {
    const ValueInfo* vi = find_value_info(v);
    sub.inputs.push_back(vi ? *vi : ValueInfo{v, DType::Undefined, std::nullopt, ""});
  }
  for (const auto& v : out_names) {
    const ValueInfo* vi = find_value_info(v);
    sub.outputs.push_back(vi ? *vi : ValueInfo{v, DType::Undefined, std::nullopt, ""});
  }
  for (const auto& name_ : used_inits) sub.initializers[name_] = initializers.at(name_);
  for (const auto& vi : value_info) {
    bool inside = false;
    for (const auto& n : sub.nodes)
      for (const auto& o : n.outputs) inside |= (o == vi.name);
    if (inside && !sub.is_output(vi.name)) sub.value_info.push_back(vi);
  }
  return sub;
}

int64_t Graph::parameter_count() const {
  int64_t n = 0;
  for (const auto& kv : initializers)
    if (at::isFloatingType(kv.second.scalar_type())) n += kv.second.numel();
  return n;
}

int64_t Graph::parameter_bytes() const {
  int64_t n = 0;
  for (const auto& kv : initializers) n += kv.second.numel() * static_cast<int64_t>(kv.second.element_size());
  return n;
}

}  // namespace pare::ir
