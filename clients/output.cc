#include "clients/output.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace custodian::clients {
namespace {

// Decodes one UTF-8 code point at text[*i] and advances *i. Invalid bytes
// decode as themselves (one byte each) with *valid = false.
uint32_t NextCodePoint(absl::string_view text, size_t* i, bool* valid) {
  const auto byte = [&](size_t k) {
    return static_cast<unsigned char>(text[k]);
  };
  unsigned char b0 = byte(*i);
  int length = b0 < 0x80           ? 1
               : (b0 >> 5) == 0x6  ? 2
               : (b0 >> 4) == 0xE  ? 3
               : (b0 >> 3) == 0x1E ? 4
                                   : 0;
  *valid = length > 0 && *i + length <= text.size();
  for (int k = 1; *valid && k < length; ++k) {
    if ((byte(*i + k) & 0xC0) != 0x80) *valid = false;
  }
  if (!*valid) {
    ++*i;
    return b0;
  }
  uint32_t cp = length == 1   ? b0
                : length == 2 ? (b0 & 0x1F)
                : length == 3 ? (b0 & 0x0F)
                              : (b0 & 0x07);
  for (int k = 1; k < length; ++k) cp = (cp << 6) | (byte(*i + k) & 0x3F);
  *i += length;
  return cp;
}

bool IsZeroWidth(uint32_t cp) {
  return (cp >= 0x0300 && cp <= 0x036F) ||  // combining diacritical marks
         (cp >= 0x200B && cp <= 0x200F) ||  // zero-width space, joiners
         (cp >= 0xFE00 && cp <= 0xFE0F);    // variation selectors
}

// East Asian Wide (W) and Fullwidth (F) ranges, simplified.
bool IsWide(uint32_t cp) {
  return (cp >= 0x1100 && cp <= 0x115F) ||    // Hangul Jamo initials
         (cp >= 0x2E80 && cp <= 0x303E) ||    // CJK radicals, punctuation
         (cp >= 0x3041 && cp <= 0x33FF) ||    // kana, CJK compatibility
         (cp >= 0x3400 && cp <= 0x4DBF) ||    // CJK extension A
         (cp >= 0x4E00 && cp <= 0x9FFF) ||    // CJK unified ideographs
         (cp >= 0xA000 && cp <= 0xA4CF) ||    // Yi
         (cp >= 0xAC00 && cp <= 0xD7A3) ||    // Hangul syllables
         (cp >= 0xF900 && cp <= 0xFAFF) ||    // CJK compatibility ideographs
         (cp >= 0xFE30 && cp <= 0xFE4F) ||    // CJK compatibility forms
         (cp >= 0xFF00 && cp <= 0xFF60) ||    // fullwidth forms
         (cp >= 0xFFE0 && cp <= 0xFFE6) ||    // fullwidth signs
         (cp >= 0x1F300 && cp <= 0x1F64F) ||  // pictographs, emoticons
         (cp >= 0x1F900 && cp <= 0x1F9FF) ||  // supplemental pictographs
         (cp >= 0x20000 && cp <= 0x3FFFD);    // CJK extensions B and later
}

// Tabs and line breaks would break the grid: they print as spaces.
std::string CellText(absl::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return out;
}

std::string OrNone(absl::string_view value) {
  return value.empty() ? std::string("(none)") : std::string(value);
}

std::string Arrow(const v1::ValueChange& change) {
  return absl::StrCat(OrNone(change.before()), " → ", OrNone(change.after()));
}

absl::string_view KindName(v1::ChangeKind kind) {
  switch (kind) {
    case v1::ADDED:
      return "added";
    case v1::MODIFIED:
      return "modified";
    case v1::REMOVED:
      return "removed";
    default:
      return "unspecified";
  }
}

absl::string_view KindMark(v1::ChangeKind kind) {
  switch (kind) {
    case v1::ADDED:
      return "+";
    case v1::REMOVED:
      return "-";
    default:
      return "~";
  }
}

// An ADDED or REMOVED item lists its content; print the side that is set.
void RenderContent(
    const google::protobuf::RepeatedPtrField<v1::ValueChange>& changes,
    std::ostream& out) {
  for (const v1::ValueChange& change : changes) {
    absl::string_view value =
        change.after().empty() ? change.before() : change.after();
    out << "      " << change.field() << ": " << value << "\n";
  }
}

}  // namespace

