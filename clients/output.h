// How custodianctl prints: aligned tables for people (`-o table`, the
// default) and one JSON document per command for scripts (`-o json`).
//
// Tables: a header row and data rows, columns left-aligned and separated by
// two spaces, padded by *display* width (CJK and other East Asian wide
// characters count as two columns, so 张伟 lines up under ASCII text). The
// last column is never padded, so no line ends in spaces. Tabs and line
// breaks inside a cell print as one space each.
//
// JSON: the proto's JSON mapping (google::protobuf::util::MessageToJsonString)
// with proto field names (`next_page_token`, not `nextPageToken`), enums by
// name, fields at their default value printed (so scripts see `"valid":
// false` and `"versions": []`), int64 as strings (the proto3 JSON mapping),
// indented by two spaces, followed by one newline.
//
// The Render* functions print the custodian.v1 responses as tables; they are
// the exact human-readable forms documented in docs/custodianctl.md.
//
// Thread-safe: pure functions; Table is a value type.
#ifndef CUSTODIAN_CLIENTS_OUTPUT_H_
#define CUSTODIAN_CLIENTS_OUTPUT_H_

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "custodian/v1/diagnostic.pb.h"
#include "custodian/v1/diff.pb.h"
#include "custodian/v1/roster.pb.h"
#include "custodian/v1/roster_service.pb.h"
#include "custodian/v1/ruleset_service.pb.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"

namespace custodian::clients {

// `-o table` / `-o json`.
enum class OutputFormat { kTable, kJson };

// "table" -> kTable, "json" -> kJson; anything else: nullopt.
std::optional<OutputFormat> ParseOutputFormat(absl::string_view text);

// Columns `text` takes in a terminal: East Asian Wide and Fullwidth code
// points (CJK ideographs, Hangul, kana, fullwidth forms, most emoji) count 2,
// combining marks and zero-width characters 0, everything else 1. Bytes that
// are not valid UTF-8 count 1 each.
int DisplayWidth(absl::string_view text);

// A table of text cells.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);

  // Appends a row. Missing trailing cells print empty; extra cells are
  // dropped.
  void AddRow(std::vector<std::string> cells);

  size_t row_count() const { return rows_.size(); }

  // Writes the header and every row, one line each.
  void Render(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// The JSON document for `message` (see the file comment), with a newline.
// `extra` members (name, string value) are appended to the top-level object
// after the message's own fields; custodianctl uses this only for the
// `request_id` it generated.
std::string ToJson(
    const google::protobuf::Message& message,
    const std::vector<std::pair<std::string, std::string>>& extra = {});

// "2026-06-01T09:30:00Z" (UTC, whole seconds); "-" when unset (zero).
std::string FormatTimestamp(const google::protobuf::Timestamp& time);

// "7d", "12h", "90m", "45s", "1.5s": the largest of d/h/m/s that divides the
// duration exactly, else seconds with a fraction; "0s" for zero.
std::string FormatDuration(const google::protobuf::Duration& duration);

// "active", "away", "left"; "unspecified" otherwise.
std::string RepStatusName(v1::RepStatus status);

// Parses "active" / "away" / "left" (case-insensitive); nullopt otherwise.
std::optional<v1::RepStatus> ParseRepStatus(absl::string_view text);

// A diagnostic as the offline commands print them:
// `FILE:LINE:COL: field.path: message`, with "warning: " before the message
// of a warning; `FILE: field.path: message` when line is 0.
std::string FormatDiagnostic(const v1::Diagnostic& diagnostic);

// `roster get`: a "roster version N, updated T by WHO" line, then the
// DEPARTMENTS, REPS, TEAMS and POOLS tables (each left out when empty).
void RenderRoster(const v1::GetRosterResponse& response, std::ostream& out);

// `roster apply`: a KIND RESOURCE FIELD BEFORE → AFTER table (one row per
// changed field; ADDED/REMOVED resources without field changes get one row),
// then "roster version N" ("dry run: nothing written (roster version N)" for
// dry runs). "no changes" replaces the table when there are none.
void RenderRosterChanges(const v1::ApplyRosterResponse& response,
                         std::ostream& out);

// `rules list`: VERSION NAME CREATED BY ACTIVE.
void RenderRulesetVersions(const v1::ListRulesetVersionsResponse& response,
                           std::ostream& out);

// `rules get` without --source: the version's metadata, activations and
// publication warnings, and its departments with their rule counts.
void RenderRulesetVersion(const v1::RulesetVersion& version, std::ostream& out);

// `rules diff`: per department `+ rule ID` (its content indented below),
// `- rule ID`, `~ rule ID: field: before → after`, `~ fallback: ...`; then
// segments (`+ segment`, `- segment`, `~ segment NAME: field: ...`) and
// policies (`~ policies.path: before → after`). An empty value prints as
// "(none)". Identical versions print "no differences".
void RenderRulesetDiff(const v1::DiffRulesetsResponse& response,
                       std::ostream& out);

// 1234567 -> "1,234,567"; negative numbers keep their sign.
std::string FormatCount(int64_t n);

// A simulated target: "team ID", "pool ID", "rep ID"; "none" for an absent
// target (`present` false) or one without a kind.
std::string FormatSimulatedTarget(bool present, const v1::Target& target);

// `rules simulate`: a header ("version V against version B, evaluated at T
// (snapshot S)" and "N customers scanned, M change target in at least one
// department", plus the skipped customers when there are any), then per
// department "DEPT: C of N customers change target" with, when C > 0, a
// FROM TO CUSTOMERS SAMPLES table (most customers first) and a RULE
// CUSTOMERS SAMPLES table (the candidate's rule that the changed customers
// land on; "(fallback)" and "(no match)" for the fallback and no rule),
// both indented by two spaces. Samples are joined by ", ", followed by ", …"
// when the bucket holds more customers than samples.
void RenderSimulation(const v1::SimulateRulesetResponse& response,
                      std::ostream& out);

}  // namespace custodian::clients

#endif  // CUSTODIAN_CLIENTS_OUTPUT_H_
