// Ctrl-C as a request: while a StopOnInterrupt lives, the first SIGINT only sets a flag that long work polls
// (to checkpoint and stop cleanly); a second one leaves at once with 130. The previous handler comes back when
// it goes out of scope.
#pragma once

namespace pare::cli {

class StopOnInterrupt {
 public:
  StopOnInterrupt();
  ~StopOnInterrupt();
  StopOnInterrupt(const StopOnInterrupt&) = delete;
  StopOnInterrupt& operator=(const StopOnInterrupt&) = delete;
  static bool asked();  // whether Ctrl-C was pressed since the first one was installed
};

}  // namespace pare::cli
