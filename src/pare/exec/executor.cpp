// Executor: resolves ops once, then runs nodes in topological order over a slot array, freeing each
// intermediate value after its last reader so that peak memory stays near the widest layer.
#include "pare/exec/executor.h"

#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include <map>
#include <set>

#include "pare/error.h"
#include "pare/ops/op_table.h"

namespace pare::exec {

std::vector<std::string> unsupported_ops(const ir::Graph& graph) {
  const auto& table = ops::OpTable::builtin();
  std::map<std::string, std::vector<std::string>> missing;  // "Op (domain, opset)" -> nodes
  for (const auto& n : graph.nodes) {
    const int64_t opset = graph.opset(n.domain);
    if (!table.find(n.domain, n.op_type, opset)) {
      std::string key =
          n.op_type + " (" + (n.domain.empty() ? "ai.onnx" : n.domain) + ", opset " + std::to_string(opset) + ")";
      missing[key].push_back(n.name);
    }
  }
  std::vector<std::string> out;
  for (const auto& kv : missing) {
    std::string line = kv.first + ": ";
    for (size_t i = 0; i < kv.second.size() && i < 5; ++i) line += (i ? ", " : "") + kv.second[i];
    if (kv.second.size() > 5) line += ", ... (" + std::to_string(kv.second.size()) + " nodes)";
    out.push_back(line);
  }
  return out;
}

// Inputs that hold settings or statistics rather than learnable values: (op, first index, last index).
struct FixedInputs {
  const char* op;
  size_t first, last;
};
constexpr FixedInputs kFixedInputs[] = {
    {"BatchNormalization", 3, 4},  // running mean / variance
    {"Clip", 1, 2},                // bounds
    {"Dropout", 1, 2},             // ratio, training_mode
    {"Pad", 1, 3},                 // pads, constant value, axes
    {"Resize", 1, 3},              // roi, scales, sizes
    {"QuantizeLinear", 1, 2},      // scale, zero point (learned scales are supplied through weight overrides)
    {"DequantizeLinear", 1, 2},
};

std::vector<std::pair<std::string, at::Tensor>> trainable_parameters(const ir::Graph& graph) {
  // A float initializer is trainable if at least one node reads it at a learnable position.
  std::set<std::string> learnable;
  for (const auto& n : graph.nodes)
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      bool fixed = false;
      for (const auto& f : kFixedInputs) fixed |= n.op_type == f.op && i >= f.first && i <= f.last;
      if (!fixed) learnable.insert(n.inputs[i]);
    }
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& kv : graph.initializers)
    if (at::isFloatingType(kv.second.scalar_type()) && learnable.count(kv.first)) out.emplace_back(kv.first, kv.second);
  return out;
}

Executor::Executor(const ir::Graph& graph, ExecOptions options) : graph_(graph), options_(options) {
  std::vector<std::string> missing = unsupported_ops(graph);
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += "\n    " + m;
    throw Error(std::to_string(missing.size()) + " op type(s) in this model have no implementation in pare:" + list)
        .hint("`pare info MODEL` lists them too; `pare info --ops` lists the supported ones");
  }
  auto add_slot = [&](const std::string& name) {
    auto it = slots_.find(name);
    if (it != slots_.end()) return it->second;
    int s = static_cast<int>(slot_names_.size());
    slots_[name] = s;
    slot_names_.push_back(name);
    producer_.push_back(-1);
    return s;
  };
  for (const auto& v : graph.inputs) add_slot(v.name);
  for (const auto& kv : graph.initializers) add_slot(kv.first);
  const auto& table = ops::OpTable::builtin();
  for (const auto& n : graph.nodes) {
    CompiledNode c{&n, table.find(n.domain, n.op_type, graph.opset(n.domain)), graph.opset(n.domain), {}, {}};
    for (const auto& in : n.inputs) c.in_slots.push_back(in.empty() ? -1 : add_slot(in));
    for (const auto& out : n.outputs) {
      int s = out.empty() ? -1 : add_slot(out);
      if (s >= 0) producer_[s] = static_cast<int>(nodes_.size());
      c.out_slots.push_back(s);
    }
    nodes_.push_back(std::move(c));
  }
  for (const auto& v : graph.outputs) add_slot(v.name);
}

int Executor::slot_of(const std::string& value) const {
  auto it = slots_.find(value);
  if (it == slots_.end())
    throw Error("no value named '" + value + "' in the graph")
        .tensor(value)
        .hint("`pare info MODEL --nodes` lists every node with its input and output value names");
  return it->second;
}

void Executor::add_hook(const std::string& value, ValueHook hook) {
  if (value != "*") slot_of(value);  // validates the name
  hooks_[value].push_back(std::move(hook));
}

