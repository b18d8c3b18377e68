#include "pare/quant/methods/all_methods.h"

#include "pare/quant/methods/awq.h"
#include "pare/quant/methods/gptq.h"

namespace pare::quant {

std::vector<Method> all_methods() {
  return {rtn_method(),    dfq_method(),         rex_method(),         powerquant_method(), tquant_method(),
          mquant_method(), ternary_rtn_method(), gptq_method(),        awq_method(),        adaround_method(),
          brecq_method(),  qdrop_method(),       reconstruct_method(), nupes_method()};
}

}  // namespace pare::quant
