// The list of op families pare implements, registered in a fixed order (no static-init registration).
#include "pare/ops/op_table.h"

namespace pare::ops {

void register_activation_ops(OpTable& t);
void register_conv_ops(OpTable& t);
void register_elementwise_ops(OpTable& t);
void register_indexing_ops(OpTable& t);
void register_matmul_ops(OpTable& t);
void register_normalization_ops(OpTable& t);
void register_pool_ops(OpTable& t);
void register_quantize_ops(OpTable& t);
void register_reduce_ops(OpTable& t);
void register_shape_ops(OpTable& t);
void register_unary_ops(OpTable& t);

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
}

}  // namespace pare::ops
