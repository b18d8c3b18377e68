// NPZ archives: stored and deflate members (made here in C++, and by numpy when /usr/bin/python3 has it), the
// npz: dataset kind, and the errors for damaged archives.
#include "pare/io/npz.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "pare/data/dataset.h"
#include "pare/error.h"
#include "pare/io/npy.h"

namespace pare::io {
namespace {
namespace fs = std::filesystem;

void put16(std::string& s, uint32_t v) {
  s += static_cast<char>(v & 0xff);
  s += static_cast<char>((v >> 8) & 0xff);
}
void put32(std::string& s, uint32_t v) {
  put16(s, v & 0xffff);
  put16(s, v >> 16);
}

std::string deflate_raw(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, in.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A zip archive as numpy writes it: local header + data per member, central directory, end record.
std::string make_zip(const std::vector<std::pair<std::string, std::string>>& members, bool compress) {
  std::string out, central;
  for (const auto& [name, data] : members) {
    const std::string stored = compress ? deflate_raw(data) : data;
    const uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(data.data()), data.size()));
    const uint32_t offset = static_cast<uint32_t>(out.size());
    auto header = [&](std::string& s, bool is_central) {
      put32(s, is_central ? 0x02014b50 : 0x04034b50);
      if (is_central) put16(s, 20);
      put16(s, 20);
      put16(s, 0);
      put16(s, compress ? 8 : 0);
      put16(s, 0);
      put16(s, 0x21);
      put32(s, crc);
      put32(s, static_cast<uint32_t>(stored.size()));
      put32(s, static_cast<uint32_t>(data.size()));
      put16(s, static_cast<uint32_t>(name.size()));
      put16(s, 0);
      if (is_central) {
        put16(s, 0);
        put16(s, 0);
        put16(s, 0);
        put32(s, 0);
        put32(s, offset);
      }
      s += name;
    };
    header(out, false);
    out += stored;
    header(central, true);
  }
  const uint32_t cd_offset = static_cast<uint32_t>(out.size());
  out += central;
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<uint32_t>(members.size()));
  put16(out, static_cast<uint32_t>(members.size()));
  put32(out, static_cast<uint32_t>(central.size()));
  put32(out, cd_offset);
  put16(out, 0);
  return out;
}

class NpzTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pare_npz_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& bytes) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  // Expects `f` to throw pare::Error whose message holds every needle.
  template <class F>
  void expect_error(F f, std::vector<std::string> needles) {
    try {
      f();
      ADD_FAILURE() << "no error; expected one mentioning " << needles[0];
    } catch (const Error& e) {
      for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
    }
  }
  fs::path dir_;
};

const at::Tensor kInputs = at::arange(24, at::kFloat).reshape({4, 2, 3}) * 0.5f;
const at::Tensor kLabels = at::tensor({2, 0, 1, 2}, at::kLong);

TEST_F(NpzTest, ReadsStoredAndDeflatedMembers) {
  for (bool compress : {false, true}) {
    const std::string bytes =
        make_zip({{"inputs.npy", npy_to_bytes(kInputs)}, {"labels.npy", npy_to_bytes(kLabels)}}, compress);
    NpzArchive a = NpzArchive::from_bytes(bytes, "mem.npz");
    EXPECT_EQ(a.names(), (std::vector<std::string>{"inputs", "labels"}));
    EXPECT_TRUE(at::equal(a.array("inputs"), kInputs));
    EXPECT_TRUE(at::equal(a.array("labels"), kLabels));
    auto all = npz_from_bytes(bytes, "mem.npz");
    EXPECT_EQ(all.size(), 2u);
  }
}

TEST_F(NpzTest, LoadsDatasetWithXYNamesAndConvertsTypes) {
  const at::Tensor bytes_in = at::arange(12, at::kByte).reshape({3, 4});
  const std::string p = write(
      "xy.npz",
      make_zip({{"x.npy", npy_to_bytes(bytes_in)}, {"y.npy", npy_to_bytes(at::tensor({0, 4, 1}, at::kInt))}}, true));
  data::Dataset d = data::load_dataset(data::DatasetSpec::parse("npz:" + p));
  EXPECT_EQ(d.inputs.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(d.inputs, bytes_in.to(at::kFloat)));  // values kept, not / 255
  EXPECT_EQ(d.labels.scalar_type(), at::kLong);
  EXPECT_TRUE(at::equal(d.labels, at::tensor({0, 4, 1}, at::kLong)));
  EXPECT_EQ(d.num_classes, 5);
  // Unlabeled, and a seeded subset through the spec tail.
  const std::string q = write("unlabeled.npz", make_zip({{"inputs.npy", npy_to_bytes(kInputs)}}, false));
  data::Dataset u = data::load_dataset(data::DatasetSpec::parse("npz:" + q + ":2:5"));
  EXPECT_EQ(u.size(), 2);
  EXPECT_FALSE(u.labels.defined());
}

