// safetensors: bit-exact round trips of every readable dtype, zero-copy views that never write the file, F16/BF16
// conversion as libtorch does it, bytes written by hand (and by make_corpus.py in Python) per the spec, sharded
// folders, and an Error naming the file and the tensor or field for each kind of damage.
#include "pare/io/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "pare/error.h"

namespace pare::io {
namespace {
namespace fs = std::filesystem;

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

// A file as the spec lays it out: length, header text (as given: no padding), buffer.
std::string st_bytes(const std::string& header, const std::string& buffer = "") {
  return le64(header.size()) + header + buffer;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool same_bytes(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor x = a.contiguous(), y = b.contiguous();
  return x.numel() == 0 || std::memcmp(x.data_ptr(), y.data_ptr(), x.numel() * x.element_size()) == 0;
}

template <class F>
void expect_error(F f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning " << needles[0];
  } catch (const Error& e) {
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << n << "\n" << e.what();
  }
}

void expect_bytes_error(const std::string& bytes, std::vector<std::string> needles) {
  needles.insert(needles.begin(), "bad.safetensors");
  expect_error([&] { SafetensorsModel::from_bytes(bytes, "bad.safetensors"); }, needles);
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pare_st_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& rel, const std::string& bytes) {
    const fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
    return p.string();
  }
  // save_safetensors into a folder of dir_ that may not exist yet; returns the path.
  std::string save(const std::string& rel, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                   const std::map<std::string, std::string>& metadata = {}) {
    const fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    save_safetensors(p.string(), tensors, metadata);
    return p.string();
  }
  fs::path dir_;
};

TEST_F(SafetensorsTest, RoundTripsEveryReadableDtypeBitExactly) {
  at::manual_seed(3);
  const std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"f32", at::randn({3, 5})},
      {"f16", at::randn({7}).to(at::kHalf)},  // 14 bytes: the next tensor would be misaligned if written next
      {"bf16", at::randn({2, 3}).to(at::kBFloat16)},
      {"f64", at::randn({2}, at::kDouble)},
      {"i64", at::randint(-1000, 1000, {4}, at::kLong)},
      {"i32", at::randint(-1000, 1000, {3}, at::kInt)},
      {"i16", at::randint(-1000, 1000, {5}, at::kShort)},
      {"i8", at::randint(-128, 127, {3}, at::kChar)},
      {"u8", at::randint(0, 255, {9}, at::kByte)},
      {"bool", at::tensor({1, 0, 0, 1}, at::kByte).to(at::kBool)},
      {"scalar", at::scalar_tensor(3.5)},
      {"empty", at::zeros({0, 4})},
      {"transposed", at::randn({4, 3}).t()},
      {"layers.0.attn.q_proj.weight", at::randn({4, 4}).to(at::kBFloat16)}};
  const std::string path = (dir_ / "m.safetensors").string();
  save_safetensors(path, tensors, {{"format", "pt"}, {"producer", "pare test"}});
  const SafetensorsModel m = SafetensorsModel::open(path);
  ASSERT_EQ(m.names().size(), tensors.size());
  const std::map<std::string, std::string> dtypes = {{"f32", "F32"},        {"f16", "F16"},
                                                     {"bf16", "BF16"},      {"f64", "F64"},
                                                     {"i64", "I64"},        {"i32", "I32"},
                                                     {"i16", "I16"},        {"i8", "I8"},
                                                     {"u8", "U8"},          {"bool", "BOOL"},
                                                     {"scalar", "F32"},     {"empty", "F32"},
                                                     {"transposed", "F32"}, {"layers.0.attn.q_proj.weight", "BF16"}};
  for (const auto& [name, t] : tensors) {
    ASSERT_TRUE(m.has(name)) << name;
    EXPECT_EQ(m.entry(name).dtype, dtypes.at(name)) << name;
    EXPECT_EQ(m.entry(name).file, path);
    EXPECT_EQ(at::IntArrayRef(m.entry(name).shape), t.sizes()) << name;
    EXPECT_TRUE(same_bytes(m.tensor(name), t)) << name;
  }
  EXPECT_EQ(m.metadata(), nlohmann::json({{"format", "pt"}, {"producer", "pare test"}}));
  EXPECT_EQ(m.files(), std::vector<std::string>{path});
  EXPECT_FALSE(m.has("F32"));
}