void Executor::set_weight_override(const std::string& node_name, WeightOverride fn, int input_index) {
  auto id = graph_.find_node(node_name);
  if (!id) throw Error("no node named '" + node_name + "' to override a weight of").node(node_name);
  const ir::Node& n = graph_.nodes[*id];
  if (input_index < 0) {
    for (size_t i = 1; i < n.inputs.size() && input_index < 0; ++i)
      if (graph_.is_initializer(n.inputs[i])) input_index = static_cast<int>(i);
    if (input_index < 0 && !n.inputs.empty() && graph_.is_initializer(n.inputs[0])) input_index = 0;
    if (input_index < 0)
      throw Error("node has no initializer input to override").node(node_name).hint("pass the input index explicitly");
  }
  if (input_index >= static_cast<int>(n.inputs.size()))
    throw Error("weight override index " + std::to_string(input_index) + " is out of range").node(node_name);
  overrides_[node_name].emplace_back(input_index, std::move(fn));
}

void Executor::check_input(const ir::ValueInfo& info, const at::Tensor& t) const {
  if (!t.defined()) throw Error("input is missing").tensor(info.name);
  if (info.dtype != ir::DType::Undefined && ir::has_scalar_type(info.dtype) &&
      t.scalar_type() != ir::to_scalar_type(info.dtype))
    throw Error("input has the wrong element type")
        .tensor(info.name)
        .expected(ir::dtype_name(info.dtype))
        .got(ir::dtype_name(ir::from_scalar_type(t.scalar_type())))
        .hint("convert the input, e.g. save the .npy as " + ir::dtype_name(info.dtype));
  if (info.shape) {
    const auto& dims = *info.shape;
    bool ok = static_cast<int64_t>(dims.size()) == t.dim();
    for (size_t i = 0; ok && i < dims.size(); ++i)
      if (dims[i].known() && dims[i].value != t.size(static_cast<int64_t>(i))) ok = false;
    if (!ok)
      throw Error("input has the wrong shape")
          .tensor(info.name)
          .expected(ir::shape_string(info.shape))
          .got(ir::shape_string(t.sizes()));
  }
}

std::vector<bool> Executor::needed_nodes(const std::vector<int>& fed, const std::vector<int>& fetch) const {
  std::vector<bool> is_fed(slot_names_.size(), false), need(nodes_.size(), false);
  for (int s : fed) is_fed[s] = true;
  std::vector<int> todo(fetch.begin(), fetch.end());
  std::vector<bool> seen(slot_names_.size(), false);
  while (!todo.empty()) {
    int s = todo.back();
    todo.pop_back();
    if (s < 0 || seen[s] || is_fed[s]) continue;
    seen[s] = true;
    int p = producer_[s];
    if (p < 0 || need[p]) continue;
    need[p] = true;
    for (int in : nodes_[p].in_slots) todo.push_back(in);
  }
  return need;
}

// Puts `feeds` into `values`, checking graph inputs against their declaration; returns the slots fed.
std::vector<int> Executor::feed_values(const TensorMap& feeds, std::vector<at::Tensor>& values) const {
  std::vector<int> fed;
  for (const auto& kv : feeds) {
    int s = slot_of(kv.first);
    if (const ir::ValueInfo* vi = graph_.find_value_info(kv.first); vi && graph_.is_input(kv.first))
      check_input(*vi, kv.second);
    values[s] = kv.second;
    fed.push_back(s);
  }
  return fed;
}

// Which nodes run, and how many of them read each slot (so dead intermediates can be freed), depend only
// on what is fed and fetched: computed once and reused while repeated runs ask the same.
void Executor::update_plan(const std::vector<int>& fed, const std::vector<int>& fetch) {
  if (!plan_.need.empty() && plan_.fed == fed && plan_.fetch == fetch) return;
  plan_.fed = fed;
  plan_.fetch = fetch;
  plan_.need = needed_nodes(fed, fetch);
  plan_.readers.assign(slot_names_.size(), 0);
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (plan_.need[i])
      for (int s : nodes_[i].in_slots)
        if (s >= 0) ++plan_.readers[s];
}

void Executor::call_hooks(int slot, const at::Tensor& value) const {
  if (hooks_.empty()) return;
  const std::string& name = slot_names_[slot];
  for (const char* key : {"*", ""}) {
    auto it = hooks_.find(*key ? std::string(key) : name);
    if (it != hooks_.end())
      for (const auto& h : it->second) h(name, value);
  }
}

void Executor::gather_inputs(const CompiledNode& c, const std::vector<at::Tensor>& values,
                             std::vector<at::Tensor>& in) const {
  in.clear();
  for (size_t k = 0; k < c.in_slots.size(); ++k) {
    int s = c.in_slots[k];
    if (s < 0) {
      in.emplace_back();
      continue;
    }
    if (!values[s].defined())
      throw Error("value '" + slot_names_[s] + "' is needed but was not given")
          .node(c.node->name)
          .tensor(slot_names_[s])
          .hint(graph_.is_input(slot_names_[s]) ? "pass every graph input"
                                                : "feed it, or feed the values it is computed from");
    in.push_back(values[s]);
  }
}

