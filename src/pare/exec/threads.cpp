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
  // One thread by default (see docs/training.md, "Threads"); PARE_BLAS_THREADS=N for GEMM-bound work such as
  // LLM training, where OpenBLAS on every core and libtorch's pool on one is faster.
  const char* blas = std::getenv("PARE_BLAS_THREADS");
  const int blas_threads = blas ? std::max(1, std::atoi(blas)) : 1;
  if (auto set_blas = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set_blas(blas_threads);
  return at::get_num_threads();
}

}  // namespace pare::exec