std::optional<OutputFormat> ParseOutputFormat(absl::string_view text) {
  if (text == "table") return OutputFormat::kTable;
  if (text == "json") return OutputFormat::kJson;
  return std::nullopt;
}

int DisplayWidth(absl::string_view text) {
  int width = 0;
  size_t i = 0;
  while (i < text.size()) {
    bool valid = false;
    uint32_t cp = NextCodePoint(text, &i, &valid);
    if (!valid) {
      width += 1;
    } else if (IsZeroWidth(cp)) {
      continue;
    } else {
      width += IsWide(cp) ? 2 : 1;
    }
  }
  return width;
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {
  for (std::string& header : headers_) header = CellText(header);
}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  for (std::string& cell : cells) cell = CellText(cell);
  rows_.push_back(std::move(cells));
}

void Table::Render(std::ostream& out) const {
  std::vector<int> widths(headers_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], DisplayWidth(row[c]));
    }
  };
  measure(headers_);
  for (const auto& row : rows_) measure(row);
  auto print = [&](const std::vector<std::string>& row) {
    // Trailing empty cells print nothing, so no line ends in spaces.
    size_t last = row.size();
    while (last > 1 && row[last - 1].empty()) --last;
    std::string line;
    for (size_t c = 0; c < last; ++c) {
      line += row[c];
      if (c + 1 < last) {
        line.append(widths[c] - DisplayWidth(row[c]) + 2, ' ');
      }
    }
    out << line << "\n";
  };
  print(headers_);
  for (const auto& row : rows_) print(row);
}

std::string ToJson(
    const google::protobuf::Message& message,
    const std::vector<std::pair<std::string, std::string>>& extra) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string compact;
  google::protobuf::util::Status status =
      google::protobuf::util::MessageToJsonString(message, &compact, options);
  if (!status.ok()) {
    // Only possible for messages with unresolvable Any payloads, which the
    // custodian.v1 responses do not carry.
    nlohmann::ordered_json error = {{"error", std::string(status.message())}};
    return error.dump(2) + "\n";
  }
  nlohmann::ordered_json document = nlohmann::ordered_json::parse(compact);
  for (const auto& [name, value] : extra) document[name] = value;
  return document.dump(2, ' ', /*ensure_ascii=*/false,
                       nlohmann::ordered_json::error_handler_t::replace) +
         "\n";
}

std::string FormatTimestamp(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                          absl::FromUnixSeconds(time.seconds()),
                          absl::UTCTimeZone());
}

std::string FormatDuration(const google::protobuf::Duration& duration) {
  int64_t seconds = duration.seconds();
  if (duration.nanos() != 0) {
    absl::Duration d =
        absl::Seconds(seconds) + absl::Nanoseconds(duration.nanos());
    return absl::StrCat(absl::FDivDuration(d, absl::Seconds(1)), "s");
  }
  if (seconds == 0) return "0s";
  struct Unit {
    int64_t seconds;
    const char* suffix;
  };
  for (const Unit& unit : {Unit{86400, "d"}, Unit{3600, "h"}, Unit{60, "m"}}) {
    if (seconds % unit.seconds == 0) {
      return absl::StrCat(seconds / unit.seconds, unit.suffix);
    }
  }
  return absl::StrCat(seconds, "s");
}

std::string RepStatusName(v1::RepStatus status) {
  switch (status) {
    case v1::ACTIVE:
      return "active";
    case v1::AWAY:
      return "away";
    case v1::LEFT:
      return "left";
    default:
      return "unspecified";
  }
}

