// Size-class caching allocator behind c10::SetCPUAllocator. Size classes: multiples of 64 bytes up to
// 4 KiB, then 8 classes per power of two (at most 12.5 % waste), so that repeated runs of one model
// hit the same classes.
#include "pare/exec/caching_allocator.h"

#include <c10/core/CPUAllocator.h>

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace pare::exec {
namespace {

size_t size_class(size_t n) {
  if (n <= 4096) return (n + 63) / 64 * 64;
  size_t top = size_t{1} << (63 - __builtin_clzll(n));  // highest power of two <= n
  size_t step = top / 8;
  return (n + step - 1) / step * step;
}

class CachingCpuAllocator final : public c10::Allocator {
 public:
  explicit CachingCpuAllocator(size_t max_cached) : max_cached_(max_cached) {}

  c10::DataPtr allocate(size_t n) const override {
    void* p = const_cast<CachingCpuAllocator*>(this)->take(n);
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  static void release(void* p) {
    if (p) instance_->give_back(p);
  }
  size_t cached() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }

  static CachingCpuAllocator* instance_;

 private:
  void* take(size_t n) {
    const size_t cls = size_class(std::max<size_t>(n, 1));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(cls);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= cls;
        return p;
      }
    }
    void* p = nullptr;
    if (posix_memalign(&p, 64, cls) != 0 || !p) throw std::bad_alloc();
    std::lock_guard<std::mutex> lock(mutex_);
    size_of_[p] = cls;
    return p;
  }

  void give_back(void* p) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = size_of_.find(p);
    if (it == size_of_.end()) return;  // not ours (cannot happen: raw_deleter pairs with allocate)
    const size_t cls = it->second;
    if (cached_ + cls > max_cached_) {
      size_of_.erase(it);
      std::free(p);
      return;
    }
    free_[cls].push_back(p);
    cached_ += cls;
  }

  const size_t max_cached_;
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  std::unordered_map<void*, size_t> size_of_;
  size_t cached_ = 0;
};

CachingCpuAllocator* CachingCpuAllocator::instance_ = nullptr;

}  // namespace

void install_caching_cpu_allocator(size_t max_cached_bytes) {
  static std::once_flag once;
  std::call_once(once, [&] {
    // Never destroyed: tensors may be freed during static destruction at exit.
    CachingCpuAllocator::instance_ = new CachingCpuAllocator(max_cached_bytes);
    c10::SetCPUAllocator(CachingCpuAllocator::instance_, /*priority=*/10);
  });
}

size_t cached_cpu_bytes() { return CachingCpuAllocator::instance_ ? CachingCpuAllocator::instance_->cached() : 0; }

}  // namespace pare::exec
