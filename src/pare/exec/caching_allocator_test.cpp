// The caching CPU allocator reuses freed buffers of the same size class and keeps tensors correct.
#include "pare/exec/caching_allocator.h"

#include <gtest/gtest.h>

namespace pare::exec {
namespace {

TEST(CachingAllocator, ReusesFreedBuffersAndComputesCorrectly) {
  install_caching_cpu_allocator();
  void* first = nullptr;
  {
    at::Tensor t = at::empty({1 << 20}, at::kFloat);
    first = t.data_ptr();
  }
  EXPECT_GE(cached_cpu_bytes(), size_t{4} << 20);
  at::Tensor again = at::empty({(1 << 20) - 10}, at::kFloat);  // same size class
  EXPECT_EQ(again.data_ptr(), first);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(again.data_ptr()) % 64, 0u);
  at::Tensor a = at::randn({64, 64}), b = at::randn({64, 64});
  at::Tensor c = at::matmul(a, b);
  EXPECT_TRUE(at::allclose(c, at::matmul(a.to(at::kDouble), b.to(at::kDouble)).to(at::kFloat), 1e-4, 1e-4));
}

}  // namespace
}  // namespace pare::exec
