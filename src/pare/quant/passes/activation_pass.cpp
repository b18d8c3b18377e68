#include "pare/quant/passes/activation_pass.h"

#include <map>
#include <set>

#include "pare/blocks/block_driver.h"
#include "pare/blocks/graph_blocks.h"
#include "pare/blocks/model_data.h"
#include "pare/error.h"
#include "pare/quant/observers/channel_observer.h"

namespace pare::quant {

namespace {

// `name`, or `name` with a numeric suffix when the graph already uses it.
std::string fresh(const ir::Graph& g, const std::string& name) {
  auto used = [&](const std::string& n) {
    return g.is_initializer(n) || g.producer(n).has_value() || g.find_node(n).has_value() || g.is_input(n);
  };
  if (!used(name)) return name;
  for (int i = 1;; ++i)
    if (!used(name + "_" + std::to_string(i))) return name + "_" + std::to_string(i);
}

struct Wanted {
  int bits = 8;
  int64_t axis = 1;  // channel axis (per-channel scales)
};

ir::Node make_node(const std::string& name, const std::string& op, std::vector<std::string> in, std::string out) {
  ir::Node n;
  n.name = name;
  n.op_type = op;
  n.inputs = std::move(in);
  n.outputs = {std::move(out)};
  return n;
}

// Activation -> the smallest bit width any of its planned readers asks for, and its channel axis.
std::map<std::string, Wanted> wanted_activations(const ir::Graph& g, const std::vector<LayerPlan>& plans) {
  std::map<std::string, Wanted> wanted;
  for (const auto& p : plans) {
    if (!p.quantize || p.abits == 0 || p.layer.activation_input < 0) continue;
    auto id = g.find_node(p.layer.node);
    PARE_ASSERT(id.has_value(), "planned node missing");
    const std::string& v = g.nodes[*id].inputs[p.layer.activation_input];
    auto it = wanted.find(v);
    if (it == wanted.end())
      wanted[v] = {p.abits, p.layer.activation_axis};
    else
      it->second.bits = std::min(it->second.bits, p.abits);
  }
  return wanted;
}

// The observers of every wanted activation, fed as the float model computes it over the data: driven block by
// block (one block: the graph; memory stays at one batch).
struct Observed {
  std::map<std::string, Observer> tensor;
  std::map<std::string, ChannelObserver> channel;
};

Observed observe_activations(const ir::Graph& g, const std::vector<LayerPlan>& plans,
                             const std::map<std::string, Wanted>& wanted, const data::Dataset& calib,
                             const CalibrationOptions& o, const std::function<void(int64_t, int64_t)>& progress) {
  Observed obs;
  std::vector<std::string> values;
  for (const auto& [v, w] : wanted) {
    values.push_back(v);
    if (o.per_channel)
      obs.channel.emplace(v, ChannelObserver(o.observer, w.axis));
    else
      obs.tensor.emplace(v, Observer(o.observer, int64_t{1} << 18, o.seed));
  }
  std::set<std::string> layer_nodes;
  for (const auto& p : plans) layer_nodes.insert(p.layer.node);
  const blocks::GraphBlocks source(g, blocks::Partition::Whole, layer_nodes);
  blocks::DriveOptions d;
  d.streams = blocks::Streams::Float;
  const std::string input = g.inputs.at(0).name;
  std::vector<int64_t> ends;
  for (int64_t i = 0; i < calib.size(); i += o.batch_size) {
    const int64_t n = std::min(o.batch_size, calib.size() - i);
    d.batches.push_back({{input, calib.inputs.narrow(0, i, n)}});
    ends.push_back(i + n);
  }
  d.observe = [&](blocks::BlockVisit& v) {
    v.watch(values, [&](const std::string& name, const at::Tensor& t) {
      if (o.per_channel)
        obs.channel.at(name).observe(t);
      else
        obs.tensor.at(name).observe(t);
    });
  };
  d.collect = [](int64_t, blocks::Values&&) {};  // the outputs are not needed
  d.on_batch = [&](int64_t, int64_t batch) {
    if (progress) progress(ends.at(static_cast<size_t>(batch)), calib.size());
  };
  blocks::drive(source, std::move(d));
  return obs;
}

// The quantizer of activation `v` from what its observer saw.
ActivationQuant activation_quant(const std::string& v, const Wanted& w, const Observed& obs, bool per_channel) {
  ActivationQuant a;
  a.value = v;
  a.grid = Grid::uniform(w.bits, /*symmetric=*/false, /*is_signed=*/false);
  RowScales s;
  if (per_channel) {
    const ChannelObserver& c = obs.channel.at(v);
    s = c.scales(a.grid);
    a.axis = c.axis();
    a.rank = c.rank();
    a.observed_min = c.min();
    a.observed_max = c.max();
    s.scale = s.scale.flatten();
    s.zero_point = s.zero_point.flatten();
  } else {
    const Observer& t = obs.tensor.at(v);
    s = t.scales(a.grid);
    a.observed_min = t.min();
    a.observed_max = t.max();
    s.scale = s.scale.reshape({});
    s.zero_point = s.zero_point.reshape({});
  }
  // A channel that was always 0 gets scale 1: any scale represents it exactly, and QuantizeLinear
  // divides by the scale.
  a.scale = at::where(s.scale > 0, s.scale, at::ones_like(s.scale)).contiguous();
  a.zero_point = s.zero_point.to(at::kByte).contiguous();
  return a;
}

}  // namespace

std::vector<ActivationQuant> calibrate_activations(const ir::Graph& g, const std::vector<LayerPlan>& plans,
                                                   const data::Dataset& calib, const CalibrationOptions& o,
                                                   const std::function<void(int64_t, int64_t)>& progress) {
  const std::map<std::string, Wanted> wanted = wanted_activations(g, plans);
  if (wanted.empty()) return {};
  if (calib.size() == 0)
    throw Error("activation quantization needs calibration data")
        .hint("pass --calib SPEC (e.g. --calib fmnist:train:512), or --abits 0 to keep activations in float");
  blocks::check_samples_fit(g, calib, /*need_labels=*/false);
  const Observed obs = observe_activations(g, plans, wanted, calib, o, progress);
  std::vector<ActivationQuant> out;
  for (const auto& [v, w] : wanted) out.push_back(activation_quant(v, w, obs, o.per_channel));
  return out;
}

void insert_activation_qdq(ir::Graph& g, const std::vector<ActivationQuant>& acts,
                           const std::vector<LayerPlan>& plans) {
  std::map<std::string, std::string> replaced;  // activation -> dequantized value
  for (const auto& a : acts) {
    const std::string base = fresh(g, a.value + "_q");  // a prefix no other value or node uses
    std::string x = a.value;
    std::vector<ir::Node> added;
    const bool per_channel = a.axis >= 0;
    if (a.grid.bits < 8) {
      // Clamp to the values the b-bit codes can take, so that uint8 Q/DQ yields b-bit codes.
      const at::Tensor zp = a.zero_point.to(at::kFloat);
      at::Tensor lo = (static_cast<double>(a.grid.qmin()) - zp) * a.scale;
      at::Tensor hi = (static_cast<double>(a.grid.qmax()) - zp) * a.scale;
      if (per_channel) {
        std::vector<int64_t> shape(static_cast<size_t>(a.rank), 1);
        shape[static_cast<size_t>(a.axis)] = a.scale.numel();
        g.initializers[base + "_min"] = lo.reshape(shape).contiguous();
        g.initializers[base + "_max"] = hi.reshape(shape).contiguous();
        added.push_back(make_node(base + "_floor", "Max", {x, base + "_min"}, base + "_floored"));
        added.push_back(make_node(base + "_ceil", "Min", {base + "_floored", base + "_max"}, base + "_clipped"));
      } else {
        g.initializers[base + "_min"] = lo.reshape({});
        g.initializers[base + "_max"] = hi.reshape({});
        added.push_back(make_node(base + "_clip", "Clip", {x, base + "_min", base + "_max"}, base + "_clipped"));
      }
      x = base + "_clipped";
    }
    g.initializers[base + "_scale"] = a.scale;
    g.initializers[base + "_zero_point"] = a.zero_point;
    ir::Node q = make_node(base + "_QuantizeLinear", "QuantizeLinear", {x, base + "_scale", base + "_zero_point"},
                           base + "_quantized");
    ir::Node dq = make_node(base + "_DequantizeLinear", "DequantizeLinear",
                            {base + "_quantized", base + "_scale", base + "_zero_point"}, base + "_dequantized");
    if (per_channel) {
      q.attrs["axis"] = ir::Attribute(a.axis);
      dq.attrs["axis"] = ir::Attribute(a.axis);
    }
    added.push_back(q);
    added.push_back(dq);
    for (auto& n : added) g.nodes.push_back(n);
    replaced[a.value] = base + "_dequantized";
  }
  for (const auto& p : plans) {
    if (!p.quantize || p.abits == 0 || p.layer.activation_input < 0) continue;
    auto id = g.find_node(p.layer.node);
    PARE_ASSERT(id.has_value(), "planned node missing");
    std::string& in = g.nodes[*id].inputs[p.layer.activation_input];
    auto it = replaced.find(in);
    if (it != replaced.end()) in = it->second;
  }
  g.toposort();
}

}  // namespace pare::quant