std::optional<v1::RepStatus> ParseRepStatus(absl::string_view text) {
  std::string lower = absl::AsciiStrToLower(text);
  if (lower == "active") return v1::ACTIVE;
  if (lower == "away") return v1::AWAY;
  if (lower == "left") return v1::LEFT;
  return std::nullopt;
}

std::string FormatDiagnostic(const v1::Diagnostic& diagnostic) {
  std::string out = diagnostic.file();
  if (diagnostic.line() > 0) {
    absl::StrAppend(&out, ":", diagnostic.line(), ":", diagnostic.column());
  }
  absl::StrAppend(&out, ": ");
  if (!diagnostic.field_path().empty()) {
    absl::StrAppend(&out, diagnostic.field_path(), ": ");
  }
  if (diagnostic.severity() == v1::WARNING) absl::StrAppend(&out, "warning: ");
  absl::StrAppend(&out, diagnostic.message());
  return out;
}

void RenderRoster(const v1::GetRosterResponse& response, std::ostream& out) {
  const v1::Roster& roster = response.roster();
  if (response.version() == 0) {
    out << "no roster yet (apply one with `custodianctl roster apply FILE`)\n";
    return;
  }
  out << "roster version " << response.version() << ", updated "
      << FormatTimestamp(response.update_time());
  if (!response.updated_by().empty()) out << " by " << response.updated_by();
  out << "\n";

  if (!roster.departments().empty()) {
    out << "\nDEPARTMENTS\n";
    Table table({"ID", "NAME"});
    for (const v1::Department& d : roster.departments()) {
      table.AddRow({d.id(), d.name()});
    }
    table.Render(out);
  }
  if (!roster.reps().empty()) {
    out << "\nREPS\n";
    Table table({"ID", "NAME", "STATUS", "SKILLS"});
    for (const v1::Rep& rep : roster.reps()) {
      table.AddRow({rep.id(), rep.name(), RepStatusName(rep.status()),
                    absl::StrJoin(rep.skills(), ", ")});
    }
    table.Render(out);
  }
  Table teams({"TEAM", "DEPARTMENT", "MEMBER", "CAPACITY", "WEIGHT"});
  Table pools({"POOL", "DEPARTMENT", "CLAIMS/DAY", "COOLDOWN"});
  for (const v1::Team& team : roster.teams()) {
    if (team.has_pool()) {
      const v1::PoolSettings& pool = team.pool();
      pools.AddRow({team.id(), team.department(),
                    pool.claim_limit_per_day() == 0
                        ? std::string("unlimited")
                        : absl::StrCat(pool.claim_limit_per_day()),
                    FormatDuration(pool.cooldown())});
      continue;
    }
    if (team.members().empty()) {
      teams.AddRow({team.id(), team.department(), "-"});
      continue;
    }
    for (const v1::TeamMember& member : team.members()) {
      teams.AddRow({team.id(), team.department(), member.rep(),
                    member.has_capacity() ? absl::StrCat(member.capacity())
                                          : std::string("default"),
                    absl::StrCat(member.weight())});
    }
  }
  if (teams.row_count() > 0) {
    out << "\nTEAMS\n";
    teams.Render(out);
  }
  if (pools.row_count() > 0) {
    out << "\nPOOLS\n";
    pools.Render(out);
  }
}

void RenderRosterChanges(const v1::ApplyRosterResponse& response,
                         std::ostream& out) {
  if (response.changes().empty()) {
    out << "no changes\n";
  } else {
    Table table({"KIND", "RESOURCE", "FIELD", "BEFORE → AFTER"});
    for (const v1::RosterChange& change : response.changes()) {
      std::string kind(KindName(change.kind()));
      if (change.changes().empty()) {
        table.AddRow({kind, change.resource()});
        continue;
      }
      for (const v1::ValueChange& value : change.changes()) {
        table.AddRow({kind, change.resource(), value.field(), Arrow(value)});
      }
    }
    table.Render(out);
  }
  if (response.dry_run()) {
    out << "dry run: nothing written (roster version " << response.version()
        << ")\n";
  } else {
    out << "roster version " << response.version() << "\n";
  }
}

