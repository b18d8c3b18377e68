// attribute_problems: a kind that differs from the ONNX schema and a missing required attribute are found,
// a well-formed node and an op without a schema are not reported.
#include <gtest/gtest.h>

#include "pare/io/onnx_schema_check.h"
#include "pare/ir/graph_builder.h"

namespace pare::io {
namespace {

TEST(OnnxSchemaCheck, AcceptsWellFormedNodesAndUnknownOps) {
  ir::GraphBuilder b("ok");
  std::string x = b.input("x", ir::DType::Float, {1, 3});
  std::string y = b.add1("Softmax", {x}, {{"axis", int64_t{1}}});
  std::string z = b.add1("LeakyRelu", {y}, {{"alpha", int64_t{1}}});  // an int where a float is expected: accepted
  std::string w = b.add1("MyCustomOp", {z}, {{"whatever", std::string("x")}});
  b.output(w);
  EXPECT_TRUE(attribute_problems(b.finish()).empty());
}

TEST(OnnxSchemaCheck, ReportsEveryWrongKindAndMissingRequiredAttribute) {
  ir::GraphBuilder b("bad");
  std::string x = b.input("x", ir::DType::Float, {1, 3});
  std::string y = b.add1("Softmax", {x}, {{"axis", std::string("last")}}, "sm");
  std::string z = b.add1("Cast", {y}, {}, "cast");  // 'to' is required
  std::string w = b.add1("Transpose", {z}, {{"perm", std::vector<double>{1.0, 0.0}}}, "tr");
  b.output(w);
  std::vector<AttributeProblem> p = attribute_problems(b.finish());
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].node, "sm");
  EXPECT_EQ(p[0].attribute, "axis");
  EXPECT_EQ(p[0].expected, "int");
  EXPECT_EQ(p[0].got, "string");
  EXPECT_EQ(p[1].node, "cast");
  EXPECT_EQ(p[1].attribute, "to");
  EXPECT_EQ(p[1].got, "missing");
  EXPECT_EQ(p[2].node, "tr");
  EXPECT_EQ(p[2].expected, "ints");
  EXPECT_EQ(p[2].got, "floats");
  EXPECT_NE(p[2].text().find("node 'tr' (Transpose)"), std::string::npos);
}

}  // namespace
}  // namespace pare::io
