// Each built-in method's registry entry, defined in its own file under quant/methods/. all_methods() lists
// them in the order `pare quantize --list-methods` shows them (method_registry.h builds the table once).
#pragma once
#include <vector>

#include "pare/quant/method.h"

namespace pare::quant {

Method rtn_method();          // rtn.cpp
Method dfq_method();          // dfq_method.cpp
Method rex_method();          // rex.cpp (with PIPE ensembles)
Method powerquant_method();   // powerquant.cpp
Method tquant_method();       // ternary.cpp
Method mquant_method();       // ternary.cpp
Method ternary_rtn_method();  // ternary.cpp
Method gptq_method();         // gptq.cpp
Method adaround_method();     // reconstruct.cpp
Method brecq_method();        // reconstruct.cpp
Method qdrop_method();        // reconstruct.cpp
Method reconstruct_method();  // reconstruct.cpp
Method nupes_method();        // reconstruct.cpp

std::vector<Method> all_methods();

}  // namespace pare::quant
