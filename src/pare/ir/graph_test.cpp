// ir::Graph: builder naming, topological order, producers/consumers, clone, replace, extract.
#include <gtest/gtest.h>

#include "pare/error.h"
#include "pare/ir/graph_builder.h"

namespace pare::ir {
namespace {

Graph small_chain() {
  GraphBuilder b("chain");
  auto x = b.input("x", DType::Float, {-1, 4});
  auto w = b.initializer("w", at::ones({4, 4}));
  auto h = b.add1("MatMul", {x, w}, {}, "mm");
  auto r = b.add1("Relu", {h}, {}, "relu");
  auto y = b.add1("Neg", {r}, {}, "neg");
  b.output(y, "y");
  return b.finish();
}

TEST(Graph, BuilderProducesOrderedGraph) {
  Graph g = small_chain();
  ASSERT_EQ(g.nodes.size(), 3u);
  EXPECT_EQ(g.nodes[0].name, "mm");
  EXPECT_EQ(g.nodes[2].outputs[0], "y");
  EXPECT_EQ(g.inputs[0].shape->at(0).param, "N");
  EXPECT_EQ(*g.producer("y"), 2u);
  EXPECT_EQ(g.consumers("w").size(), 1u);
  EXPECT_TRUE(g.undefined_values().empty());
}

TEST(Graph, ToposortRestoresOrderAndDetectsCycles) {
  Graph g = small_chain();
  std::swap(g.nodes[0], g.nodes[2]);
  g.toposort();
  EXPECT_EQ(g.nodes[0].name, "mm");
  EXPECT_EQ(g.nodes[2].name, "neg");
  g.nodes[0].inputs[0] = "y";  // mm now reads neg's output: a cycle
  EXPECT_THROW(g.toposort(), Error);
  EXPECT_EQ(g.nodes[0].name, "mm");  // a failed sort leaves the graph as it was
  EXPECT_EQ(g.nodes[2].op_type, "Neg");
}

TEST(Graph, CloneIsDeep) {
  Graph g = small_chain();
  Graph c = g.clone();
  c.initializers["w"].fill_(3.0);
  EXPECT_EQ(g.initializers["w"].sum().item<float>(), 16.f);
  EXPECT_EQ(c.initializers["w"].sum().item<float>(), 48.f);
}

TEST(Graph, ReplaceNodeKeepsOrder) {
  Graph g = small_chain();
  Node a{"abs", "Abs", "", {"relu:out"}, {"abs:out"}, {}, ""};
  Node n{"neg2", "Neg", "", {"abs:out"}, {"y"}, {}, ""};
  g.replace_node(2, {n, a});  // given out of order on purpose
  ASSERT_EQ(g.nodes.size(), 4u);
  EXPECT_EQ(g.nodes[2].name, "abs");
  EXPECT_EQ(g.nodes[3].name, "neg2");
}

TEST(Graph, ExtractBetweenValues) {
  Graph g = small_chain();
  Graph sub = g.extract({"mm:out"}, {"relu:out"});
  ASSERT_EQ(sub.nodes.size(), 1u);
  EXPECT_EQ(sub.nodes[0].op_type, "Relu");
  EXPECT_EQ(sub.inputs[0].name, "mm:out");
  EXPECT_TRUE(sub.initializers.empty());
  Graph full = g.extract({"x"}, {"y"});
  EXPECT_EQ(full.nodes.size(), 3u);
  EXPECT_EQ(full.initializers.count("w"), 1u);
  EXPECT_THROW(g.extract({}, {"y"}), Error);  // needs x
}

TEST(Graph, RemoveDeadDropsUnusedNodesAndWeights) {
  GraphBuilder b("dead");
  auto x = b.input("x", DType::Float, {2});
  b.initializer("unused", at::ones({3}));
  b.add1("Relu", {x}, {}, "dead_relu");
  auto y = b.add1("Neg", {x}, {}, "neg");
  b.output(y);
  Graph g = b.finish();
  g.remove_dead();
  EXPECT_EQ(g.nodes.size(), 1u);
  EXPECT_TRUE(g.initializers.empty());
}

TEST(Graph, UniqueNameAvoidsCollisions) {
  Graph g = small_chain();
  EXPECT_EQ(g.unique_name("fresh"), "fresh");
  EXPECT_EQ(g.unique_name("mm"), "mm_1");
}

}  // namespace
}  // namespace pare::ir