TEST_F(SafetensorsTest, HeaderIsPaddedToEightAndEveryTensorIsAligned) {
  const std::string path = (dir_ / "m.safetensors").string();
  save_safetensors(path, {{"a", at::ones({3}, at::kByte)},
                          {"b", at::ones({3}, at::kHalf)},
                          {"c", at::ones({3})},
                          {"d", at::ones({1}, at::kLong)}});
  const std::string bytes = read_file(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}'));  // padded with spaces after the JSON
  const SafetensorsModel m = SafetensorsModel::open(path);
  uint64_t end = 0;
  for (const auto& name : m.names()) {
    const SafetensorsEntry& e = m.entry(name);
    EXPECT_EQ((8 + n + e.begin) % static_cast<uint64_t>(m.tensor(name).element_size()), 0u) << name;
    end = std::max(end, e.end);
  }
  EXPECT_EQ(8 + n + end, bytes.size());
}

TEST_F(SafetensorsTest, TensorsAreViewsOfAPrivateMappingThatOutliveTheModel) {
  const std::string path = (dir_ / "m.safetensors").string();
  const at::Tensor w = at::arange(1024, at::kFloat);
  save_safetensors(path, {{"w", w}});
  const std::string before = read_file(path);
  at::Tensor kept;
  {
    const SafetensorsModel m = SafetensorsModel::open(path);
    at::Tensor a = m.tensor("w"), b = m.tensor("w");
    EXPECT_EQ(a.data_ptr(), b.data_ptr());                  // both view the same mapped bytes: no copy
    EXPECT_EQ(m.tensor_f32("w").data_ptr(), a.data_ptr());  // F32 needs no conversion
    a.fill_(7.0f);                                          // a private page: visible to b, never to the file
    EXPECT_EQ(b[5].item<float>(), 7.0f);
    kept = SafetensorsModel::open(path).tensor("w");  // its model is gone at once
  }
  EXPECT_TRUE(at::equal(kept, w));  // the view kept its mapping alive
  EXPECT_EQ(read_file(path), before);
  EXPECT_TRUE(at::equal(SafetensorsModel::open(path).tensor("w"), w));
}

// release() drops a tensor's pages; the view reads the file's values again (private writes are discarded).
TEST_F(SafetensorsTest, ReleasedPagesAreReadAgainFromTheFile) {
  const std::string path = (dir_ / "big.safetensors").string();
  const at::Tensor w = at::arange(1 << 16, at::kFloat), small = at::arange(3, at::kFloat);
  save_safetensors(path, {{"w", w}, {"small", small}});
  const SafetensorsModel m = SafetensorsModel::open(path);
  at::Tensor v = m.tensor("w");
  v.fill_(-1.0f);
  m.release("w");
  m.release("small");  // smaller than a page: nothing to drop, still fine
  // Only whole pages are dropped: the written values survive at most in the two partial pages at the ends.
  const int64_t page_floats = ::sysconf(_SC_PAGESIZE) / 4;
  EXPECT_GE((v == w).sum().item<int64_t>(), w.numel() - 2 * page_floats);
  EXPECT_TRUE(at::equal(v.narrow(0, page_floats, w.numel() - 2 * page_floats),
                        w.narrow(0, page_floats, w.numel() - 2 * page_floats)));
  EXPECT_TRUE(at::equal(m.tensor("small"), small));
}