void RenderRulesetVersions(const v1::ListRulesetVersionsResponse& response,
                           std::ostream& out) {
  if (response.versions().empty()) {
    out << "no ruleset versions\n";
    return;
  }
  Table table({"VERSION", "NAME", "CREATED", "BY", "ACTIVE"});
  for (const v1::RulesetVersion& version : response.versions()) {
    table.AddRow({absl::StrCat(version.version()), version.name(),
                  FormatTimestamp(version.create_time()), version.created_by(),
                  version.active() ? "yes" : ""});
  }
  table.Render(out);
}

void RenderRulesetVersion(const v1::RulesetVersion& version,
                          std::ostream& out) {
  out << "version     " << version.version()
      << (version.active() ? " (active)" : "") << "\n";
  out << "name        " << version.name() << "\n";
  out << "file        " << version.file_name() << "\n";
  out << "created     " << FormatTimestamp(version.create_time());
  if (!version.created_by().empty()) out << " by " << version.created_by();
  out << "\n";
  if (!version.ruleset().departments().empty()) {
    out << "\n";
    Table table({"DEPARTMENT", "RULES", "FALLBACK"});
    for (const v1::DepartmentRules& d : version.ruleset().departments()) {
      table.AddRow({d.department(), absl::StrCat(d.rules_size()),
                    d.has_fallback() ? "yes" : "no"});
    }
    table.Render(out);
  }
  if (!version.activations().empty()) {
    out << "\nACTIVATIONS\n";
    Table table({"ACTIVATED", "BY", "PREVIOUS", "REASON"});
    for (const v1::Activation& a : version.activations()) {
      table.AddRow({FormatTimestamp(a.activate_time()), a.activated_by(),
                    a.previous_version() == 0
                        ? std::string("-")
                        : absl::StrCat(a.previous_version()),
                    a.reason()});
    }
    table.Render(out);
  }
  if (!version.warnings().empty()) {
    out << "\nWARNINGS\n";
    for (const v1::Diagnostic& w : version.warnings()) {
      out << FormatDiagnostic(w) << "\n";
    }
  }
}

void RenderRulesetDiff(const v1::DiffRulesetsResponse& response,
                       std::ostream& out) {
  const v1::RulesetDiff& diff = response.diff();
  out << "ruleset " << response.from_version() << " → " << response.to_version()
      << "\n";
  if (diff.departments().empty() && diff.segments().empty() &&
      diff.policies().empty() && !diff.has_name()) {
    out << "no differences\n";
    return;
  }
  if (diff.has_name()) out << "~ ruleset: " << Arrow(diff.name()) << "\n";
  for (const v1::DepartmentDiff& department : diff.departments()) {
    out << "department " << department.department();
    if (department.kind() != v1::MODIFIED) {
      out << " (" << KindName(department.kind()) << ")";
    }
    out << "\n";
    for (const v1::RuleChange& rule : department.rules()) {
      if (rule.kind() == v1::MODIFIED) {
        for (const v1::ValueChange& change : rule.changes()) {
          out << "  ~ rule " << rule.rule_id() << ": " << change.field() << ": "
              << Arrow(change) << "\n";
        }
        if (rule.changes().empty())
          out << "  ~ rule " << rule.rule_id() << "\n";
        continue;
      }
      out << "  " << KindMark(rule.kind()) << " rule " << rule.rule_id()
          << "\n";
      RenderContent(rule.changes(), out);
    }
    if (department.has_fallback()) {
      out << "  ~ fallback: " << Arrow(department.fallback()) << "\n";
    }
  }
  if (!diff.segments().empty()) {
    out << "segments\n";
    for (const v1::SegmentChange& segment : diff.segments()) {
      if (segment.kind() == v1::MODIFIED) {
        for (const v1::ValueChange& change : segment.changes()) {
          out << "  ~ segment " << segment.name() << ": " << change.field()
              << ": " << Arrow(change) << "\n";
        }
        continue;
      }
      out << "  " << KindMark(segment.kind()) << " segment " << segment.name()
          << "\n";
      RenderContent(segment.changes(), out);
    }
  }
  if (!diff.policies().empty()) {
    out << "policies\n";
    for (const v1::ValueChange& change : diff.policies()) {
      out << "  ~ " << change.field() << ": " << Arrow(change) << "\n";
    }
  }
}

