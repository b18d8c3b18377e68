// Adding a method is one registry entry: a toy "sign" quantizer declared in this file alone appears in
// --list-methods, is accepted (with its option) by the recipe parser and the CLI flags, quantizes a model
// through the shared pipeline and reports its own per-layer field.
#include "pare/quant/method_registry.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "pare/blocks/block_driver.h"
#include "pare/cli/command.h"
#include "pare/error.h"
#include "pare/io/json_file.h"
#include "pare/io/onnx_export.h"
#include "pare/ir/zoo/zoo.h"
#include "pare/quant/methods/rtn.h"
#include "pare/quant/quantize_model.h"

namespace pare::quant {
namespace {

// sign(w) * mean|w| of the row, and 0 where |w| is below `threshold` times the row's max |w|.
LayerWeight sign_weight(const WeightJob& job) {
  const double threshold = job.recipe.option("threshold").get<double>();
  const at::Tensor m = to_matrix(job.w, job.plan.layer.out_axis);
  const at::Tensor keep = m.abs() >= m.abs().amax(1, true) * threshold;
  QuantizedTensor q;
  q.grid = Grid::ternary();
  q.granularity = Granularity::channel();
  q.out_axis = job.plan.layer.out_axis;
  q.shape = job.w.sizes().vec();
  q.codes = (m.sign() * keep).to(at::kShort).contiguous();
  q.scales = m.abs().mean(1, true).contiguous();
  return {q, "", {{"kept", keep.to(at::kFloat).mean().item<double>()}}};
}

Method sign_method() {
  Method m;
  m.name = "sign";
  m.summary = "toy: sign of each weight times the row's mean magnitude";
  m.doc = "docs/methods/README.md";
  m.grids = {GridKind::Ternary};
  m.options = {real_option("threshold", 0.0, "weights below this share of the row's max |w| become 0", 0, 1)};
  m.weight = sign_weight;
  return m;
}

// A toy method that learns: per block, RTN of the block's layers, logging what the block driver handed it
// ("block index, layers, whether its quantized-prefix inputs differ from its float-prefix ones").
Method probe_method(std::vector<std::string>* log) {
  Method m;
  m.name = "probe";
  m.summary = "toy: RTN per block, recording the block's two input paths";
  m.doc = "docs/methods/README.md";
  m.data = DataNeed::Calibration;
  m.data_required = true;
  m.block = [log](BlockJob& job) {
    blocks::BlockVisit& v = job.visit;
    bool differ = false;
    for (int64_t b = 0; b < v.batches(); ++b)
      for (const auto& [name, t] : v.float_inputs(b)) differ |= !at::equal(t, v.quantized_inputs(b).at(name));
    log->push_back(std::to_string(v.index()) + " " + std::to_string(job.layers.size()) + " " + std::to_string(differ));
    for (auto& l : job.layers)
      l.weight = quantize_weight(job.source.weight(l.plan.layer.weight), l.plan.layer.out_axis, rtn_options(l.plan),
                                 l.plan.layer.weight);
  };
  return m;
}

MethodRegistry with_sign() {
  MethodRegistry r = builtin_methods();
  r.add(sign_method());
  return r;
}

struct TempDir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("pare_registry_test_" + std::to_string(::getpid()));
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
};

TEST(MethodRegistry, BuiltinMethodsDeclareTheirDataAndOptions) {
  const nlohmann::json j = builtin_methods().to_json();
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& m : j.at("methods")) by_name[m.at("name").get<std::string>()] = m;
  for (const char* name : {"rtn", "dfq", "rex", "powerquant", "tquant", "mquant", "ternary-rtn"})
    ASSERT_TRUE(by_name.count(name)) << name;
  EXPECT_EQ(by_name["rtn"]["data"], "calibration");
  EXPECT_EQ(by_name["rex"]["data"], "none");
  EXPECT_EQ(by_name["dfq"]["models"], nlohmann::json::array({"onnx"}));
  std::vector<std::string> rex_options;
  for (const auto& o : by_name["rex"]["options"]) rex_options.push_back(o.at("name").get<std::string>());
  EXPECT_EQ(rex_options, (std::vector<std::string>{"order", "sparsity", "ensemble", "pipe_split"}));
  EXPECT_EQ(by_name["rex"]["options"][0]["default"], 2);
  EXPECT_EQ(by_name["rex"]["options"][0]["flag"], "--order");
  EXPECT_THROW(with_sign().add(sign_method()), Error);  // a name is registered once
}

