// Image folders: PNG and JPEG fixtures written here with libpng / libjpeg, decoded values, labels, the
// transforms (channels, resize, center crop, normalize) and the errors for broken folders and images.
#include "pare/data/image_folder.h"

#include <gtest/gtest.h>
#include <jpeglib.h>
#include <png.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "pare/data/image_decode.h"
#include "pare/error.h"

namespace pare::data {
namespace {
namespace fs = std::filesystem;

// [H, W, C] uint8 (C = 1 or 3) as PNG bytes.
std::string encode_png(const at::Tensor& hwc) {
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(hwc.size(1));
  image.height = static_cast<png_uint_32>(hwc.size(0));
  image.format = hwc.size(2) == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  const at::Tensor c = hwc.contiguous();
  png_alloc_size_t size = 0;
  EXPECT_TRUE(png_image_write_to_memory(&image, nullptr, &size, 0, c.data_ptr(), 0, nullptr));
  std::string out(size, '\0');
  EXPECT_TRUE(png_image_write_to_memory(&image, out.data(), &size, 0, c.data_ptr(), 0, nullptr)) << image.message;
  out.resize(size);
  return out;
}

std::string encode_jpeg(const at::Tensor& hwc, int quality = 95) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buf, &size);
  cinfo.image_width = static_cast<JDIMENSION>(hwc.size(1));
  cinfo.image_height = static_cast<JDIMENSION>(hwc.size(0));
  cinfo.input_components = static_cast<int>(hwc.size(2));
  cinfo.in_color_space = hwc.size(2) == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  const at::Tensor c = hwc.contiguous();
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = c.data_ptr<uint8_t>() + static_cast<int64_t>(cinfo.next_scanline) * hwc.size(1) * hwc.size(2);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  std::string out(reinterpret_cast<char*>(buf), size);
  jpeg_destroy_compress(&cinfo);
  std::free(buf);
  return out;
}

// R = 10 x, G = 20 y, B = 7: a known gradient.
at::Tensor gradient(int64_t h, int64_t w) {
  at::Tensor img = at::empty({h, w, 3}, at::kByte);
  auto a = img.accessor<uint8_t, 3>();
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      a[y][x][0] = static_cast<uint8_t>(10 * x);
      a[y][x][1] = static_cast<uint8_t>(20 * y);
      a[y][x][2] = 7;
    }
  return img;
}

class ImageFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pare_imgf_" + std::to_string(::getpid()) + "_" +
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

TEST_F(ImageFolderTest, DecodesPngExactlyAndLabelsBySortedClass) {
  const at::Tensor img = gradient(6, 8);
  write("zebra/b.png", encode_png(img));
  write("zebra/a.png", encode_png(img.flip(0)));
  write("ant/only.PNG", encode_png(img.flip(1)));
  write("ant/notes.txt", "not an image");
  write("README", "ignored");
  write(".hidden/x.png", "ignored");
  Dataset d = load_dataset(DatasetSpec::parse("folder:" + dir_.string()));
  ASSERT_EQ(d.inputs.sizes(), at::IntArrayRef({3, 3, 6, 8}));
  EXPECT_EQ(d.num_classes, 2);
  EXPECT_TRUE(at::equal(d.labels, at::tensor({0, 1, 1}, at::kLong)));
  auto chw = [](const at::Tensor& hwc) { return hwc.permute({2, 0, 1}).to(at::kFloat) / 255.0f; };
  EXPECT_TRUE(at::allclose(d.inputs[0], chw(img.flip(1))));  // ant/only.PNG
  EXPECT_TRUE(at::allclose(d.inputs[1], chw(img.flip(0))));  // zebra/a.png before zebra/b.png
  EXPECT_TRUE(at::allclose(d.inputs[2], chw(img)));
  ImageFolderIndex index = index_image_folder(dir_.string());
  EXPECT_EQ(index.classes, (std::vector<std::string>{"ant", "zebra"}));
  EXPECT_EQ(index.files.size(), 3u);
}

