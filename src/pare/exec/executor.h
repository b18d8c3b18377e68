// exec::Executor: runs an ir::Graph with libtorch ops. Inference and training mode (autograd through
// initializers, BatchNorm statistics updated, Dropout active), hooks that see any value by name,
// per-node weight overrides (a quantizer's differentiable weight), and runs of any sub-graph.
// The graph must outlive the executor; initializer tensors may change in place, the structure may not.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "pare/ir/graph.h"

namespace pare::ops {
struct OpEntry;
}

namespace pare::exec {

using TensorMap = std::map<std::string, at::Tensor>;
// Sees value `name` right after it is computed (or fed). Must not modify the tensor.
using ValueHook = std::function<void(const std::string& name, const at::Tensor& value)>;
// Returns the tensor a node should use instead of `original` (e.g. fake-quantized, with autograd).
using WeightOverride = std::function<at::Tensor(const at::Tensor& original)>;

struct ExecOptions {
  bool training = false;  // BatchNorm uses batch statistics and updates running ones; Dropout active
  bool grad = false;      // record autograd even in inference mode (for learned quantizers); implied by training
  // 2-D convolutions compute in channels-last (NHWC) memory format, which oneDNN runs much faster on CPU.
  // Only the memory layout changes: every value keeps its logical NCHW shape and its numbers.
  bool channels_last = false;
};

class Executor {
 public:
  // Resolves every node's implementation; throws one Error listing all unsupported ops.
  explicit Executor(const ir::Graph& graph, ExecOptions options = {});

  void set_training(bool on) { options_.training = on; }
  void set_grad(bool on) { options_.grad = on; }
  const ExecOptions& options() const { return options_; }

  // Runs with inputs in the order of graph.inputs; returns outputs in the order of graph.outputs.
  std::vector<at::Tensor> run(const std::vector<at::Tensor>& inputs);
  // Feeds any values (graph inputs or intermediate ones) and fetches any values (default: graph
  // outputs). Only the nodes between feeds and fetches run: this is how sub-graphs are run.
  TensorMap run(const TensorMap& feeds, const std::vector<std::string>& fetches = {});

  // Hooks: on one value, or on every value (name "*").
  void add_hook(const std::string& value, ValueHook hook);
  void clear_hooks() { hooks_.clear(); }
  // Convenience: runs and returns the values named in `names` next to the outputs.
  TensorMap capture(const TensorMap& feeds, const std::vector<std::string>& names);

  // Overrides input `input_index` of node `node_name`; -1 picks the node's weight (its first
  // initializer input after input 0, else its first initializer input).
  void set_weight_override(const std::string& node_name, WeightOverride fn, int input_index = -1);
  void clear_weight_overrides() { overrides_.clear(); }

  const ir::Graph& graph() const { return graph_; }

  // Throws Error naming the input if `t` does not match its declared element type or known dimensions.
  // run() calls it for every fed graph input; callers may call it first to name where `t` came from.
  void check_input(const ir::ValueInfo& info, const at::Tensor& t) const;

 private:
  struct CompiledNode {
    const ir::Node* node;
    const ops::OpEntry* entry;
    int64_t opset;
    std::vector<int> in_slots;   // -1: omitted optional input
    std::vector<int> out_slots;  // -1: omitted optional output
  };
  int slot_of(const std::string& value) const;
  std::vector<bool> needed_nodes(const std::vector<int>& fed, const std::vector<int>& fetch) const;

  struct RunPlan {
    std::vector<int> fed, fetch;  // the key: slots fed and fetched
    std::vector<bool> need;       // nodes that run
    std::vector<int> readers;     // per slot: how many running nodes read it
  };
  RunPlan plan_;  // of the last run

  // The values of one run, by slot, and what may be freed.
  struct RunState {
    std::vector<at::Tensor> values;
    std::vector<int> readers;  // running nodes yet to read the slot (a copy of plan_.readers, counted down)
    std::vector<bool> keep;    // fetched: never freed
  };
  std::vector<int> feed_values(const TensorMap& feeds, std::vector<at::Tensor>& values) const;
  void update_plan(const std::vector<int>& fed, const std::vector<int>& fetch);
  void call_hooks(int slot, const at::Tensor& value) const;
  // `in`: the inputs buffer, reused by every node of a run.
  void run_node(const CompiledNode& c, RunState& st, std::vector<at::Tensor>& in) const;
  void gather_inputs(const CompiledNode& c, const std::vector<at::Tensor>& values, std::vector<at::Tensor>& in) const;
  void apply_overrides(const CompiledNode& c, std::vector<at::Tensor>& in) const;
  std::vector<at::Tensor> call_op(const CompiledNode& c, const std::vector<at::Tensor>& in) const;
  void store_outputs(const CompiledNode& c, std::vector<at::Tensor>& out, RunState& st) const;
  TensorMap collect_fetches(const std::vector<std::string>& fetches, const std::vector<int>& fetch_slots,
                            const std::vector<at::Tensor>& values) const;

  const ir::Graph& graph_;
  ExecOptions options_;
  std::vector<CompiledNode> nodes_;
  std::unordered_map<std::string, int> slots_;
  std::vector<std::string> slot_names_;
  std::vector<int> producer_;  // slot -> index into nodes_, -1 for inputs/initializers
  std::unordered_map<std::string, std::vector<ValueHook>> hooks_;
  std::unordered_map<std::string, std::vector<std::pair<int, WeightOverride>>> overrides_;
};

// Float initializers that training updates: those read at a learnable input position (not BatchNorm
// statistics, Clip bounds, Dropout ratios, Pad values, Resize scales, Q/DQ scales). Constant nodes never are.
std::vector<std::pair<std::string, at::Tensor>> trainable_parameters(const ir::Graph& graph);

// Every node whose (domain, op, opset) has no implementation, as "Op (domain, opset N): node1, node2".
std::vector<std::string> unsupported_ops(const ir::Graph& graph);

}  // namespace pare::exec