TEST_F(SafetensorsTest, HalfAndBFloat16ConvertAsLibtorchDoes) {
  at::manual_seed(5);
  const at::Tensor x = at::randn({257}) * 300;
  const at::Tensor h = x.to(at::kHalf), b = x.to(at::kBFloat16);
  const std::string path = (dir_ / "m.safetensors").string();
  save_safetensors(path, {{"h", h}, {"b", b}});
  const SafetensorsModel m = SafetensorsModel::open(path);
  EXPECT_EQ(m.tensor_f32("h").scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(m.tensor_f32("h"), h.to(at::kFloat)));
  EXPECT_TRUE(at::equal(m.tensor_f32("b"), b.to(at::kFloat)));
  // Known bit patterns (IEEE binary16; bfloat16 is the top half of binary32).
  const uint16_t f16[] = {0x3C00, 0xC000, 0x7BFF, 0x0001};  // 1, -2, 65504, 2^-24
  const uint16_t bf16[] = {0x3F80, 0xC0A0, 0x3E20};         // 1, -5, 0.15625
  std::string buffer(reinterpret_cast<const char*>(f16), 8);
  buffer.append(reinterpret_cast<const char*>(bf16), 6);
  const SafetensorsModel k =
      SafetensorsModel::from_bytes(st_bytes(R"({"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},)"
                                            R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[8,14]}})",
                                            buffer),
                                   "known.safetensors");
  EXPECT_TRUE(at::equal(k.tensor_f32("h"), at::tensor({1.0f, -2.0f, 65504.0f, 5.9604644775390625e-08f})));
  EXPECT_TRUE(at::equal(k.tensor_f32("b"), at::tensor({1.0f, -5.0f, 0.15625f})));
}

// An independent writer: the bytes of the spec typed out, with an odd header length (no padding) so that the I64
// tensor is misaligned, keys out of order, and a scalar.
TEST_F(SafetensorsTest, ReadsBytesWrittenByHandPerTheSpec) {
  const std::string header = R"({"z":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},)"
                             R"("__metadata__":{"format":"pt","note":"hand"},)"
                             R"("a":{"dtype":"I64","shape":[1],"data_offsets":[3,11]},)"
                             R"( "s" : {"shape":[],"data_offsets":[11,15],"dtype":"F32"},)"
                             R"("b":{"dtype":"BOOL","shape":[2],"data_offsets":[15,17]}})";
  std::string buffer = "\x01\x02\x03";
  buffer += le64(static_cast<uint64_t>(-2));
  const float s = 2.5f;
  buffer.append(reinterpret_cast<const char*>(&s), 4);
  buffer += std::string("\x02\x00", 2);  // any nonzero byte is true
  const SafetensorsModel m = SafetensorsModel::from_bytes(st_bytes(header, buffer), "hand.safetensors");
  EXPECT_EQ(m.names(), (std::vector<std::string>{"a", "b", "s", "z"}));
  EXPECT_TRUE(at::equal(m.tensor("z"), at::tensor({1, 2, 3}, at::kByte)));
  EXPECT_TRUE(at::equal(m.tensor("a"), at::tensor({-2}, at::kLong)));
  EXPECT_EQ(m.tensor("s").dim(), 0);
  EXPECT_EQ(m.tensor("s").item<float>(), 2.5f);
  EXPECT_EQ(m.metadata().value("note", ""), "hand");
  EXPECT_EQ(m.entry("a").begin, 3u);
  EXPECT_EQ(m.entry("a").end, 11u);
  EXPECT_TRUE(at::equal(m.tensor("b"), at::tensor({1, 0}, at::kByte).to(at::kBool)));
}

// tests/bad_input/make_corpus.py writes st_good.safetensors with struct + json in Python (Debian has no safetensors
// package): the same values must come back here.
TEST_F(SafetensorsTest, ReadsTheFileThatPythonWrote) {
  const std::string path = std::string(PARE_SOURCE_DIR) + "/tests/bad_input/files/st_good.safetensors";
  const SafetensorsModel m = SafetensorsModel::open(path);
  EXPECT_EQ(m.names(),
            (std::vector<std::string>{"embed.weight", "mask", "norm.weight", "position_ids", "proj.weight"}));
  EXPECT_TRUE(at::equal(m.tensor("embed.weight"), (at::arange(12, at::kFloat) * 0.5 - 1).reshape({4, 3})));
  EXPECT_TRUE(at::equal(m.tensor_f32("norm.weight"), at::tensor({1.0f, -0.5f, 2.0f})));
  EXPECT_EQ(m.tensor("norm.weight").scalar_type(), at::kHalf);
  EXPECT_TRUE(at::equal(m.tensor_f32("proj.weight"), at::tensor({1.5f, -2.0f, 0.15625f, 3.0f}).reshape({2, 2})));
  EXPECT_EQ(m.tensor("proj.weight").scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(m.tensor("position_ids"), at::tensor({7, -1}, at::kLong)));
  EXPECT_TRUE(at::equal(m.tensor("mask"), at::tensor({1, 0, 1}, at::kByte).to(at::kBool)));
  EXPECT_EQ(m.metadata(), nlohmann::json({{"format", "pt"}}));
}