std::string FormatCount(int64_t n) {
  const std::string digits =
      absl::StrCat(n < 0 ? -(n + 1) + uint64_t{1} : static_cast<uint64_t>(n));
  std::string out = n < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string FormatSimulatedTarget(bool present, const v1::Target& target) {
  if (!present) return "none";
  switch (target.kind_case()) {
    case v1::Target::kTeam:
      return absl::StrCat("team ", target.team());
    case v1::Target::kPool:
      return absl::StrCat("pool ", target.pool());
    case v1::Target::kRep:
      return absl::StrCat("rep ", target.rep());
    default:
      return "none";
  }
}

namespace {

// The samples of a bucket of `count` customers, "…" marking the rest.
std::string Samples(
    const google::protobuf::RepeatedPtrField<std::string>& samples,
    int64_t count) {
  std::string text = absl::StrJoin(samples, ", ");
  if (count > samples.size()) {
    absl::StrAppend(&text, samples.empty() ? "…" : ", …");
  }
  return text;
}

// Renders `table` with every line indented by two spaces.
void RenderIndented(const Table& table, std::ostream& out) {
  std::ostringstream text;
  table.Render(text);
  std::istringstream lines(text.str());
  for (std::string line; std::getline(lines, line);) {
    out << "  " << line << "\n";
  }
}

}  // namespace

void RenderSimulation(const v1::SimulateRulesetResponse& response,
                      std::ostream& out) {
  out << "version " << response.version() << " against version "
      << response.baseline_version() << ", evaluated at "
      << FormatTimestamp(response.evaluated_at()) << " (snapshot "
      << FormatTimestamp(response.snapshot_time()) << ")\n";
  out << FormatCount(response.scanned_customers()) << " customers scanned, "
      << FormatCount(response.changed_customers())
      << " change target in at least one department\n";
  const int64_t evaluated =
      response.scanned_customers() - response.skipped_customers();
  if (response.skipped_customers() > 0) {
    out << FormatCount(response.skipped_customers())
        << " skipped: stored attributes no longer validate ("
        << Samples(response.skipped_sample_customer_ids(),
                   response.skipped_customers())
        << ")\n";
  }
  for (const v1::SimulatedDepartment& d : response.departments()) {
    out << "\n"
        << d.department() << ": " << FormatCount(d.changed()) << " of "
        << FormatCount(evaluated) << " customers change target\n";
    if (d.transitions().empty() && d.rules().empty()) continue;
    Table transitions({"FROM", "TO", "CUSTOMERS", "SAMPLES"});
    for (const v1::TargetTransition& t : d.transitions()) {
      transitions.AddRow({FormatSimulatedTarget(t.has_from(), t.from()),
                          FormatSimulatedTarget(t.has_to(), t.to()),
                          FormatCount(t.count()),
                          Samples(t.sample_customer_ids(), t.count())});
    }
    RenderIndented(transitions, out);
    Table rules({"RULE", "CUSTOMERS", "SAMPLES"});
    for (const v1::RuleImpact& r : d.rules()) {
      rules.AddRow({r.rule_id().empty()         ? std::string("(no match)")
                    : r.rule_id() == "fallback" ? std::string("(fallback)")
                                                : r.rule_id(),
                    FormatCount(r.count()),
                    Samples(r.sample_customer_ids(), r.count())});
    }
    out << "\n";
    RenderIndented(rules, out);
  }
}

}  // namespace custodian::clients
