// .pare packages: bit packing round trips, a package of every grid kind loads to exactly the values it
// was written from, and damage (bad magic, truncation, flipped bytes) is an Error naming the file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/formats/bit_packing.h"
#include "pare/io/pare_package.h"
#include "pare/ir/zoo/zoo.h"
#include "pare/quant/export/package_export.h"
#include "pare/quant/quantize_model.h"
#include "pare/quant/quantize_weight.h"

namespace pare::io {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("pare_package_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

TEST(BitPacking, RoundTripsEveryWidth) {
  at::manual_seed(1);
  for (int bits = 1; bits <= 8; ++bits) {
    const at::Tensor v = at::randint(0, 1 << bits, {1001}, at::kInt);
    const std::string packed = formats::pack_bits(v, bits);
    EXPECT_EQ(static_cast<int64_t>(packed.size()), (1001 * bits + 7) / 8);
    const at::Tensor back = formats::unpack_bits(reinterpret_cast<const uint8_t*>(packed.data()), 1001, bits);
    EXPECT_TRUE(at::equal(back.to(at::kInt), v)) << bits;
  }
}

struct Fixture {
  quant::QuantizeResult r;
  std::string path;
};

// A small ResNet quantized W4A8, with the layers then re-quantized on every grid kind and granularity.
Fixture make_package(const std::string& name) {
  ir::zoo::ZooOptions zo;
  zo.width = 0.5;
  zo.depth = 8;
  zo.seed = 7;
  const ir::Graph g = ir::zoo::build("resnet20", zo);
  at::manual_seed(2);
  data::Dataset calib;
  calib.inputs = at::rand({16, 1, 28, 28});
  quant::QuantizeOptions o;
  o.calib = &calib;
  o.recipe.wbits = 4;
  Fixture f{quant::quantize_model(g, o), temp_path(name)};
  const std::vector<quant::Grid> grids{quant::Grid::power(4, 0.6), quant::Grid::ternary(),
                                       quant::Grid::codebook(at::linspace(-1, 1, 8)),
                                       quant::Grid::uniform(3, false, true), quant::Grid::uniform(5)};
  for (size_t i = 0; i < f.r.layers.size(); ++i) {
    auto& l = f.r.layers[i];
    quant::WeightQuantOptions w;
    w.grid = grids[i % grids.size()];
    w.granularity = i % 2 ? quant::Granularity::group(16) : quant::Granularity::channel();
    w.scale.scale_bits = i % 2 ? 16 : 32;
    l.weight = quant::quantize_weight(f.r.folded.initializers.at(l.plan.layer.weight), l.plan.layer.out_axis, w,
                                      l.plan.layer.weight);
  }
  f.r.fake = f.r.qdq.clone();
  quant::substitute_dequantized(f.r.fake, f.r.layers);
  std::remove(f.path.c_str());
  save_package(f.path, f.r.qdq, quant::package_weights(f.r.layers), {{"test", name}});
  return f;
}

TEST(Package, LoadsExactlyWhatWasWritten) {
  const Fixture f = make_package("exact.pare");
  ASSERT_TRUE(is_package(f.path));
  const Package p = load_package(f.path);
  ASSERT_EQ(p.weights.size(), f.r.layers.size());
  for (size_t i = 0; i < p.weights.size(); ++i) {
    EXPECT_TRUE(at::equal(p.weights[i].q.main.codes, f.r.layers[i].weight.main.codes)) << i;
    EXPECT_TRUE(at::equal(p.weights[i].q.main.scales, f.r.layers[i].weight.main.scales)) << i;
    EXPECT_EQ(p.weights[i].q.main.grid.str(), f.r.layers[i].weight.main.grid.str());
  }
  EXPECT_EQ(p.header["metadata"]["test"], "exact.pare");
  at::manual_seed(3);
  const at::Tensor x = at::rand({4, 1, 28, 28});
  at::NoGradGuard no_grad;
  exec::Executor a(p.graph), b(f.r.fake);
  EXPECT_TRUE(at::equal(a.run({x}).at(0), b.run({x}).at(0)));
  // Blobs are 64-byte aligned; the file is smaller than the float weights it replaces.
  for (const auto& [name, blob] : p.header["blobs"].items()) EXPECT_EQ(blob["offset"].get<int64_t>() % 64, 0) << name;
  EXPECT_LT(p.file_bytes, static_cast<int64_t>(f.r.float_bits / 8));
  std::remove(f.path.c_str());
}

TEST(Package, DamageIsAnErrorNamingTheFile) {
  const Fixture f = make_package("damaged.pare");
  const std::string good = read_file(f.path);
  const std::string bad = temp_path("bad.pare");
  auto expect_error = [&](const std::string& bytes, const std::string& fragment) {
    write_file(bad, bytes);
    try {
      load_package(bad);
      ADD_FAILURE() << "no error for " << fragment;
    } catch (const Error& e) {
      EXPECT_EQ(e.file_path(), bad);
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_error("PAREPKG", "bad magic");
  expect_error(good.substr(0, good.size() / 2), "truncated");
  std::string flipped = good;
  flipped[flipped.size() - 10] ^= 0x40;
  expect_error(flipped, "checksum");
  std::string header = good;
  header[30] ^= 0x01;
  expect_error(header, "checksum");
  std::string version = good;
  version[8] = 9;
  expect_error(version, "version");
  std::remove(bad.c_str());
  std::remove(f.path.c_str());
}

// Numbers in the header that are not integers of the right range (1e99 where an int is read: a float cast
// out of range, undefined behaviour in nlohmann's get<int>()) are an Error naming the file and the field.
// Found by reading the reader after a pare_package_fuzz run (docs/fuzzing.md). Checksums are off, as when
// fuzzing, so that the edited header need not be re-checksummed.
TEST(Package, NonIntegerHeaderNumbersAreErrors) {
  const Fixture f = make_package("numbers.pare");
  const std::string good = read_file(f.path);
  uint64_t hlen = 0;
  std::memcpy(&hlen, good.data() + 16, 8);
  const nlohmann::json header = nlohmann::json::parse(good.substr(24, hlen));
  // Blobs move up by a multiple of 64 bytes, leaving room for a longer header.
  const int64_t shift = static_cast<int64_t>((24 + hlen + 1024 + 63) / 64 * 64);
  auto expect_error = [&](const std::function<void(nlohmann::json&)>& edit, const std::string& fragment) {
    nlohmann::json h = header;
    for (auto& [name, b] : h["blobs"].items()) b["offset"] = b["offset"].get<int64_t>() + shift;
    edit(h);
    const std::string text = h.dump();
    std::string bytes(good.size() + shift, '\0');
    std::memcpy(bytes.data(), good.data(), 16);
    const uint64_t n = text.size();
    std::memcpy(bytes.data() + 16, &n, 8);
    ASSERT_LT(24 + text.size(), static_cast<size_t>(shift));
    std::memcpy(bytes.data() + 24, text.data(), text.size());
    std::memcpy(bytes.data() + shift, good.data(), good.size());
    try {
      package_from_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "numbers.pare", false);
      ADD_FAILURE() << "no error for " << fragment;
    } catch (const Error& e) {
      EXPECT_EQ(e.file_path(), "numbers.pare");
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  const std::string w = header["quantized"][0]["weight"].get<std::string>();
  expect_error([](nlohmann::json& h) { h["quantized"][0]["weight_input"] = 1e99; },
               "weight_input of '" + header["quantized"][0]["node"].get<std::string>() + "' is not an integer");
  expect_error([](nlohmann::json& h) { h["quantized"][0]["weight_input"] = true; }, "is not an integer");
  expect_error([](nlohmann::json& h) { h["quantized"][0]["grid"]["bits"] = -1e12; }, "grid bits of '" + w + "'");
  expect_error([](nlohmann::json& h) { h["quantized"][0]["grid"]["bits"] = 4294967300u; }, "is out of range");
  expect_error([](nlohmann::json& h) { h["quantized"][0]["out_axis"] = 1e300; }, "out_axis of '" + w + "'");
  expect_error([](nlohmann::json& h) { h["quantized"][0]["scale_bits"] = 0.5; }, "scale_bits of '" + w + "'");
  expect_error([](nlohmann::json& h) { h["quantized"][0]["shape"][0] = 3e20; }, "shape of '" + w + "'");
  expect_error([](nlohmann::json& h) { h["quantized"][0]["shape"] = "8"; }, "shape of '" + w + "'");
  expect_error([](nlohmann::json& h) { h["quantized"][0]["scales_shape"][0] = 8.5; }, "scales_shape of '" + w + "'");
  expect_error([](nlohmann::json& h) { h["blobs"]["graph"]["offset"] = 1e99; }, "offset of blob 'graph'");
  expect_error([](nlohmann::json& h) { h["blobs"]["graph"]["bytes"] = -64; }, "size of blob 'graph' is out of range");
  std::remove(f.path.c_str());
}

}  // namespace
}  // namespace pare::io