TEST_F(SafetensorsTest, ShardedFolderWithIndex) {
  const at::Tensor a = at::randn({2, 3}), b = at::randn({3}).to(at::kHalf), c = at::randn({2, 2}).to(at::kBFloat16);
  save("model-00001-of-00002.safetensors", {{"a", a}, {"b", b}}, {{"format", "pt"}});
  save("model-00002-of-00002.safetensors", {{"c", c}}, {{"format", "other"}});
  write("model.safetensors.index.json", R"({"metadata": {"total_size": 38}, "weight_map": {
      "a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
      "c": "model-00002-of-00002.safetensors"}})");
  write("config.json", "{}");
  for (const std::string& p : {dir_.string(), (dir_ / "model.safetensors.index.json").string()}) {
    const SafetensorsModel m = SafetensorsModel::open(p);
    EXPECT_EQ(m.names(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_TRUE(same_bytes(m.tensor("a"), a));
    EXPECT_TRUE(same_bytes(m.tensor("b"), b));
    EXPECT_TRUE(same_bytes(m.tensor("c"), c));
    EXPECT_EQ(m.entry("c").file, (dir_ / "model-00002-of-00002.safetensors").string());
    EXPECT_EQ(m.files().size(), 2u);
    EXPECT_EQ(m.metadata().value("format", ""), "pt");  // the first shard's
  }
  EXPECT_TRUE(is_safetensors(dir_.string()));
}

TEST_F(SafetensorsTest, FolderWithOneFile) {
  save("one/model.safetensors", {{"w", at::ones({2})}});
  EXPECT_FALSE(SafetensorsModel::open((dir_ / "one").string()).names().empty());
  save("two/adapter.safetensors", {{"v", at::ones({2})}});
  EXPECT_TRUE(SafetensorsModel::open((dir_ / "two").string()).has("v"));
}

TEST_F(SafetensorsTest, RecognizesSafetensorsPaths) {
  EXPECT_TRUE(is_safetensors("x/model.safetensors"));
  EXPECT_FALSE(is_safetensors("x/model.onnx"));
  write("st/a.safetensors", "");
  write("mixed/a.safetensors", "");
  write("mixed/a.onnx", "");
  write("none/readme.txt", "");
  EXPECT_TRUE(is_safetensors((dir_ / "st").string()));
  EXPECT_FALSE(is_safetensors((dir_ / "mixed").string()));
  EXPECT_FALSE(is_safetensors((dir_ / "none").string()));
}

TEST(SafetensorsErrors, LengthAndJson) {
  expect_bytes_error("", {"safetensors file is empty", "got:      0 bytes"});
  expect_bytes_error("\x05\0\0", {"too short", "expected: at least 8 bytes"});
  expect_bytes_error(le64(uint64_t{1} << 40) + "{}", {"header length is implausibly large", "at most 100000000"});
  expect_bytes_error(le64(1000) + "{}", {"runs past the end of the file", "expected: 1000 header bytes"});
  expect_bytes_error(st_bytes(R"({"w": )"), {"not valid JSON", "got:"});
  expect_bytes_error(st_bytes("[1, 2]"), {"not a JSON object", "got:      first bytes '[1, 2]'"});
  expect_bytes_error(st_bytes(" {}"), {"not a JSON object", "starting with '{'"});
  expect_bytes_error(st_bytes(""), {"not a JSON object", "an empty header"});
  expect_bytes_error(st_bytes("{\"w\xff\": 1}"), {"not valid JSON"});
  expect_bytes_error(st_bytes(R"({"w": {"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                              R"( "w": {"dtype":"F32","shape":[],"data_offsets":[4,8]}})",
                              std::string(8, '\0')),
                     {"tensor 'w'", "name appears twice"});
  expect_bytes_error(
      st_bytes(R"({"w": {"dtype":"F32","dtype":"F16","shape":[],"data_offsets":[0,4]}})", std::string(4, '\0')),
      {"key 'dtype' appears twice"});
}

TEST(SafetensorsErrors, Fields) {
  auto one = [](const std::string& entry, size_t buffer = 24) {
    return st_bytes(R"({"w": )" + entry + "}", std::string(buffer, '\0'));
  };
  expect_bytes_error(one("3"), {"tensor 'w'", "header entry is not an object"});
  expect_bytes_error(one(R"({"shape":[2],"data_offsets":[0,8]})"), {"tensor 'w'", "field 'dtype'"});
  expect_bytes_error(one(R"({"dtype":"Q4_K","shape":[2],"data_offsets":[0,8]})"),
                     {"tensor 'w'", "unknown dtype 'Q4_K'", "expected: one of F32 F16 BF16", "got:      'Q4_K'"});
  expect_bytes_error(one(R"({"dtype":"F32","shape":[-1,3],"data_offsets":[0,24]})"),
                     {"tensor 'w'", "field 'shape' holds a negative number", "got:      [-1,3]"});
  expect_bytes_error(one(R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,24]})"),
                     {"tensor 'w'", "field 'shape' is not a list of integers"});
  expect_bytes_error(one(R"({"dtype":"F32","data_offsets":[0,24]})"), {"tensor 'w'", "field 'shape' is missing"});
  expect_bytes_error(one(R"({"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]})"),
                     {"tensor 'w'", "shape is implausibly large", "at most 2^40 elements"});
  expect_bytes_error(one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,20]})", 20),
                     {"tensor 'w'", "do not match the dtype and shape", "expected: 24 bytes for F32[2, 3]",
                      "got:      20 bytes (data_offsets [0, 20])"});
  expect_bytes_error(one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})", 12),
                     {"tensor 'w'", "run past the end of the buffer", "<= 12", "got:      [0, 24]"});
  expect_bytes_error(one(R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})"),
                     {"tensor 'w'", "end before they begin"});
  expect_bytes_error(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0]})"),
                     {"tensor 'w'", "'data_offsets' is not a pair"});
  expect_bytes_error(st_bytes(R"({"__metadata__": {"n": 1}})"), {"'__metadata__'", "non-string value for key 'n'"});
  expect_bytes_error(st_bytes(R"({"__metadata__": [1]})"), {"'__metadata__' is not an object"});
}

