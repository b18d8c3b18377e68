// Shuffled, augmented training batches prepared on a background thread, so the threads that train
// do not wait on gathering and augmenting. Deterministic: the order and augmentation of epoch e
// depend only on (seed, e), so a resumed run sees the same batches as an uninterrupted one.
#pragma once
#include <ATen/ATen.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "pare/data/dataset.h"
#include "pare/train/augment.h"

namespace pare::train {

struct Batch {
  at::Tensor inputs, labels;
};

class BatchLoader {
 public:
  // Batches of exactly `batch_size` (the last partial batch of an epoch is dropped, as BatchNorm
  // statistics of a handful of samples are noise). `prefetch` batches are kept ready.
  BatchLoader(const data::Dataset& data, int64_t batch_size, const AugmentOptions& augment, uint64_t seed,
              int64_t epoch, int prefetch = 3);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  int64_t batches() const { return batches_; }
  // Next batch, or false at the end of the epoch. Rethrows an error from the worker.
  bool next(Batch& out);

  // The permutation used for `epoch` (exposed for tests).
  static at::Tensor epoch_order(int64_t n, uint64_t seed, int64_t epoch);

 private:
  void work();
  const data::Dataset& data_;
  int64_t batch_size_, batches_;
  AugmentOptions augment_;
  uint64_t seed_;
  int64_t epoch_;
  size_t prefetch_;
  at::Tensor order_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> ready_;
  int64_t produced_ = 0, consumed_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
  std::thread worker_;
};

}  // namespace pare::train
