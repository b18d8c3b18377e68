// The block driver on ONNX graphs: partitions cut where the residual stream alone crosses, running block by
// block computes what the whole graph computes, and the quantized-prefix path sees earlier blocks' changes.
#include "pare/blocks/block_driver.h"

#include <gtest/gtest.h>

#include <set>

#include "pare/blocks/graph_blocks.h"
#include "pare/exec/executor.h"
#include "pare/ir/zoo/zoo.h"

namespace pare::blocks {
namespace {

ir::Graph zoo(const std::string& name) {
  ir::zoo::ZooOptions o;
  o.width = 0.5;
  o.seed = 11;
  return ir::zoo::build(name, o);
}

// The nodes with an initializer weight: what quantization would plan.
std::set<std::string> layer_nodes(const ir::Graph& g) {
  std::set<std::string> out;
  for (const auto& n : g.nodes)
    if ((n.op_type == "Conv" || n.op_type == "Gemm" || n.op_type == "MatMul") && n.inputs.size() > 1 &&
        g.is_initializer(n.inputs[1]))
      out.insert(n.name);
  return out;
}

std::vector<Values> batches(const ir::Graph& g, int count) {
  std::vector<Values> out;
  for (int i = 0; i < count; ++i) out.push_back({{g.inputs[0].name, at::rand({3, 1, 28, 28})}});
  return out;
}

at::Tensor whole_graph_output(const ir::Graph& g, const Values& in) {
  exec::Executor ex(g);
  return ex.run(exec::TensorMap(in.begin(), in.end()), {g.outputs[0].name}).at(g.outputs[0].name);
}

TEST(GraphBlocks, CutsWhereOneValueCrossesAndEveryBlockHoldsALayer) {
  for (const char* name : {"resnet20", "mobilenetv2", "vit"}) {
    const ir::Graph g = zoo(name);
    const std::set<std::string> layers = layer_nodes(g);
    const GraphBlocks blocks(g, Partition::Blocks, layers);
    EXPECT_GE(blocks.size(), 4) << name;
    for (int64_t k = 0; k < blocks.size(); ++k) {
      bool has_layer = false;
      for (size_t i = blocks.span(k).first; i < blocks.span(k).second; ++i) has_layer |= layers.count(g.nodes[i].name);
      EXPECT_TRUE(has_layer) << name << " block " << k;
      if (k > 0) {
        EXPECT_EQ(blocks.build(k).inputs.size(), 1u) << name << " block " << k;  // the residual stream
      }
    }
    EXPECT_EQ(GraphBlocks(g, Partition::Layers, layers).size(), static_cast<int64_t>(layers.size())) << name;
    EXPECT_EQ(GraphBlocks(g, Partition::Whole, layers).size(), 1) << name;
  }
}

TEST(BlockDriver, BlockByBlockComputesWhatTheGraphComputes) {
  for (const char* name : {"resnet20", "vit"}) {
    const ir::Graph g = zoo(name);
    for (Partition p : {Partition::Whole, Partition::Blocks, Partition::Layers}) {
      const GraphBlocks source(g, p, layer_nodes(g));
      DriveOptions o;
      o.streams = Streams::Float;
      o.batches = batches(g, 2);
      int64_t visited = 0, progress = 0;
      o.visit = [&](BlockVisit& v) {
        EXPECT_EQ(v.index(), visited++);
        EXPECT_EQ(v.batches(), 2);
      };
      o.progress = [&](int64_t done, int64_t total) {
        progress = done;
        EXPECT_EQ(total, source.size());
      };
      const DriveResult r = drive(source, o);
      EXPECT_EQ(visited, source.size());
      EXPECT_EQ(progress, source.size());
      for (size_t b = 0; b < 2; ++b)
        EXPECT_TRUE(at::equal(r.float_outputs[b].at(g.outputs[0].name), whole_graph_output(g, o.batches[b])))
            << name << " partition " << static_cast<int>(p);
    }
  }
}

TEST(BlockDriver, TheQuantizedPathSeesEarlierBlocksChanges) {
  const ir::Graph g = zoo("resnet20");
  const GraphBlocks source(g, Partition::Blocks, layer_nodes(g));
  // Each visit "quantizes" its block's weights (rounds them to 1/8); the quantized path must equal the whole
  // graph with every weight rounded, the float path the original graph.
  ir::Graph rounded = g.clone();
  for (auto& [name, t] : rounded.initializers)
    if (t.is_floating_point() && t.dim() > 1) t = (t * 8).round() / 8;
  DriveOptions o;
  o.streams = Streams::FloatAndQuantized;
  o.batches = batches(g, 2);
  std::set<std::string> watched;
  o.observe = [&](BlockVisit& v) {
    v.watch(v.block().outputs, [&](const std::string& value, const at::Tensor&) { watched.insert(value); });
  };
  o.visit = [&](BlockVisit& v) {
    for (int64_t b = 0; b < v.batches(); ++b) EXPECT_FALSE(v.float_outputs(b).empty());
    if (v.index() == 0) {
      for (int64_t b = 0; b < v.batches(); ++b)
        EXPECT_TRUE(at::equal(v.float_inputs(b).at(g.inputs[0].name), v.quantized_inputs(b).at(g.inputs[0].name)));
    }
    for (auto& [name, t] : v.block().graph.initializers)
      if (t.is_floating_point() && t.dim() > 1) t = (t * 8).round() / 8;
  };
  const DriveResult r = drive(source, o);
  EXPECT_FALSE(watched.empty());
  for (size_t b = 0; b < 2; ++b) {
    const std::string out = g.outputs[0].name;
    EXPECT_TRUE(at::equal(r.float_outputs[b].at(out), whole_graph_output(g, o.batches[b])));
    EXPECT_TRUE(at::allclose(r.quantized_outputs[b].at(out), whole_graph_output(rounded, o.batches[b]), 1e-5, 1e-5));
    EXPECT_FALSE(at::allclose(r.quantized_outputs[b].at(out), r.float_outputs[b].at(out), 1e-5, 1e-5));
  }
}

TEST(BlockDriver, WithoutDataBlocksAreVisitedOrSkippedWithoutBuilding) {
  const ir::Graph g = zoo("resnet20");
  const GraphBlocks source(g, Partition::Blocks, layer_nodes(g));
  DriveOptions o;
  o.skip = [](int64_t k) { return k % 2 == 1; };
  std::vector<int64_t> seen;
  o.visit = [&](BlockVisit& v) {
    EXPECT_FALSE(v.built());
    EXPECT_FALSE(source.weights(v.index()).empty());
    seen.push_back(v.index());
  };
  drive(source, o);
  ASSERT_FALSE(seen.empty());
  for (int64_t k : seen) EXPECT_EQ(k % 2, 0);
}

}  // namespace
}  // namespace pare::blocks
