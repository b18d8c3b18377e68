// Unknown commands and flags: found before CLI11 parses, with the nearest valid name; valid command lines pass.
#include "pare/cli/command_line.h"

#include <gtest/gtest.h>

namespace pare::cli {
namespace {

struct ToyCli {
  CLI::App app{"toy"};
  std::string model, out, json;
  int wbits = 8;
  bool quiet = false;
  ToyCli() {
    app.require_subcommand(1);
    auto* q = app.add_subcommand("quantize", "");
    q->add_option("model", model);
    q->add_option("--wbits", wbits);
    q->add_option("--out,-o", out);
    q->add_option("--json", json)->expected(0, 1);
    q->add_flag("--quiet", quiet);
    auto* text = app.add_subcommand("text", "");
    text->require_subcommand(1);
    text->add_subcommand("brown", "")->add_option("--out", out);
  }
};

std::string error_of(const ToyCli& c, const std::vector<std::string>& args) {
  try {
    check_command_line(c.app, args);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CommandLine, NearestNamesTheLikelyTypo) {
  EXPECT_EQ(nearest("--bits", {"--wbits", "--abits", "--out"}), "--wbits");
  EXPECT_EQ(nearest("quantise", {"info", "quantize", "eval"}), "quantize");
  EXPECT_EQ(nearest("--calibration", {"--calib", "--eval"}), "--calib");
  EXPECT_EQ(nearest("--frobnicate", {"--wbits", "--out"}), "");  // nothing close: no guess
}

TEST(CommandLine, ValidLinesPass) {
  const ToyCli c;
  EXPECT_EQ(error_of(c, {"quantize", "m.onnx", "--wbits", "4", "-o", "q.pare", "--quiet"}), "");
  EXPECT_EQ(error_of(c, {"quantize", "m.onnx", "--wbits=4", "--json", "--out", "x"}), "");
  EXPECT_EQ(error_of(c, {"quantize", "m.onnx", "--wbits", "-4"}), "");  // a negative value is not a flag
  EXPECT_EQ(error_of(c, {"text", "brown", "--out", "b.txt"}), "");
  EXPECT_EQ(error_of(c, {"quantize", "--help"}), "");
}

TEST(CommandLine, UnknownFlagsAndCommandsNameTheNearest) {
  const ToyCli c;
  const std::string flag = error_of(c, {"quantize", "m.onnx", "--bits", "4"});
  EXPECT_NE(flag.find("pare quantize has no flag --bits"), std::string::npos) << flag;
  EXPECT_NE(flag.find("did you mean --wbits?"), std::string::npos) << flag;
  const std::string cmd = error_of(c, {"quantise", "m.onnx"});
  EXPECT_NE(cmd.find("pare has no command 'quantise'"), std::string::npos) << cmd;
  EXPECT_NE(cmd.find("did you mean pare quantize?"), std::string::npos) << cmd;
  const std::string nested = error_of(c, {"text", "browm"});
  EXPECT_NE(nested.find("did you mean pare text brown?"), std::string::npos) << nested;
  // A flag of another sub-command is unknown here.
  EXPECT_NE(error_of(c, {"text", "brown", "--wbits", "4"}).find("pare text brown has no flag --wbits"),
            std::string::npos);
}

}  // namespace
}  // namespace pare::cli
