// Progress bar / plain progress lines.
#include "pare/report/progress.h"

#include <fmt/format.h>
#include <unistd.h>

namespace pare::report {

Progress::Progress(std::string label, int64_t total, bool quiet)
    : label_(std::move(label)),
      total_(total),
      quiet_(quiet),
      tty_(isatty(fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - std::chrono::seconds(10)) {}

Progress::~Progress() {
  // A bar left mid-line (an exception unwound past it) must not swallow the next message.
  if (!quiet_ && tty_ && !finished_) std::fputs("\n", stderr);
}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::format_duration(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  const int64_t t = static_cast<int64_t>(s + 0.5);
  if (t >= 3600) return fmt::format("{}:{:02d}:{:02d}", t / 3600, (t / 60) % 60, t % 60);
  return fmt::format("{}:{:02d}", t / 60, t % 60);
}

void Progress::update(int64_t done, const std::string& status) {
  if (quiet_ || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(200)) return;
  } else {
    // Plain lines: one per tenth of the work, or every 30 s when that is slower.
    const int64_t tenth = total_ > 0 ? std::max<int64_t>(1, total_ / 10) : 0;
    const bool step_due = tenth && done / tenth != last_plain_step_ / tenth;
    if (!step_due && now - last_draw_ < std::chrono::seconds(30)) return;
    last_plain_step_ = done;
  }
  last_draw_ = now;
  draw(done, status, false);
}

void Progress::message(const std::string& line) {
  if (quiet_) return;
  std::fprintf(stderr, tty_ ? "\r\033[K%s\n" : "%s\n", line.c_str());
  std::fflush(stderr);
  last_draw_ = std::chrono::steady_clock::now() - std::chrono::seconds(10);  // redraw the bar next update
}

void Progress::finish(const std::string& status) {
  if (finished_) return;
  if (!quiet_) draw(total_, status, true);
  finished_ = true;
}

void Progress::draw(int64_t done, const std::string& status, bool final) {
  const double el = elapsed_seconds();
  std::string line = label_;
  if (total_ > 0) {
    const double frac = std::min(1.0, static_cast<double>(done) / static_cast<double>(total_));
    if (tty_) {
      const int width = 24, fill = static_cast<int>(frac * width);
      line += " [" + std::string(fill, '#') + std::string(width - fill, '.') + "]";
    }
    line += fmt::format(" {}/{}", done, total_);
    if (final)
      line += " in " + format_duration(el);
    else if (done > 0)
      line += " ETA " + format_duration(el * (1 - frac) / frac);
  } else {
    line += fmt::format(" {} {}", done, format_duration(el));
  }
  if (!status.empty()) line += "  " + status;
  if (tty_)
    std::fprintf(stderr, "\r%s\033[K%s", line.c_str(), final ? "\n" : "");
  else
    std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace pare::report