TEST_F(NpzTest, ReadsWhatNumpyWrites) {
  if (!fs::exists("/usr/bin/python3") || std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  const std::string script = write("make.py",
                                   "import numpy as np, sys\n"
                                   "x = (np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2 * 3, 4, 5) / 7)\n"
                                   "y = np.array([5, 0, 1, 2, 3, 4], dtype=np.int64)\n"
                                   "np.savez(sys.argv[1] + '/plain.npz', inputs=x, labels=y)\n"
                                   "np.savez_compressed(sys.argv[1] + '/packed.npz', inputs=x, labels=y.astype("
                                   "np.int32), extra=np.zeros(3))\n"
                                   "np.savez(sys.argv[1] + '/u8.npz', x=np.arange(6, dtype=np.uint8).reshape(2, 3))\n");
  ASSERT_EQ(std::system(("/usr/bin/python3 " + script + " " + dir_.string()).c_str()), 0);
  const at::Tensor want = at::arange(120, at::kFloat).reshape({6, 4, 5}) / 7;
  for (const char* name : {"plain.npz", "packed.npz"}) {
    data::Dataset d = data::load_dataset(data::DatasetSpec::parse("npz:" + (dir_ / name).string()));
    EXPECT_TRUE(at::allclose(d.inputs, want)) << name;
    EXPECT_TRUE(at::equal(d.labels, at::tensor({5, 0, 1, 2, 3, 4}, at::kLong))) << name;
    EXPECT_EQ(d.num_classes, 6);
  }
  EXPECT_EQ(load_npz((dir_ / "packed.npz").string()).size(), 3u);
  data::Dataset u = data::load_dataset(data::DatasetSpec::parse("npz:" + (dir_ / "u8.npz").string()));
  EXPECT_TRUE(at::equal(u.inputs, at::arange(6, at::kFloat).reshape({2, 3})));
}

TEST_F(NpzTest, DatasetErrorsNameTheFileAndMember) {
  auto load = [](const std::string& p) { return data::load_dataset(data::DatasetSpec::parse("npz:" + p)); };
  const std::string missing = (dir_ / "nope.npz").string();
  expect_error([&] { load(missing); }, {"nope.npz", "does not exist"});
  const std::string no_inputs = write("no_inputs.npz", make_zip({{"labels.npy", npy_to_bytes(kLabels)}}, false));
  expect_error([&] { load(no_inputs); }, {"no_inputs.npz", "no array 'inputs' (or 'x')", "got:      arrays labels"});
  const std::string short_labels = write(
      "short.npz",
      make_zip({{"inputs.npy", npy_to_bytes(kInputs)}, {"labels.npy", npy_to_bytes(at::tensor({1, 2}, at::kLong))}},
               false));
  expect_error([&] { load(short_labels); },
               {"short.npz, member 'labels.npy'", "expected: integer labels of shape [4]", "got:      int64[2]"});
  const std::string float_labels = write(
      "float.npz",
      make_zip({{"inputs.npy", npy_to_bytes(kInputs)}, {"labels.npy", npy_to_bytes(at::ones({4}, at::kFloat))}}, true));
  expect_error([&] { load(float_labels); }, {"float.npz, member 'labels.npy'", "integer labels", "got:      float"});
  const std::string negative =
      write("neg.npz", make_zip({{"inputs.npy", npy_to_bytes(kInputs)},
                                 {"labels.npy", npy_to_bytes(at::tensor({1, -1, 0, 0}, at::kLong))}},
                                false));
  expect_error([&] { load(negative); }, {"neg.npz", "negative label"});
  const std::string bad_member = write("bad_member.npz", make_zip({{"inputs.npy", "not an npy file"}}, false));
  expect_error([&] { load(bad_member); }, {"bad_member.npz, member 'inputs.npy'", "bad magic"});
  expect_error([&] { load(dir_.string()); }, {"expected an NPZ file but got a folder"});
}

TEST_F(NpzTest, RejectsDamagedArchives) {
  const std::string good =
      make_zip({{"inputs.npy", npy_to_bytes(kInputs)}, {"labels.npy", npy_to_bytes(kLabels)}}, false);
  const std::string packed =
      make_zip({{"inputs.npy", npy_to_bytes(kInputs)}, {"labels.npy", npy_to_bytes(kLabels)}}, true);
  auto open = [](const std::string& bytes) {
    NpzArchive a = NpzArchive::from_bytes(bytes, "t.npz");
    for (const auto& n : a.names()) a.array(n);
  };
  expect_error([&] { open(""); }, {"t.npz", "NPZ file is empty"});
  expect_error([&] { open(npy_to_bytes(kInputs)); }, {"t.npz", "not an NPZ file", "expected: a zip archive"});
  // Every cut of the file is refused (the end record is gone, or the directory points past the end).
  for (const std::string* archive : {&good, &packed})
    for (size_t keep = 0; keep < archive->size(); keep += 5) {
      SCOPED_TRACE("first " + std::to_string(keep) + " bytes");
      expect_error([&] { open(archive->substr(0, keep)); }, {"t.npz"});
    }
  expect_error([&] { open(good.substr(0, good.size() - 3)); }, {"truncated or damaged", "end-of-central-directory"});
  // A flipped data byte: caught by the CRC (stored) or by inflate / the CRC (deflate).
  std::string flipped = good;
  flipped[200] ^= 0x55;
  expect_error([&] { open(flipped); }, {"t.npz, member 'inputs.npy'", "CRC-32 mismatch"});
  std::string flipped_packed = packed;
  flipped_packed[60] ^= 0x55;
  expect_error([&] { open(flipped_packed); }, {"t.npz, member 'inputs.npy'"});
  // Central directory fields that point outside the file.
  const size_t cd = good.rfind(std::string("PK\x01\x02", 4));
  std::string bad_offset = good;
  bad_offset[good.find(std::string("PK\x01\x02", 4)) + 42] = '\x7f';
  expect_error([&] { open(bad_offset); }, {"member 'inputs.npy'", "local header"});
  std::string huge_size = good;
  for (int i = 0; i < 4; ++i) huge_size[cd + 20 + i] = huge_size[cd + 24 + i] = '\x10';
  expect_error([&] { open(huge_size); }, {"member 'labels.npy'", "run past"});
  std::string zip64 = good;
  for (int i = 0; i < 4; ++i) zip64[cd + 20 + i] = '\xff';
  expect_error([&] { open(zip64); }, {"zip64", "not supported"});
  std::string method = good;
  method[cd + 10] = 12;  // bzip2
  expect_error([&] { open(method); }, {"unsupported compression method", "got:      method 12"});
  // A deflate member whose listed size is far beyond what its bytes can inflate to.
  const size_t pcd = packed.rfind(std::string("PK\x01\x02", 4));
  std::string bomb = packed;
  bomb[pcd + 27] = '\x7f';
  expect_error([&] { open(bomb); }, {"cannot inflate"});
  EXPECT_THROW(NpzArchive::from_bytes(good, "t.npz").array("weights"), Error);
}

TEST(DatasetSpecNpz, ParsesNpzAndFolderKinds) {
  data::DatasetSpec a = data::DatasetSpec::parse("npz:/data/cal.npz:64:3");
  EXPECT_EQ(a.kind, "npz");
  EXPECT_EQ(a.arg, "/data/cal.npz");
  EXPECT_EQ(*a.count, 64);
  EXPECT_EQ(a.seed, 3u);
  data::DatasetSpec b = data::DatasetSpec::parse("folder:/data/imagenet/val");
  EXPECT_EQ(b.kind, "folder");
  EXPECT_EQ(b.arg, "/data/imagenet/val");
  EXPECT_FALSE(b.count);
  for (const char* bad : {"npz:", "folder:", "npz:", "folder::5"}) EXPECT_THROW(data::DatasetSpec::parse(bad), Error);
  try {
    data::DatasetSpec::parse("imagenet:val");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("npz:FILE.npz, folder:DIR"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace pare::io