void Executor::apply_overrides(const CompiledNode& c, std::vector<at::Tensor>& in) const {
  auto it = overrides_.find(c.node->name);
  if (it == overrides_.end()) return;
  for (const auto& [k, fn] : it->second) {
    at::Tensor w = fn(in[k]);
    if (!w.defined() || w.sizes() != in[k].sizes())
      throw Error("weight override returned a tensor of the wrong shape")
          .node(c.node->name)
          .expected(ir::shape_string(in[k].sizes()))
          .got(w.defined() ? ir::shape_string(w.sizes()) : "undefined");
    in[k] = w;
  }
}

std::vector<at::Tensor> Executor::call_op(const CompiledNode& c, const std::vector<at::Tensor>& in) const {
  ops::OpContext ctx(*c.node, c.opset, options_.training, options_.channels_last);
  try {
    return c.entry->fn(ctx, in);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    msg = msg.substr(0, msg.find('\n'));
    std::string shapes;
    for (const auto& t : in) shapes += (shapes.empty() ? "" : ", ") + (t.defined() ? ir::shape_string(t.sizes()) : "-");
    throw Error(c.node->op_type + " failed: " + msg)
        .node(c.node->name)
        .got("input shapes " + shapes)
        .hint("check the input shapes against what the model expects (`pare info MODEL`)");
  }
}

void Executor::store_outputs(const CompiledNode& c, std::vector<at::Tensor>& out, RunState& st) const {
  for (size_t k = 0; k < c.out_slots.size(); ++k) {
    int s = c.out_slots[k];
    if (s < 0) continue;
    if (k >= out.size() || !out[k].defined()) {
      if (st.readers[s] > 0 || st.keep[s])
        throw Error("optional output " + std::to_string(k) + " is used but not computed by pare").node(c.node->name);
      continue;
    }
    st.values[s] = std::move(out[k]);
    call_hooks(s, st.values[s]);
  }
}

void Executor::run_node(const CompiledNode& c, RunState& st, std::vector<at::Tensor>& in) const {
  gather_inputs(c, st.values, in);
  if (!overrides_.empty()) apply_overrides(c, in);
  std::vector<at::Tensor> out = call_op(c, in);
  store_outputs(c, out, st);
  // Frees each intermediate after its last reader (fetched values, graph inputs and initializers stay).
  for (int s : c.in_slots)
    if (s >= 0 && --st.readers[s] == 0 && !st.keep[s] && producer_[s] >= 0) st.values[s] = at::Tensor();
}

TensorMap Executor::collect_fetches(const std::vector<std::string>& fetches, const std::vector<int>& fetch_slots,
                                    const std::vector<at::Tensor>& values) const {
  TensorMap result;
  for (size_t k = 0; k < fetches.size(); ++k) {
    const at::Tensor& v = values[fetch_slots[k]];
    if (!v.defined())
      throw Error("value '" + fetches[k] + "' could not be computed from the given feeds").tensor(fetches[k]);
    result[fetches[k]] = v;
  }
  return result;
}

TensorMap Executor::run(const TensorMap& feeds, const std::vector<std::string>& fetch_names) {
  std::optional<c10::InferenceMode> inference;
  std::optional<at::AutoGradMode> grad_mode;
  if (options_.training || options_.grad)
    grad_mode.emplace(true);
  else
    inference.emplace();

  RunState st;
  st.values.resize(slot_names_.size());
  for (const auto& kv : graph_.initializers) st.values[slots_.at(kv.first)] = kv.second;
  const std::vector<int> fed = feed_values(feeds, st.values);
  std::vector<std::string> fetches = fetch_names;
  if (fetches.empty())
    for (const auto& o : graph_.outputs) fetches.push_back(o.name);
  std::vector<int> fetch_slots;
  for (const auto& f : fetches) fetch_slots.push_back(slot_of(f));

  update_plan(fed, fetch_slots);
  st.readers = plan_.readers;
  st.keep.assign(slot_names_.size(), false);
  for (int s : fetch_slots) st.keep[s] = true;

  for (int s : fed) call_hooks(s, st.values[s]);
  std::vector<at::Tensor> in;
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (plan_.need[i]) run_node(nodes_[i], st, in);
  return collect_fetches(fetches, fetch_slots, st.values);
}

std::vector<at::Tensor> Executor::run(const std::vector<at::Tensor>& inputs) {
  if (inputs.size() != graph_.inputs.size()) {
    std::string names;
    for (const auto& v : graph_.inputs) names += (names.empty() ? "" : ", ") + v.name;
    throw Error("wrong number of inputs")
        .expected(std::to_string(graph_.inputs.size()) + " (" + names + ")")
        .got(std::to_string(inputs.size()));
  }
  TensorMap feeds;
  for (size_t i = 0; i < inputs.size(); ++i) feeds[graph_.inputs[i].name] = inputs[i];
  TensorMap out = run(feeds);
  std::vector<at::Tensor> result;
  for (const auto& o : graph_.outputs) result.push_back(out.at(o.name));
  return result;
}

TensorMap Executor::capture(const TensorMap& feeds, const std::vector<std::string>& names) {
  std::vector<std::string> fetches;
  for (const auto& o : graph_.outputs) fetches.push_back(o.name);
  for (const auto& n : names) fetches.push_back(n);
  return run(feeds, fetches);
}

}  // namespace pare::exec