TEST(MethodRegistry, ANewMethodIsOneEntry) {
  const MethodRegistry reg = with_sign();
  bool listed = false;
  const nlohmann::json all = reg.to_json();
  for (const auto& m : all.at("methods"))
    if (m.at("name") == "sign") listed = m.at("options").at(0).at("name") == "threshold" && m.at("data") == "none";
  EXPECT_TRUE(listed);

  const Recipe r = Recipe::from_json({{"method", "sign"}, {"threshold", 0.25}, {"abits", 0}}, "", reg);
  EXPECT_EQ(r.option("threshold").get<double>(), 0.25);
  EXPECT_TRUE(r.data_free());
  EXPECT_EQ(Recipe::from_json(r.to_json(), "", reg).to_json(), r.to_json());
  EXPECT_THROW(Recipe::from_json({{"method", "sign"}, {"threshold", 2.0}}, "", reg), Error);  // out of range
  try {
    Recipe::from_json({{"method", "rtn"}, {"threshold", 0.1}}, "", reg);
    FAIL() << "an option of another method was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is an option of --method sign"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Recipe::from_json({{"method", "sign"}}, ""), Error);  // the built-in registry lacks it

  ir::zoo::ZooOptions zo;
  zo.width = 0.5;
  zo.seed = 3;
  QuantizeOptions o;
  o.recipe = r;
  const QuantizeResult q = quantize_model(ir::zoo::build("resnet20", zo), o);
  for (const auto& l : q.layers) {
    if (!l.plan.quantize) continue;
    EXPECT_EQ(l.weight.main.grid.kind, GridKind::Ternary);
    EXPECT_LE(l.weight.main.codes.abs().max().item<int>(), 1);
    EXPECT_TRUE(l.to_json().contains("kept")) << l.plan.layer.node;
  }
}

// A method with a block hook gets each residual block of the graph with its float-prefix and quantized-prefix
// inputs (equal for the first block, different after it), and its weights reach the quantized model.
TEST(MethodRegistry, AMethodThatLearnsGetsEachBlocksInputs) {
  std::vector<std::string> log;
  MethodRegistry reg = builtin_methods();
  reg.add(probe_method(&log));
  EXPECT_EQ(reg.find("probe")->to_json().at("runs"), "block");
  ir::zoo::ZooOptions zo;
  zo.width = 0.5;
  zo.seed = 4;
  const ir::Graph g = ir::zoo::build("resnet20", zo);
  data::Dataset calib;
  calib.name = "random";
  calib.inputs = at::rand({12, 1, 28, 28});
  QuantizeOptions o;
  o.recipe = Recipe::from_json({{"method", "probe"}, {"wbits", 4}, {"abits", 0}}, "", reg);
  EXPECT_THROW(quantize_model(g, o), Error);  // it learns: no data, no work
  o.calib = &calib;
  o.calibration.batch_size = 5;
  const QuantizeResult learned = quantize_model(g, o);
  ASSERT_GE(log.size(), 4u);
  EXPECT_EQ(log.front().back(), '0');  // the first block: both paths start from the same input
  EXPECT_EQ(log.back().back(), '1');   // later blocks: the quantized prefix changed their inputs
  QuantizeOptions rtn;
  rtn.recipe = Recipe::from_json({{"method", "rtn"}, {"wbits", 4}, {"abits", 0}}, "");
  const QuantizeResult plain = quantize_model(g, rtn);
  ASSERT_EQ(learned.layers.size(), plain.layers.size());
  for (size_t i = 0; i < plain.layers.size(); ++i) {
    EXPECT_TRUE(at::equal(learned.layers[i].weight.main.codes, plain.layers[i].weight.main.codes)) << i;
    EXPECT_DOUBLE_EQ(learned.layers[i].relative_error, plain.layers[i].relative_error) << i;
  }
}

TEST(MethodRegistry, TheCliOffersANewMethodsFlags) {
  const MethodRegistry reg = with_sign();
  TempDir dir;
  ir::zoo::ZooOptions zo;
  zo.width = 0.5;
  const std::string model = (dir.path / "m.onnx").string(), json = (dir.path / "q.json").string();
  io::save_onnx(ir::zoo::build("resnet20", zo), model);
  CLI::App app;
  const cli::Action run = cli::add_quantize_command(app, reg);
  std::vector<std::string> args{"pare",
                                "quantize",
                                model,
                                "--method",
                                "sign",
                                "--threshold",
                                "0.5",
                                "--abits",
                                "0",
                                "--out",
                                (dir.path / "q.pare").string(),
                                "--json",
                                json};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  app.parse(static_cast<int>(argv.size()), argv.data());
  testing::internal::CaptureStdout();
  EXPECT_EQ(run(), 0);
  testing::internal::GetCapturedStdout();
  const nlohmann::json out = io::read_json_file(json, "result");
  EXPECT_EQ(out.at("method"), "sign");
  EXPECT_EQ(out.at("recipe").at("threshold"), 0.5);
  EXPECT_LT(out.at("layers").at(1).at("kept").get<double>(), 1.0);

  CLI::App list_app;
  const cli::Action list = cli::add_quantize_command(list_app, reg);
  std::vector<std::string> list_args{"pare", "quantize", "--list-methods", "--json"};
  std::vector<char*> list_argv;
  for (auto& a : list_args) list_argv.push_back(a.data());
  list_app.parse(static_cast<int>(list_argv.size()), list_argv.data());
  testing::internal::CaptureStdout();
  EXPECT_EQ(list(), 0);
  const nlohmann::json listed = nlohmann::json::parse(testing::internal::GetCapturedStdout());
  EXPECT_EQ(listed.at("methods").back().at("name"), "sign");
}

}  // namespace
}  // namespace pare::quant