TEST_F(ImageFolderTest, ChannelsGrayAndRgb) {
  const at::Tensor img = gradient(4, 4);
  const at::Tensor gray = at::arange(16, at::kByte).reshape({4, 4, 1}) * 9;
  write("c/rgb.png", encode_png(img));
  write("c/zgray.png", encode_png(gray));
  // channels 0: mixed folder -> 3, the gray image repeated.
  Dataset keep = load_image_folder(dir_.string());
  ASSERT_EQ(keep.inputs.sizes(), at::IntArrayRef({2, 3, 4, 4}));
  const at::Tensor g = gray.squeeze(2).to(at::kFloat) / 255.0f;
  for (int c = 0; c < 3; ++c) EXPECT_TRUE(at::allclose(keep.inputs[1][c], g));
  // channels 1: luma of the RGB image, the gray one as it is.
  ImageTransform t;
  t.channels = 1;
  Dataset one = load_image_folder(dir_.string(), t);
  ASSERT_EQ(one.inputs.sizes(), at::IntArrayRef({2, 1, 4, 4}));
  const at::Tensor f = img.to(at::kFloat);
  const at::Tensor luma = (f.select(2, 0) * 0.299f + f.select(2, 1) * 0.587f + f.select(2, 2) * 0.114f) / 255.0f;
  EXPECT_TRUE(at::allclose(one.inputs[0][0], luma, 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(one.inputs[1][0], g));
  // All gray and channels 0: one channel.
  fs::remove(dir_ / "c/rgb.png");
  EXPECT_EQ(load_image_folder(dir_.string()).inputs.size(1), 1);
}

TEST_F(ImageFolderTest, CenterCropAndResizeOfAKnownGradient) {
  const at::Tensor img = gradient(6, 8);
  const std::string p = write("c/g.png", encode_png(img));
  // Crop 4 x 4 with the shorter side already 6: rows 1..4, columns 2..5.
  ImageTransform crop;
  crop.height = crop.width = 4;
  crop.resize_shorter = 6;
  at::Tensor x = transform_image(decode_image(p), crop, p);
  ASSERT_EQ(x.sizes(), at::IntArrayRef({3, 4, 4}));
  for (int64_t y = 0; y < 4; ++y)
    for (int64_t c = 0; c < 4; ++c) {
      EXPECT_FLOAT_EQ(x[0][y][c].item<float>(), 10.0f * (c + 2) / 255.0f);
      EXPECT_FLOAT_EQ(x[1][y][c].item<float>(), 20.0f * (y + 1) / 255.0f);
    }
  // Halving (shorter side 6 -> 3, longer 8 -> 4): bilinear with half-pixel centers averages 2 x 2 blocks of a
  // linear ramp: R = 10 (2j + 0.5), G = 20 (2i + 0.5).
  ImageTransform half;
  half.resize_shorter = 3;
  at::Tensor h = transform_image(decode_image(p), half, p);
  ASSERT_EQ(h.sizes(), at::IntArrayRef({3, 3, 4}));
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      EXPECT_NEAR(h[0][i][j].item<float>() * 255.0f, 10.0f * (2 * j + 0.5f), 1e-3);
      EXPECT_NEAR(h[1][i][j].item<float>() * 255.0f, 20.0f * (2 * i + 0.5f), 1e-3);
      EXPECT_NEAR(h[2][i][j].item<float>() * 255.0f, 7.0f, 1e-3);
    }
  // Default protocol: crop 4 -> shorter side round(4 / 0.875) = 5 first (6 x 8 -> 5 x 6), then the center 4 x 4.
  ImageTransform def;
  def.height = def.width = 4;
  at::Tensor dflt = transform_image(decode_image(p), def, p);
  ASSERT_EQ(dflt.sizes(), at::IntArrayRef({3, 4, 4}));
  ImageTransform manual;
  manual.resize_shorter = 5;
  at::Tensor resized = transform_image(decode_image(p), manual, p);
  ASSERT_EQ(resized.sizes(), at::IntArrayRef({3, 5, 6}));
  EXPECT_TRUE(at::allclose(dflt, resized.narrow(1, 0, 4).narrow(2, 1, 4)));  // round(0.5) = 0, round(1) = 1
  // Only a height: a square crop.
  ImageTransform tall;
  tall.height = 2;
  tall.resize_shorter = 6;
  EXPECT_EQ(transform_image(decode_image(p), tall, p).sizes(), at::IntArrayRef({3, 2, 2}));
}

TEST_F(ImageFolderTest, NormalizesPerChannel) {
  write("a/x.png", encode_png(gradient(2, 2)));
  ImageTransform t;
  t.mean = {0.5f, 0.25f, 0.0f};
  t.std = {0.5f, 0.25f, 2.0f};
  Dataset d = load_image_folder(dir_.string(), t);
  const at::Tensor raw = gradient(2, 2).permute({2, 0, 1}).to(at::kFloat) / 255.0f;
  const at::Tensor want =
      (raw - at::tensor({0.5f, 0.25f, 0.0f}).reshape({3, 1, 1})) / at::tensor({0.5f, 0.25f, 2.0f}).reshape({3, 1, 1});
  EXPECT_TRUE(at::allclose(d.inputs[0], want));
  t.mean = {0.5f, 0.5f};
  t.std = {1.0f, 1.0f};
  expect_error([&] { load_image_folder(dir_.string(), t); }, {"mean/std"});
  t.mean = {0.5f};
  t.std = {0.0f};
  expect_error([&] { load_image_folder(dir_.string(), t); }, {"std must be positive"});
}

