// IDX reader: real Fashion-MNIST files (Debian dataset-fashion-mnist), hand-made files of other
// types, and clear errors for malformed ones.
#include "pare/data/idx.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "pare/error.h"

namespace pare::data {
namespace {

const char* kFmnist = "/usr/share/datasets/fashion-mnist";

TEST(Idx, ReadsFashionMnistTestSplit) {
  const std::string images = std::string(kFmnist) + "/t10k-images-idx3-ubyte.gz";
  if (!std::filesystem::exists(images)) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  at::Tensor x = load_idx(images);
  at::Tensor y = load_idx(std::string(kFmnist) + "/t10k-labels-idx1-ubyte.gz");
  EXPECT_EQ(x.sizes(), at::IntArrayRef({10000, 28, 28}));
  EXPECT_EQ(x.scalar_type(), at::kByte);
  EXPECT_EQ(y.sizes(), at::IntArrayRef({10000}));
  EXPECT_EQ(y.max().item<int>(), 9);
  // The test split is balanced: 1000 images per class.
  EXPECT_TRUE(at::equal(at::bincount(y.to(at::kLong)), at::full({10}, 1000, at::kLong)));
  // Images are real pictures: mostly dark background, some bright pixels.
  const double mean = x.to(at::kFloat).mean().item<double>() / 255.0;
  EXPECT_GT(mean, 0.2);
  EXPECT_LT(mean, 0.4);
}

std::string header(uint8_t type, std::vector<uint32_t> dims) {
  std::string h = {0, 0, char(type), char(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) h += char((d >> s) & 0xff);
  return h;
}

TEST(Idx, DecodesBigEndianTypes) {
  std::string f = header(0x0B, {3});
  f += std::string{char(0x01), char(0x02), char(0xff), char(0xfe), 0, 5};
  at::Tensor t = idx_from_bytes(f, "mem");
  EXPECT_EQ(t.scalar_type(), at::kShort);
  EXPECT_EQ(t[0].item<int>(), 0x0102);
  EXPECT_EQ(t[1].item<int>(), -2);
  EXPECT_EQ(t[2].item<int>(), 5);
  std::string g = header(0x0D, {1});
  g += std::string{char(0x3f), char(0x80), 0, 0};  // 1.0f
  EXPECT_EQ(idx_from_bytes(g, "mem").item<float>(), 1.0f);
}

TEST(Idx, RejectsMalformedFiles) {
  EXPECT_THROW(idx_from_bytes("", "f"), Error);
  EXPECT_THROW(idx_from_bytes(header(0x08, {2, 2}) + "abc", "f"), Error);                     // 3 of 4 bytes
  EXPECT_THROW(idx_from_bytes(header(0x07, {1}) + "a", "f"), Error);                          // unknown type
  EXPECT_THROW(idx_from_bytes(std::string{1, 2, 8, 1, 0, 0, 0, 1, 9}, "f"), Error);           // bad magic
  EXPECT_THROW(idx_from_bytes(std::string{char(0x1f), char(0x8b), 8, 0, 1, 2}, "f"), Error);  // broken gzip
  try {
    load_idx("/nonexistent/train-images-idx3-ubyte.gz");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dataset-fashion-mnist"), std::string::npos);
  }
}

}  // namespace
}  // namespace pare::data
