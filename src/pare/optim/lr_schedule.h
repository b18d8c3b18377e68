// Learning-rate schedules by global step: linear warm-up, then cosine decay (or constant).
#pragma once
#include <cstdint>
#include <string>

namespace pare::optim {

struct LrSchedule {
  std::string kind = "cosine";  // "cosine" | "constant"
  double base_lr = 0.1;
  double min_lr = 0;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  // Warm-up rises linearly from base/warmup to base (never 0: the first step must move);
  // cosine then falls from base to min_lr at total_steps.
  double at(int64_t step) const;
};

}  // namespace pare::optim
