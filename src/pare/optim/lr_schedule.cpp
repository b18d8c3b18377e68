#include "pare/optim/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace pare::optim {

double LrSchedule::at(int64_t step) const {
  if (step < warmup_steps) return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  if (kind == "constant") return base_lr;
  const int64_t span = std::max<int64_t>(1, total_steps - warmup_steps);
  const double t = std::min(1.0, static_cast<double>(step - warmup_steps) / static_cast<double>(span));
  return min_lr + 0.5 * (base_lr - min_lr) * (1 + std::cos(M_PI * t));
}

}  // namespace pare::optim
