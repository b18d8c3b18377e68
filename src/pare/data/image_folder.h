// Image-folder datasets in the ImageNet layout: DIR/<class>/<image>.png|.jpg|.jpeg. Classes are the sorted
// names of DIR's subfolders (label = index), images are sorted by file name within a class; other files and
// names starting with '.' are skipped, subfolders of class folders are not searched. Images are decoded on
// libtorch's intra-op threads and transformed as ImageTransform (dataset.h) describes.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "pare/data/dataset.h"

namespace pare::data {

struct ImageFolderIndex {
  std::vector<std::string> classes;  // sorted subfolder names
  std::vector<std::string> files;    // image paths, class by class
  std::vector<int64_t> labels;       // class index of each file
};

// Throws Error for a missing folder, a folder without class subfolders, or a class folder without images.
ImageFolderIndex index_image_folder(const std::string& dir);

// One decoded [H, W, C] uint8 image to [C', H', W'] float32 by `t` (without mean/std, which apply to the
// whole set); `context` names the image in errors (e.g. smaller than the crop).
at::Tensor transform_image(const at::Tensor& hwc, const ImageTransform& t, const std::string& context);

Dataset load_image_folder(const std::string& dir, const ImageTransform& t = {});

}  // namespace pare::data
