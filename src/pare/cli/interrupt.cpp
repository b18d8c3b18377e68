#include "pare/cli/interrupt.h"

#include <atomic>
#include <csignal>
#include <cstdlib>

namespace pare::cli {
namespace {

std::atomic<bool> g_stop{false};
using Handler = void (*)(int);
Handler g_previous = SIG_DFL;

extern "C" void on_sigint(int) {
  if (g_stop.exchange(true)) std::_Exit(130);  // a second Ctrl-C leaves at once
}

}  // namespace

StopOnInterrupt::StopOnInterrupt() { g_previous = std::signal(SIGINT, on_sigint); }
StopOnInterrupt::~StopOnInterrupt() { std::signal(SIGINT, g_previous); }
bool StopOnInterrupt::asked() { return g_stop.load(); }

}  // namespace pare::cli
