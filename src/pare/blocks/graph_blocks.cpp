#include "pare/blocks/graph_blocks.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <unordered_set>

#include "pare/error.h"

namespace pare::blocks {

Partition parse_partition(const std::string& text) {
  if (text == "whole") return Partition::Whole;
  if (text == "blocks") return Partition::Blocks;
  if (text == "layers") return Partition::Layers;
  throw Error("unknown partition '" + text + "'").expected("whole, blocks or layers");
}

namespace {

// The values crossing each cut c (between node c-1 and node c), c = 0..n, in a fixed order. Values computed
// from initializers alone are left out: a block that reads one recomputes it (Graph::extract pulls its
// producers in).
std::vector<std::vector<std::string>> live_values(const ir::Graph& g) {
  const size_t n = g.nodes.size();
  std::unordered_set<std::string> constant;
  // value -> (first cut after its producer, last reader's index): it crosses the cuts in between
  std::map<std::string, std::pair<size_t, size_t>> span;
  for (const auto& in : g.inputs) span[in.name] = {0, 0};
  for (size_t i = 0; i < n; ++i) {
    const ir::Node& node = g.nodes[i];
    bool from_constants = true;
    for (const auto& in : node.inputs) {
      if (in.empty() || g.is_initializer(in) || constant.count(in)) continue;
      from_constants = false;
      if (auto it = span.find(in); it != span.end()) it->second.second = std::max(it->second.second, i);
    }
    for (const auto& out : node.outputs)
      if (!out.empty()) {
        if (from_constants)
          constant.insert(out);
        else
          span[out] = {i + 1, 0};
      }
  }
  for (const auto& out : g.outputs)
    if (auto it = span.find(out.name); it != span.end()) it->second.second = n;  // read "after" the last node
  std::vector<std::vector<std::string>> live(n + 1);
  for (const auto& [v, s] : span)
    for (size_t c = s.first; c <= s.second; ++c) live[c].push_back(v);
  return live;
}

bool holds_layer(const ir::Graph& g, size_t first, size_t last, const std::set<std::string>& layers) {
  for (size_t i = first; i < last; ++i)
    if (layers.count(g.nodes[i].name)) return true;
  return false;
}

// Cuts (node indices c: a block ends before node c) for the partition.
std::vector<size_t> choose_cuts(const ir::Graph& g, Partition p, const std::set<std::string>& layers,
                                const std::vector<std::vector<std::string>>& live) {
  const size_t n = g.nodes.size();
  std::vector<size_t> at;  // layer node positions
  for (size_t i = 0; i < n; ++i)
    if (layers.count(g.nodes[i].name)) at.push_back(i);
  if (p == Partition::Whole || at.size() < 2) return {};
  std::vector<size_t> candidates;
  if (p == Partition::Layers) {
    for (size_t k = 0; k + 1 < at.size(); ++k) candidates.push_back(at[k] + 1);
  } else {
    size_t fewest = SIZE_MAX;
    for (size_t c = at.front() + 1; c <= at.back(); ++c) fewest = std::min(fewest, live[c].size());
    for (size_t c = at.front() + 1; c <= at.back(); ++c)
      if (live[c].size() == fewest) candidates.push_back(c);
  }
  // Each block holds at least one layer: a piece without one joins the next (the last one, the previous).
  std::vector<size_t> cuts;
  size_t start = 0;
  for (size_t c : candidates)
    if (holds_layer(g, start, c, layers)) {
      cuts.push_back(c);
      start = c;
    }
  if (!cuts.empty() && !holds_layer(g, cuts.back(), n, layers)) cuts.pop_back();
  return cuts;
}

}  // namespace

GraphBlocks::GraphBlocks(const ir::Graph& g, Partition partition, const std::set<std::string>& layer_nodes) : g_(g) {
  const std::vector<std::vector<std::string>> live = live_values(g);
  size_t start = 0;
  std::vector<size_t> ends = choose_cuts(g, partition, layer_nodes, live);
  ends.push_back(g.nodes.size());
  for (size_t end : ends) {
    spans_.emplace_back(start, end);
    live_.push_back(start == 0 ? std::vector<std::string>{} : live[start]);
    start = end;
  }
  for (const auto& in : g.inputs) live_.front().push_back(in.name);
}

std::string GraphBlocks::name(int64_t k) const {
  const auto [first, last] = span(k);
  if (last <= first) return fmt::format("block {}", k);
  return fmt::format("block {} ({} .. {})", k, g_.nodes[first].name, g_.nodes[last - 1].name);
}

std::vector<std::string> GraphBlocks::weights(int64_t k) const {
  // A weight belongs to the first block that reads it.
  std::unordered_set<std::string> earlier;
  for (int64_t j = 0; j < k; ++j)
    for (size_t i = span(j).first; i < span(j).second; ++i)
      for (const auto& in : g_.nodes[i].inputs) earlier.insert(in);
  std::vector<std::string> out;
  for (size_t i = span(k).first; i < span(k).second; ++i)
    for (const auto& in : g_.nodes[i].inputs)
      if (g_.is_initializer(in) && !earlier.count(in) && std::find(out.begin(), out.end(), in) == out.end())
        out.push_back(in);
  return out;
}

at::Tensor GraphBlocks::weight(const std::string& name) const {
  auto it = g_.initializers.find(name);
  PARE_ASSERT(it != g_.initializers.end(), "GraphBlocks: no such weight");
  return it->second;
}

Block GraphBlocks::build(int64_t k) const {
  Block b;
  b.name = name(k);
  b.inputs = live_.at(static_cast<size_t>(k));
  if (k + 1 < size()) {
    b.outputs = live_.at(static_cast<size_t>(k + 1));
  } else {
    for (const auto& out : g_.outputs) b.outputs.push_back(out.name);
  }
  b.graph = g_.extract(b.inputs, b.outputs);
  return b;
}

Values GraphBlocks::feed(const Values& model_inputs) const {
  Values v;
  for (const auto& in : g_.inputs) {
    auto it = model_inputs.find(in.name);
    if (it == model_inputs.end()) throw Error("no value given for model input '" + in.name + "'").tensor(in.name);
    v[in.name] = it->second;
  }
  return v;
}

}  // namespace pare::blocks
