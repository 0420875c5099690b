// Where each field of a loaded file came from: field path -> 1-based line and
// column. Filled by the loaders, read by the validator and analyzer so that
// checks on the proto can still report FILE:LINE:COL.
//
// Not thread-safe for writes; const methods may be called concurrently.
#ifndef CUSTODIAN_RULES_SOURCE_MAP_H_
#define CUSTODIAN_RULES_SOURCE_MAP_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace custodian::rules {

struct SourceLocation {
  int line = 0;    // 1-based; 0 = unknown
  int column = 0;  // 1-based; 0 = unknown
  bool known() const { return line > 0; }
};

class SourceMap {
 public:
  // Records where the node at `field_path` starts. The first record of a
  // path wins.
  void Record(absl::string_view field_path, SourceLocation location) {
    locations_.try_emplace(std::string(field_path), location);
  }
  // The location of `field_path`, or of its nearest recorded ancestor
  // (`a.b[2].c` -> `a.b[2]` -> `a.b` -> `a`); unknown if none is recorded.
  SourceLocation Find(absl::string_view field_path) const;
  bool empty() const { return locations_.empty(); }

 private:
  absl::flat_hash_map<std::string, SourceLocation> locations_;
};

}  // namespace custodian::rules

#endif  // CUSTODIAN_RULES_SOURCE_MAP_H_