TEST_F(ImageFolderTest, DecodesJpegColorAndGray) {
  at::Tensor flat = at::empty({16, 24, 3}, at::kByte);
  flat.select(2, 0).fill_(200);
  flat.select(2, 1).fill_(100);
  flat.select(2, 2).fill_(30);
  write("a/x.jpg", encode_jpeg(flat));
  write("a/y.jpeg", encode_jpeg(flat));
  write("b/z.JPEG", encode_jpeg(flat));
  Dataset d = load_image_folder(dir_.string());
  ASSERT_EQ(d.inputs.sizes(), at::IntArrayRef({3, 3, 16, 24}));
  const at::Tensor want = at::tensor({200.0f, 100.0f, 30.0f}).reshape({3, 1, 1}) / 255.0f;
  EXPECT_LT((d.inputs - want).abs().max().item<float>(), 4.0f / 255.0f);  // JPEG is lossy
  EXPECT_TRUE(at::equal(d.labels, at::tensor({0, 0, 1}, at::kLong)));
  const at::Tensor ramp = at::arange(64, at::kByte).reshape({8, 8, 1}) * 4;
  const at::Tensor g = decode_image_bytes(encode_jpeg(ramp, 100), "ramp.jpg");
  ASSERT_EQ(g.sizes(), at::IntArrayRef({8, 8, 1}));
  EXPECT_LT((g.to(at::kInt) - ramp.to(at::kInt)).abs().max().item<int>(), 4);
  // A PNG named .jpg is decoded by its magic bytes.
  EXPECT_EQ(decode_image_bytes(encode_png(gradient(3, 5)), "png.jpg").sizes(), at::IntArrayRef({3, 5, 3}));
}

TEST_F(ImageFolderTest, FolderErrorsNameThePath) {
  expect_error([&] { load_image_folder((dir_ / "nope").string()); }, {"nope", "image folder does not exist"});
  expect_error([&] { load_image_folder(dir_.string()); }, {dir_.string(), "no class subfolders", "an empty folder"});
  write("loose.png", encode_png(gradient(2, 2)));
  expect_error([&] { load_image_folder(dir_.string()); }, {"no class subfolders", "1 images directly"});
  expect_error([&] { load_image_folder((dir_ / "loose.png").string()); }, {"loose.png", "got a file"});
  write("cat/a.png", encode_png(gradient(2, 2)));
  write("dog/readme.txt", "no images here");
  expect_error([&] { load_image_folder(dir_.string()); }, {"dog", "class folder 'dog' holds no images"});
}

TEST_F(ImageFolderTest, BrokenImagesAreErrorsWithoutStderrNoise) {
  const std::string png = encode_png(gradient(16, 16)), jpg = encode_jpeg(gradient(16, 16));
  struct Case {
    std::string name, bytes, needle;
  };
  std::string bad_crc = png;
  bad_crc[png.find("IDAT") + 8] ^= 0x20;  // inside the compressed image data
  const std::vector<Case> cases = {
      {"truncated.png", png.substr(0, png.size() / 2), "cannot decode PNG image"},
      {"bad_crc.png", bad_crc, "cannot decode PNG image"},
      {"header_only.png", png.substr(0, 12), "cannot decode PNG image"},
      {"truncated.jpg", jpg.substr(0, jpg.size() / 2), "cannot decode JPEG image"},
      {"header_only.jpg", jpg.substr(0, 4), "cannot decode JPEG image"},
      {"text.jpg", "this is text", "not a PNG or JPEG image"},
      {"empty.png", "", "image file is empty"},
  };
  for (const Case& c : cases) {
    const std::string p = write("k/" + c.name, c.bytes);
    ::testing::internal::CaptureStderr();
    expect_error([&] { decode_image(p); }, {c.name, c.needle, "hint:"});
    EXPECT_EQ(::testing::internal::GetCapturedStderr(), "") << c.name;
  }
  // In a folder, the first broken image in folder order is the one reported.
  fs::remove_all(dir_ / "k");
  write("k/a.png", png);
  write("k/b.jpg", jpg.substr(0, jpg.size() / 2));
  write("k/c.png", png.substr(0, 20));
  expect_error([&] { load_image_folder(dir_.string()); }, {"b.jpg", "cannot decode JPEG"});
}

TEST_F(ImageFolderTest, SizeMismatchAndTooSmallForTheCrop) {
  write("a/1.png", encode_png(gradient(4, 4)));
  write("a/2.png", encode_png(gradient(4, 5)));
  expect_error([&] { load_image_folder(dir_.string()); }, {"2.png", "images have different sizes", "got:      5 x 4"});
  ImageTransform t;
  t.height = t.width = 4;
  EXPECT_EQ(load_image_folder(dir_.string(), t).inputs.sizes(), at::IntArrayRef({2, 3, 4, 4}));
  t.height = t.width = 8;
  t.resize_shorter = 4;
  expect_error([&] { load_image_folder(dir_.string(), t); }, {"1.png", "smaller than the crop"});
  ImageTransform bad;
  bad.channels = 2;
  expect_error([&] { load_image_folder(dir_.string(), bad); }, {"channels must be 1"});
}

}  // namespace
}  // namespace pare::data
