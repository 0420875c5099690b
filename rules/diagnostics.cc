#include "rules/diagnostics.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace custodian::rules {

SourceLocation SourceMap::Find(absl::string_view field_path) const {
  absl::string_view path = field_path;
  while (!path.empty()) {
    auto it = locations_.find(path);
    if (it != locations_.end()) return it->second;
    // Strip the last component: "[i]" or ".name".
    size_t cut = path.find_last_of(".[");
    if (cut == absl::string_view::npos) break;
    path = path.substr(0, cut);
  }
  auto root = locations_.find("");
  return root == locations_.end() ? SourceLocation{} : root->second;
}

std::string Diagnostic::ToString() const {
  std::string out = file;
  if (location.known()) {
    absl::StrAppend(&out, ":", location.line, ":", location.column);
  }
  absl::StrAppend(&out, ": ");
  if (!field_path.empty()) absl::StrAppend(&out, field_path, ": ");
  if (severity == Severity::kWarning) absl::StrAppend(&out, "warning: ");
  absl::StrAppend(&out, message);
  return out;
}

void Diagnostic::ToProto(v1::Diagnostic* out) const {
  out->set_severity(severity == Severity::kError ? v1::ERROR : v1::WARNING);
  out->set_file(file);
  out->set_line(location.line);
  out->set_column(location.column);
  out->set_field_path(field_path);
  out->set_message(message);
}

void Diagnostics::Error(absl::string_view field_path, std::string message) {
  SourceLocation loc =
      source_map_ ? source_map_->Find(field_path) : SourceLocation{};
  Add(Diagnostic::Severity::kError, loc, field_path, std::move(message));
}

void Diagnostics::Warning(absl::string_view field_path, std::string message) {
  SourceLocation loc =
      source_map_ ? source_map_->Find(field_path) : SourceLocation{};
  Add(Diagnostic::Severity::kWarning, loc, field_path, std::move(message));
}

void Diagnostics::ErrorAt(SourceLocation location, absl::string_view field_path,
                          std::string message) {
  Add(Diagnostic::Severity::kError, location, field_path, std::move(message));
}

void Diagnostics::Add(Diagnostic::Severity severity, SourceLocation location,
                      absl::string_view field_path, std::string message) {
  if (severity == Diagnostic::Severity::kError) ++error_count_;
  items_.push_back(Diagnostic{severity, file_, location,
                              std::string(field_path), std::move(message)});
}

std::vector<Diagnostic> Diagnostics::Sorted() const {
  std::vector<Diagnostic> out = items_;
  std::stable_sort(out.begin(), out.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     if (a.location.line != b.location.line)
                       return a.location.line < b.location.line;
                     return a.location.column < b.location.column;
                   });
  return out;
}

}  // namespace custodian::rules
