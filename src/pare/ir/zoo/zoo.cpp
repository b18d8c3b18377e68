// Zoo lookup by name.
#include "pare/ir/zoo/zoo.h"

#include "pare/error.h"

namespace pare::ir::zoo {

std::vector<std::string> zoo_names() { return {"resnet20", "mobilenetv2", "vit"}; }

Graph build(const std::string& name, ZooOptions o) {
  if (name.rfind("resnet", 0) == 0 && name.size() > 6 && std::all_of(name.begin() + 6, name.end(), ::isdigit)) {
    if (!o.depth) o.depth = std::stoll(name.substr(6));
    return resnet(o);
  }
  if (name == "mobilenetv2") return mobilenet_v2(o);
  if (name == "vit") return vit(o);
  throw Error("unknown zoo model '" + name + "'").expected("resnet20 (or resnetN, N = 6n+2), mobilenetv2, vit");
}

}  // namespace pare::ir::zoo
