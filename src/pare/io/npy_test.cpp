// .npy round trips for every supported dtype, and clear errors for malformed files.
#include <gtest/gtest.h>

#include "pare/error.h"
#include "pare/io/npy.h"

namespace pare::io {
namespace {

TEST(Npy, RoundTripsAllSupportedTypes) {
  for (auto type : {at::kFloat, at::kHalf, at::kDouble, at::kLong, at::kInt, at::kByte, at::kChar, at::kBool}) {
    at::Tensor t = (at::randn({3, 5}) * 10).to(type);
    at::Tensor back = npy_from_bytes(npy_to_bytes(t), "mem");
    EXPECT_EQ(back.scalar_type(), type);
    EXPECT_TRUE(at::equal(back, t)) << c10::toString(type);
  }
  at::Tensor scalar = at::scalar_tensor(3.5);
  EXPECT_EQ(npy_from_bytes(npy_to_bytes(scalar), "mem").dim(), 0);
  at::Tensor vec = at::arange(4);
  EXPECT_EQ(npy_from_bytes(npy_to_bytes(vec), "mem").sizes(), at::IntArrayRef({4}));
}

TEST(Npy, HeaderIsAlignedAndReadableByNumpyConvention) {
  std::string bytes = npy_to_bytes(at::zeros({2, 3}));
  EXPECT_EQ(bytes.substr(1, 5), "NUMPY");
  const size_t header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  EXPECT_NE(bytes.find("'shape': (2, 3)"), std::string::npos);
}

TEST(Npy, RejectsMalformedFiles) {
  std::string good = npy_to_bytes(at::ones({4}));
  EXPECT_THROW(npy_from_bytes("not numpy at all", "f.npy"), Error);
  EXPECT_THROW(npy_from_bytes(good.substr(0, good.size() - 1), "f.npy"), Error);  // truncated data
  std::string big_endian = good;
  big_endian.replace(big_endian.find("<f4"), 3, ">f4");
  EXPECT_THROW(npy_from_bytes(big_endian, "f.npy"), Error);
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  EXPECT_THROW(npy_from_bytes(fortran, "f.npy"), Error);
  try {
    npy_from_bytes("\x93NUMPY", "f.npy");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.file_path(), "f.npy");
  }
}

}  // namespace
}  // namespace pare::io
