// ONNX import/export: a graph survives save -> load with names, attributes, initializers and
// outputs intact, with and without external data; the exported file passes onnx::checker.
#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <filesystem>
#include <fstream>

#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/io/onnx_export.h"
#include "pare/io/onnx_import.h"
#include "pare/ir/graph_builder.h"

namespace pare::io {
namespace {
namespace fs = std::filesystem;

ir::Graph sample_graph() {
  at::manual_seed(7);
  ir::GraphBuilder b("roundtrip");
  auto x = b.input("input", ir::DType::Float, {-1, 3, 8, 8});
  auto w = b.initializer("conv.weight", at::randn({4, 3, 3, 3}));
  auto h = b.add1("Conv", {x, w}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}, {"strides", std::vector<int64_t>{2, 2}}},
                  "conv0");
  h = b.add1("LeakyRelu", {h}, {{"alpha", 0.2}}, "act");
  h = b.add1("Flatten", {h}, {{"axis", 1}}, "flatten");
  auto fw = b.initializer("fc.weight", at::randn({64, 5}).to(at::kHalf));
  h = b.add1("Cast", {h}, {{"to", static_cast<int64_t>(ir::DType::Float16)}}, "to_half");
  h = b.add1("MatMul", {h, fw}, {}, "fc");
  h = b.add1("Cast", {h}, {{"to", static_cast<int64_t>(ir::DType::Float)}}, "to_float");
  b.output(h, "logits");
  ir::Graph g = b.finish();
  g.metadata["trained_by"] = "pare test";
  return g;
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("pare_rt_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static inline int counter = 0;
};

TEST(OnnxRoundTrip, KeepsNamesAttributesAndOutputs) {
  ir::Graph g = sample_graph();
  TempDir dir;
  const std::string file = (dir.path / "m.onnx").string();
  save_onnx(g, file);
  onnx::checker::check_model(file);  // throws on an invalid model
  ir::Graph back = load_onnx(file);
  ASSERT_EQ(back.nodes.size(), g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    EXPECT_EQ(back.nodes[i].name, g.nodes[i].name);
    EXPECT_EQ(back.nodes[i].inputs, g.nodes[i].inputs);
    EXPECT_EQ(back.nodes[i].outputs, g.nodes[i].outputs);
    EXPECT_EQ(back.nodes[i].attrs.size(), g.nodes[i].attrs.size());
  }
  EXPECT_EQ(back.nodes[0].attr("strides")->ints, (std::vector<int64_t>{2, 2}));
  EXPECT_FLOAT_EQ(static_cast<float>(back.nodes[1].attr("alpha")->f), 0.2f);
  EXPECT_EQ(back.inputs[0].shape->at(0).param, "N");
  EXPECT_EQ(back.outputs[0].name, "logits");
  EXPECT_EQ(back.metadata.at("trained_by"), "pare test");
  EXPECT_EQ(back.initializers.at("fc.weight").scalar_type(), at::kHalf);
  EXPECT_TRUE(at::equal(back.initializers.at("conv.weight"), g.initializers.at("conv.weight")));
  at::Tensor x = at::randn({2, 3, 8, 8});
  exec::Executor a(g), b(back);
  EXPECT_TRUE(at::equal(a.run({x})[0], b.run({x})[0]));
}

TEST(OnnxRoundTrip, ExternalDataIsWrittenAndRead) {
  ir::Graph g = sample_graph();
  TempDir dir;
  const std::string file = (dir.path / "ext.onnx").string();
  OnnxSaveOptions opt;
  opt.external_data_min_bytes = 256;
  save_onnx(g, file, opt);
  ASSERT_TRUE(fs::exists(file + ".data"));
  EXPECT_LT(fs::file_size(file), 1024u);  // weights live in the data file
  ir::Graph back = load_onnx(file);
  EXPECT_TRUE(at::equal(back.initializers.at("conv.weight"), g.initializers.at("conv.weight")));
  // A missing data file is reported with the tensor named.
  fs::remove(file + ".data");
  try {
    load_onnx(file);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_FALSE(e.tensor_name().empty());
    EXPECT_NE(std::string(e.what()).find("external data"), std::string::npos);
  }
}

TEST(OnnxRoundTrip, RefusesToOverwriteItsInput) {
  ir::Graph g = sample_graph();
  TempDir dir;
  const std::string file = (dir.path / "in.onnx").string();
  save_onnx(g, file);
  const auto size = fs::file_size(file);
  EXPECT_THROW(save_onnx(g, file, {}, {file}), Error);
  EXPECT_EQ(fs::file_size(file), size);
}

TEST(OnnxRoundTrip, InvalidGraphFailsCheckerAndLeavesNoFile) {
  ir::Graph g = sample_graph();
  g.nodes[1].op_type = "NoSuchOnnxOp";
  TempDir dir;
  const std::string file = (dir.path / "bad.onnx").string();
  EXPECT_THROW(save_onnx(g, file), Error);
  EXPECT_FALSE(fs::exists(file));
  EXPECT_TRUE(fs::is_empty(dir.path));  // no temporary left behind
}

}  // namespace
}  // namespace pare::io
