// The model zoo: C++ builders (on GraphBuilder) for the reference architectures every compression
// method is measured on. All take float N x C x H x W input in [0, 1] named "input" and give "logits";
// input normalization lives inside the graph. Weights are freshly initialized from `seed`.
#pragma once
#include <string>
#include <vector>

#include "pare/ir/graph.h"

namespace pare::ir::zoo {

struct ZooOptions {
  int64_t classes = 10;
  int64_t in_channels = 1;
  int64_t image_size = 28;
  double width = 1.0;  // channel multiplier
  int64_t depth = 0;   // architecture-specific (ResNet: 6n+2 layers; ViT: blocks); 0 = the default
  uint64_t seed = 0;
  std::vector<double> mean{0.2860}, std{0.3530};  // per input channel (Fashion-MNIST statistics)
};

// CIFAR-style ResNet (He et al. 2016, section 4.2): 3 stages of basic blocks, 6n+2 layers (default 20).
Graph resnet(const ZooOptions& o);
// MobileNetV2-style: inverted residual blocks with depthwise 3x3 convs and ReLU6 (Sandler et al. 2018),
// strides adapted to 28x28 inputs.
Graph mobilenet_v2(const ZooOptions& o);
// A small VisionTransformer: patch embedding, class token, pre-norm blocks, GELU MLP (Dosovitskiy et al. 2021).
Graph vit(const ZooOptions& o);

// Names accepted by build(): "resnet20" (and "resnetN" for N = 6n+2), "mobilenetv2", "vit".
std::vector<std::string> zoo_names();
Graph build(const std::string& name, ZooOptions o);

}  // namespace pare::ir::zoo
