// Located errors and warnings about ruleset, roster, test and customer files.
//
// Every diagnostic prints as `FILE:LINE:COL: field.path: message` (warnings
// add "warning: " before the message). Field paths use dots for map keys and
// 0-based [i] for list items: `departments.sales.rules[2].when.region`.
// Diagnostics about input without source text (proto from the wire) have
// line 0 and print as `FILE: field.path: message`.
//
// Not thread-safe; each validation run owns its own Diagnostics.
#ifndef CUSTODIAN_RULES_DIAGNOSTICS_H_
#define CUSTODIAN_RULES_DIAGNOSTICS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "custodian/v1/diagnostic.pb.h"
#include "rules/source_map.h"

namespace custodian::rules {

struct Diagnostic {
  enum class Severity { kError, kWarning };
  Severity severity = Severity::kError;
  std::string file;
  SourceLocation location;  // line 0: no source text
  std::string field_path;
  std::string message;

  // `FILE:LINE:COL: path: message`, with "warning: " before the message of a
  // warning.
  std::string ToString() const;
  void ToProto(v1::Diagnostic* out) const;
};

class Diagnostics {
 public:
  // Diagnostics for `file`; locations are looked up in `source_map`, which
  // must outlive this object (nullptr: no locations).
  Diagnostics(std::string file, const SourceMap* source_map)
      : file_(std::move(file)), source_map_(source_map) {}

  // Records an error / warning at `field_path`, located at the nearest
  // recorded ancestor of the path in the source map.
  void Error(absl::string_view field_path, std::string message);
  void Warning(absl::string_view field_path, std::string message);
  // Records an error at an explicit location (for syntax errors that have no
  // field yet).
  void ErrorAt(SourceLocation location, absl::string_view field_path,
               std::string message);

  bool has_errors() const { return error_count_ > 0; }
  int error_count() const { return error_count_; }
  int warning_count() const {
    return static_cast<int>(items_.size()) - error_count_;
  }
  // Every diagnostic, sorted by location (stable: same location keeps
  // insertion order).
  std::vector<Diagnostic> Sorted() const;
  const std::vector<Diagnostic>& items() const { return items_; }
  const std::string& file() const { return file_; }
  // Replaces the source map used for later diagnostics.
  void set_source_map(const SourceMap* source_map) { source_map_ = source_map; }

 private:
  void Add(Diagnostic::Severity severity, SourceLocation location,
           absl::string_view field_path, std::string message);

  std::string file_;
  const SourceMap* source_map_;
  std::vector<Diagnostic> items_;
  int error_count_ = 0;
};

}  // namespace custodian::rules

#endif  // CUSTODIAN_RULES_DIAGNOSTICS_H_
