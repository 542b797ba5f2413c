#include "audit/tree_coords.h"

namespace escrowless::audit {

// Built with append rather than a chain of operator+: GCC 12 at -O3 reports a false -Wrestrict
// on such chains (GCC bug 105651), which -Werror turns into a build failure.
std::string to_string(const LeafRange& range) {
  std::string out = "[";
  out += std::to_string(range.begin);
  out += ", ";
  out += std::to_string(range.end);
  out += ")";
  return out;
}

std::string to_string(const NodeId& node) {
  std::string out = "level ";
  out += std::to_string(node.level);
  out += " index ";
  out += std::to_string(node.index);
  return out;
}

}  // namespace escrowless::audit
