// One place that decides how many cores pare computes on.
//
// libtorch runs element-wise ops and convolutions on its OpenMP pool, but hands matrix products to
// OpenBLAS, which keeps a second pthread pool of its own. With both pools sized to the core count the
// two fight: OpenMP workers spin after each parallel region while OpenBLAS workers yield in a loop.
// Measured on the 2-core machine (fmnist-vit, 2 threads): pare eval 392 -> 609 images/s and training
// 134 -> 216 images/s once OpenBLAS is held to one thread; ResNet-20 and MobileNetV2 (oneDNN
// convolutions, few BLAS calls) are unchanged within noise.
#pragma once

namespace pare::exec {

// Sets libtorch's intra-op thread count (n <= 0: one per hardware thread) and, when the process runs
// on OpenBLAS, limits OpenBLAS to one thread so that the two pools do not oversubscribe the cores.
// Returns the thread count in effect.
int set_threads(int n);

}  // namespace pare::exec