TEST(SafetensorsErrors, Tiling) {
  const std::string a = R"("a": {"dtype":"F32","shape":[3],"data_offsets":[0,12]})";
  expect_bytes_error(
      st_bytes("{" + a + R"(, "b": {"dtype":"F32","shape":[3],"data_offsets":[8,20]}})", std::string(20, '\0')),
      {"tensor 'b'", "overlaps 'a'", "starting at 12", "got:      [8, 20]"});
  expect_bytes_error(
      st_bytes("{" + a + R"(, "b": {"dtype":"F32","shape":[3],"data_offsets":[16,28]}})", std::string(28, '\0')),
      {"tensor 'b'", "hole of 4 bytes"});
  expect_bytes_error(st_bytes("{" + a + "}", std::string(16, '\0')), {"4 bytes after the last tensor"});
  // Empty tensors take no bytes and may sit anywhere on a boundary.
  const SafetensorsModel m = SafetensorsModel::from_bytes(
      st_bytes("{" + a + R"(, "e": {"dtype":"F64","shape":[0,5],"data_offsets":[12,12]}})", std::string(12, '\0')),
      "ok.safetensors");
  EXPECT_EQ(m.tensor("e").sizes(), at::IntArrayRef({0, 5}));
}

TEST(SafetensorsErrors, MissingTensorAndUnreadableDtype) {
  const SafetensorsModel m = SafetensorsModel::from_bytes(
      st_bytes(R"({"u": {"dtype":"U16","shape":[2],"data_offsets":[0,4]}})", std::string(4, '\0')), "u16.safetensors");
  EXPECT_EQ(m.entry("u").dtype, "U16");  // listed, not readable
  expect_error([&] { m.tensor("u"); }, {"u16.safetensors", "tensor 'u'", "U16 cannot be read"});
  expect_error([&] { m.tensor_f32("u"); }, {"tensor 'u'"});
  expect_error([&] { m.entry("nope"); }, {"u16.safetensors", "tensor 'nope'", "no such tensor", "pare info"});
}

