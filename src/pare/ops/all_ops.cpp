// The list of op families pare implements, registered in a fixed order (no static-init registration).
#include "pare/ops/op_table.h"

namespace pare::ops {

void register_activation_ops(OpTable& t);
void register_conv_ops(OpTable& t);
void register_elementwise_ops(OpTable& t);
void register_indexing_ops(OpTable& t);
void register_matmul_ops(OpTable& t);
void register_normalization_ops(OpTable& t);
void register_optimizer_ops(OpTable& t);
void register_pool_ops(OpTable& t);
void register_quantize_ops(OpTable& t);
void register_reduce_ops(OpTable& t);
void register_shape_ops(OpTable& t);
void register_unary_ops(OpTable& t);
void register_generate_ops(OpTable& t);
void register_linalg_ops(OpTable& t);
void register_loss_ops(OpTable& t);
void register_qlinear_ops(OpTable& t);
void register_random_ops(OpTable& t);
void register_rearrange_ops(OpTable& t);
void register_resize_ops(OpTable& t);
void register_scatter_ops(OpTable& t);
void register_select_ops(OpTable& t);
void register_sort_ops(OpTable& t);
void register_text_ops(OpTable& t);
void register_detection_ops(OpTable& t);
void register_grid_sample_ops(OpTable& t);
void register_recurrent_ops(OpTable& t);
void register_spectral_ops(OpTable& t);
void register_unpool_ops(OpTable& t);

void register_all_ops(OpTable& t) {
  register_activation_ops(t);
  register_conv_ops(t);
  register_elementwise_ops(t);
  register_indexing_ops(t);
  register_matmul_ops(t);
  register_normalization_ops(t);
  register_pool_ops(t);
  register_quantize_ops(t);
  register_reduce_ops(t);
  register_shape_ops(t);
  register_unary_ops(t);
  register_generate_ops(t);
  register_linalg_ops(t);
  register_loss_ops(t);
  register_qlinear_ops(t);
  register_random_ops(t);
  register_rearrange_ops(t);
  register_resize_ops(t);
  register_scatter_ops(t);
  register_select_ops(t);
  register_sort_ops(t);
  register_detection_ops(t);
  register_grid_sample_ops(t);
  register_recurrent_ops(t);
  register_spectral_ops(t);
  register_unpool_ops(t);
  register_optimizer_ops(t);
  register_text_ops(t);
}

}  // namespace pare::ops
