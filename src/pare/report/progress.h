// Progress for long work: a redrawn bar with rate and ETA on a terminal, plain lines otherwise (logs, CI).
#pragma once
#include <chrono>
#include <cstdio>
#include <string>

namespace pare::report {

class Progress {
 public:
  // `total` units of work (0: unknown). Draws on stderr unless `quiet`.
  Progress(std::string label, int64_t total, bool quiet = false);
  ~Progress();
  // `done` units so far and a free-form status ("loss 0.41 acc 85.2 %"). Cheap to call every step:
  // the terminal bar redraws at most 5 times a second, plain lines appear every ~10 % or 30 s.
  void update(int64_t done, const std::string& status = "");
  // A line of its own (e.g. an epoch summary) printed above the bar.
  void message(const std::string& line);
  // Final line with the total time; further updates are ignored.
  void finish(const std::string& status = "");

  double elapsed_seconds() const;
  static std::string format_duration(double seconds);  // "1:02:03" or "2:03"

 private:
  void draw(int64_t done, const std::string& status, bool final);
  std::string label_;
  int64_t total_;
  bool quiet_, tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int64_t last_plain_step_ = -1;
};

}  // namespace pare::report