TEST_F(SafetensorsTest, FolderErrors) {
  expect_error([&] { SafetensorsModel::open((dir_ / "nope").string()); }, {"nope", "does not exist"});
  fs::create_directories(dir_ / "empty");
  expect_error([&] { SafetensorsModel::open((dir_ / "empty").string()); }, {"holds no safetensors file"});
  save("two/a.safetensors", {{"a", at::ones({1})}});
  save("two/b.safetensors", {{"b", at::ones({1})}});
  expect_error(
      [&] { SafetensorsModel::open((dir_ / "two").string()); },
      {"several safetensors files but no model.safetensors.index.json", "2 files: a.safetensors, b.safetensors"});

  auto sharded = [&](const std::string& name, const std::string& index) {
    save(name + "/s1.safetensors", {{"a", at::ones({1})}, {"b", at::ones({1})}});
    save(name + "/s2.safetensors", {{"c", at::ones({1})}});
    write(name + "/model.safetensors.index.json", index);
    return (dir_ / name).string();
  };
  const std::string missing = sharded("missing", R"({"weight_map": {"a": "s1.safetensors", "z": "s3.safetensors"}})");
  expect_error([&] { SafetensorsModel::open(missing); }, {"model.safetensors.index.json", "tensor 'z'",
                                                          "shard 's3.safetensors' named by the index does not exist"});
  const std::string not_json = sharded("not_json", R"({"weight_map": {"a": )");
  expect_error([&] { SafetensorsModel::open(not_json); }, {"model.safetensors.index.json", "not valid JSON"});
  const std::string no_map = sharded("no_map", R"({"metadata": {}})");
  expect_error([&] { SafetensorsModel::open(no_map); }, {"model.safetensors.index.json", "no 'weight_map'"});
  const std::string lacks =
      sharded("lacks", R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors", "c": "s2.safetensors"}})");
  expect_error([&] { SafetensorsModel::open(lacks); },
               {"s2.safetensors", "tensor 'b'", "which lacks it", "got:      it is in", "s1.safetensors"});
  const std::string nowhere = sharded("nowhere", R"({"weight_map": {"a": "s1.safetensors", "z": "s1.safetensors"}})");
  expect_error([&] { SafetensorsModel::open(nowhere); }, {"tensor 'z'", "which lacks it", "no shard holds it"});
  const std::string escape = sharded("escape", R"({"weight_map": {"a": "../two/a.safetensors"}})");
  expect_error([&] { SafetensorsModel::open(escape); }, {"tensor 'a'", "leaves the model's folder"});
  const std::string dup = sharded("dup", R"({"weight_map": {"a": "s1.safetensors", "c": "s2.safetensors"}})");
  save("dup/s2.safetensors", {{"c", at::ones({1})}, {"a", at::ones({1})}});
  expect_error([&] { SafetensorsModel::open(dup); }, {"tensor 'a'", "stored in two shards", "s1.safetensors and"});
  const std::string damaged = sharded("damaged", R"({"weight_map": {"a": "s1.safetensors", "c": "s2.safetensors"}})");
  write("damaged/s2.safetensors", le64(1000) + "{}");
  expect_error([&] { SafetensorsModel::open(damaged); }, {"s2.safetensors", "runs past the end"});
}

TEST_F(SafetensorsTest, WriterRefusals) {
  const std::string path = (dir_ / "w.safetensors").string();
  expect_error(
      [&] {
        save_safetensors(path, {{"z", at::zeros({2}, at::kComplexFloat)}});
      },
      {"tensor 'z'", "cannot store a ComplexFloat tensor", "expected: one of F32"});
  expect_error(
      [&] {
        save_safetensors(path, {{"a", at::ones({1})}, {"a", at::ones({1})}});
      },
      {"tensor 'a'", "given twice"});
  expect_error([&] { save_safetensors(path, {{"__metadata__", at::ones({1})}}); }, {"reserved"});
  save_safetensors(path, {{"a", at::ones({1})}});
  expect_error([&] { save_safetensors(path, {{"a", at::zeros({1})}}, {}, {path}); }, {"refusing to overwrite"});
  EXPECT_TRUE(at::equal(SafetensorsModel::open(path).tensor("a"), at::ones({1})));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);  // no temp file left
}

}  // namespace
}  // namespace pare::io
