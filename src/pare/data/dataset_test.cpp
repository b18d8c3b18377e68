// Dataset specs: the grammar, seeded subsets, Fashion-MNIST and NPY folders.
#include "pare/data/dataset.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "pare/error.h"
#include "pare/io/npy.h"

namespace pare::data {
namespace {
namespace fs = std::filesystem;

TEST(DatasetSpec, ParsesKindsCountsAndSeeds) {
  DatasetSpec a = DatasetSpec::parse("fmnist:train");
  EXPECT_EQ(a.kind, "fmnist");
  EXPECT_EQ(a.arg, "train");
  EXPECT_FALSE(a.count);
  DatasetSpec b = DatasetSpec::parse("fmnist:test:512:7");
  EXPECT_EQ(*b.count, 512);
  EXPECT_EQ(b.seed, 7u);
  DatasetSpec c = DatasetSpec::parse("npy:/data/calib:v2:64");
  EXPECT_EQ(c.arg, "/data/calib:v2");
  EXPECT_EQ(*c.count, 64);
  for (const char* bad : {"fmnist", "fmnist:val", "imagenet:train", "npy:", "fmnist:train:0", ":x"})
    EXPECT_THROW(DatasetSpec::parse(bad), Error) << bad;
}

TEST(Dataset, RandomSubsetIsSeeded) {
  Dataset d;
  d.inputs = at::arange(100, at::kFloat).reshape({100, 1});
  d.labels = at::arange(100, at::kLong);
  Dataset a = random_subset(d, 10, 1), b = random_subset(d, 10, 1), c = random_subset(d, 10, 2);
  EXPECT_TRUE(at::equal(a.labels, b.labels));
  EXPECT_FALSE(at::equal(a.labels, c.labels));
  EXPECT_TRUE(at::equal(a.inputs.squeeze(1).to(at::kLong), a.labels));  // pairs stay together
  EXPECT_EQ(std::get<0>(at::_unique(a.labels)).numel(), 10);            // without replacement
}

TEST(Dataset, LoadsFashionMnistSubset) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  Dataset d = load_dataset(DatasetSpec::parse("fmnist:test:256:3"));
  EXPECT_EQ(d.inputs.sizes(), at::IntArrayRef({256, 1, 28, 28}));
  EXPECT_LE(d.inputs.max().item<float>(), 1.0f);
  EXPECT_GE(d.inputs.min().item<float>(), 0.0f);
  EXPECT_EQ(d.num_classes, 10);
  EXPECT_GE(std::get<0>(at::_unique(d.labels)).numel(), 9);  // a random 256 covers (nearly) every class
}

TEST(Dataset, LoadsNpyFolderAndChecksLabels) {
  const fs::path dir = fs::temp_directory_path() / ("pare_ds_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  io::save_npy(at::rand({6, 3}), (dir / "inputs.npy").string());
  io::save_npy(at::tensor({0, 1, 2, 1, 0, 4}, at::kLong), (dir / "labels.npy").string());
  Dataset d = load_dataset(DatasetSpec::parse("npy:" + dir.string()));
  EXPECT_EQ(d.size(), 6);
  EXPECT_EQ(d.num_classes, 5);
  io::save_npy(at::tensor({0, 1}, at::kLong), (dir / "labels.npy").string());
  EXPECT_THROW(load_dataset(DatasetSpec::parse("npy:" + dir.string())), Error);
  fs::remove_all(dir);
  EXPECT_THROW(load_dataset(DatasetSpec::parse("npy:" + dir.string())), Error);
}

}  // namespace
}  // namespace pare::data
