#include "pare/exec/threads.h"

#include <dlfcn.h>

#include <ATen/Parallel.h>
#include <algorithm>
#include <cstdlib>
#include <thread>

namespace pare::exec {

int set_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  // Looked up at run time: libtorch may be built on another BLAS (MKL, reference BLAS), where there is
  // nothing to limit and no symbol to link against.
  using SetThreads = void (*)(int);
  if (auto set_blas = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set_blas(std::getenv("PARE_BLAS_THREADS") ? std::atoi(std::getenv("PARE_BLAS_THREADS")) : 1);
  return at::get_num_threads();
}

}  // namespace pare::exec
