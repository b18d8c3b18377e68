#include "pare/train/batch_loader.h"

#include <cstring>

namespace pare::train {

namespace {
uint64_t mix(uint64_t a, uint64_t b) {  // splitmix64 of a combined key: independent streams per (seed, epoch, batch)
  uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
}  // namespace

at::Tensor BatchLoader::epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(mix(seed, static_cast<uint64_t>(epoch)));
  return at::randperm(n, gen, at::kLong);
}

BatchLoader::BatchLoader(const data::Dataset& data, int64_t batch_size, const AugmentOptions& augment, uint64_t seed,
                         int64_t epoch, int prefetch)
    : data_(data),
      batch_size_(batch_size),
      batches_(data.size() / batch_size),
      augment_(augment),
      seed_(seed),
      epoch_(epoch),
      prefetch_(static_cast<size_t>(std::max(1, prefetch))),
      order_(epoch_order(data.size(), seed, epoch)) {
  worker_ = std::thread([this] { work(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void BatchLoader::work() {
  // Rows are gathered with memcpy and augmented per sample (tensors far below ATen's parallel grain),
  // so this thread never starts an intra-op thread team of its own next to the trainer's.
  try {
    const at::Tensor inputs = data_.inputs.contiguous();
    const int64_t row = inputs.numel() / std::max<int64_t>(1, inputs.size(0));
    const size_t row_bytes = static_cast<size_t>(row) * inputs.element_size();
    std::vector<int64_t> shape = inputs.sizes().vec();
    shape[0] = batch_size_;
    // Labels are [N] (one per sample) or [N, T] (one per position, language models): rows as well.
    const at::Tensor labels = data_.labels.defined() ? data_.labels.to(at::kLong).contiguous() : at::Tensor();
    const int64_t label_row = labels.defined() ? labels.numel() / std::max<int64_t>(1, labels.size(0)) : 0;
    std::vector<int64_t> label_shape = labels.defined() ? labels.sizes().vec() : std::vector<int64_t>{};
    if (labels.defined()) label_shape[0] = batch_size_;
    for (int64_t b = 0; b < batches_; ++b) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || ready_.size() < prefetch_; });
        if (stop_) return;
      }
      const int64_t* idx = order_.data_ptr<int64_t>() + b * batch_size_;
      Batch batch;
      batch.inputs = at::empty(shape, inputs.options());
      auto* dst = static_cast<char*>(batch.inputs.data_ptr());
      const auto* src = static_cast<const char*>(inputs.data_ptr());
      for (int64_t i = 0; i < batch_size_; ++i) std::memcpy(dst + i * row_bytes, src + idx[i] * row_bytes, row_bytes);
      if (labels.defined()) {
        batch.labels = at::empty(label_shape, at::kLong);
        for (int64_t i = 0; i < batch_size_; ++i)
          std::memcpy(batch.labels.data_ptr<int64_t>() + i * label_row, labels.data_ptr<int64_t>() + idx[i] * label_row,
                      static_cast<size_t>(label_row) * sizeof(int64_t));
      }
      batch.inputs = augment_batch(batch.inputs, augment_, mix(mix(seed_, static_cast<uint64_t>(epoch_)), b + 1));
      {
        std::lock_guard<std::mutex> lock(mu_);
        ready_.push_back(std::move(batch));
        ++produced_;
      }
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::current_exception();
  }
  cv_.notify_all();
}

bool BatchLoader::next(Batch& out) {
  std::unique_lock<std::mutex> lock(mu_);
  if (consumed_ >= batches_) return false;
  cv_.wait(lock, [&] { return !ready_.empty() || error_; });
  if (ready_.empty()) std::rethrow_exception(error_);
  out = std::move(ready_.front());
  ready_.pop_front();
  ++consumed_;
  lock.unlock();
  cv_.notify_all();
  return true;
}

}  // namespace pare::train
