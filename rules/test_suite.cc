#include "rules/test_suite.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rules/loader.h"
#include "rules/validator.h"
#include "yaml-cpp/yaml.h"

namespace custodian::rules {
namespace {

SourceLocation LocationOf(const YAML::Node& node) {
  YAML::Mark mark = node.Mark();
  if (mark.line < 0) return {};
  return SourceLocation{mark.line + 1, mark.column + 1};
}

// Records every node's location under its field path.
void RecordLocations(const YAML::Node& node, const std::string& path,
                     SourceMap* map) {
  map->Record(path, LocationOf(node));
  if (node.IsMap()) {
    for (const auto& entry : node) {
      std::string key = entry.first.Scalar();
      std::string child = path.empty() ? key : absl::StrCat(path, ".", key);
      map->Record(child, LocationOf(entry.first));
      RecordLocations(entry.second, child, map);
    }
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) {
      RecordLocations(node[i], absl::StrCat(path, "[", i, "]"), map);
    }
  }
}

std::optional<absl::Time> ParseAt(const YAML::Node& node,
                                  const std::string& path, Diagnostics* diags) {
  if (!node.IsScalar()) {
    diags->Error(path, "must be an RFC 3339 timestamp");
    return std::nullopt;
  }
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, node.Scalar(), &t, &error)) {
    diags->Error(path, absl::StrCat("must be an RFC 3339 timestamp such as "
                                    "2026-06-01T00:00:00Z (",
                                    error, ")"));
    return std::nullopt;
  }
  return t;
}

bool ParseTargetKey(absl::string_view key, v1::Target::KindCase* kind) {
  if (key == "team") {
    *kind = v1::Target::kTeam;
  } else if (key == "pool") {
    *kind = v1::Target::kPool;
  } else if (key == "rep") {
    *kind = v1::Target::kRep;
  } else {
    return false;
  }
  return true;
}

std::optional<v1::Strategy> ParseStrategy(absl::string_view name) {
  if (name == "round_robin") return v1::ROUND_ROBIN;
  if (name == "weighted") return v1::WEIGHTED;
  if (name == "least_loaded") return v1::LEAST_LOADED;
  if (name == "best_match") return v1::BEST_MATCH;
  return std::nullopt;
}

void ParseExpectation(const YAML::Node& node, const std::string& path,
                      DepartmentExpectation* out, Diagnostics* diags) {
  out->field_path = path;
  if (!node.IsMap()) {
    diags->Error(path,
                 "must be a map of rule, team|pool|rep, strategy, "
                 "requires_approval");
    return;
  }
  for (const auto& entry : node) {
    const std::string key = entry.first.Scalar();
    const std::string child = absl::StrCat(path, ".", key);
    const YAML::Node& value = entry.second;
    v1::Target::KindCase kind;
    if (key == "rule") {
      if (value.IsNull()) {
        out->rule = "";
      } else if (value.IsScalar() && !value.Scalar().empty()) {
        out->rule = value.Scalar();
      } else {
        diags->Error(child, "must be a rule id, \"fallback\" or null");
      }
    } else if (ParseTargetKey(key, &kind)) {
      if (out->target_kind != v1::Target::KIND_NOT_SET) {
        diags->Error(child, "a target names at most one of team, pool, rep");
      } else if (!value.IsScalar() || value.Scalar().empty()) {
        diags->Error(child, absl::StrCat("must be a ", key, " id"));
      } else {
        out->target_kind = kind;
        out->target_name = value.Scalar();
      }
    } else if (key == "strategy") {
      std::optional<v1::Strategy> strategy =
          value.IsScalar() ? ParseStrategy(value.Scalar()) : std::nullopt;
      if (!strategy) {
        diags->Error(child,
                     "must be one of round_robin, weighted, least_loaded, "
                     "best_match");
      } else {
        out->strategy = strategy;
      }
    } else if (key == "requires_approval") {
      if (value.IsScalar() &&
          (value.Scalar() == "true" || value.Scalar() == "false")) {
        out->requires_approval = value.Scalar() == "true";
      } else {
        diags->Error(child, "must be true or false");
      }
    } else {
      diags->Error(child, absl::StrCat("unknown key \"", key,
                                       "\" (allowed: rule, team, pool, rep, "
                                       "strategy, requires_approval)"));
    }
  }
  if (out->strategy && out->target_kind != v1::Target::kTeam) {
    diags->Error(absl::StrCat(path, ".strategy"),
                 "strategy is only checked together with team");
  }
}

void ParseCustomer(const YAML::Node& node, const std::string& path,
                   v1::Customer* out, Diagnostics* diags) {
  if (!node.IsMap()) {
    diags->Error(path, "must be a map of customer fields");
    return;
  }
  // The loader reports problems by field path; they are re-located here
  // against this file's source map.
  Diagnostics customer_diags(diags->file(), nullptr);
  std::optional<v1::Customer> customer =
      LoadCustomer(YAML::Dump(node), path, &customer_diags);
  for (const Diagnostic& d : customer_diags.items()) {
    diags->Error(d.field_path, d.message);
  }
  if (!customer) return;
  absl::Status status = ValidateCustomer(*customer, path);
  if (!status.ok()) {
    // The message starts with the field path: "tests[0].customer.region: ...".
    std::string message(status.message());
    size_t colon = message.find(": ");
    if (colon == std::string::npos) {
      diags->Error(path, message);
    } else {
      diags->Error(message.substr(0, colon), message.substr(colon + 2));
    }
    return;
  }
  *out = *std::move(customer);
}

void ParseTest(const YAML::Node& node, const std::string& path,
               const absl::flat_hash_set<std::string>& departments,
               TestCase* test, Diagnostics* diags) {
  test->field_path = path;
  test->location = LocationOf(node);
  if (!node.IsMap()) {
    diags->Error(path, "must be a map with name, customer and expect");
    return;
  }
  bool has_customer = false;
  bool has_expect = false;
  for (const auto& entry : node) {
    const std::string key = entry.first.Scalar();
    const std::string child = absl::StrCat(path, ".", key);
    const YAML::Node& value = entry.second;
    if (key == "name") {
      if (!value.IsScalar() || value.Scalar().empty()) {
        diags->Error(child, "must be a non-empty string");
      } else {
        test->name = value.Scalar();
      }
    } else if (key == "at") {
      test->at = ParseAt(value, child, diags);
    } else if (key == "customer") {
      has_customer = true;
      ParseCustomer(value, child, &test->customer, diags);
    } else if (key == "segments") {
      if (!value.IsSequence()) {
        diags->Error(child, "must be a list of segment names");
        continue;
      }
      std::vector<std::string> segments;
      for (const auto& item : value) {
        if (!item.IsScalar()) {
          diags->Error(child, "must be a list of segment names");
          break;
        }
        segments.push_back(item.Scalar());
      }
      std::sort(segments.begin(), segments.end());
      test->segments = std::move(segments);
    } else if (key == "expect") {
      has_expect = true;
      if (!value.IsMap()) {
        diags->Error(child, "must be a map of department -> expectation");
        continue;
      }
      for (const auto& dept : value) {
        const std::string id = dept.first.Scalar();
        const std::string dept_path = absl::StrCat(child, ".", id);
        if (!departments.contains(id)) {
          diags->Error(dept_path,
                       absl::StrCat("department \"", id,
                                    "\" has no rules in the ruleset"));
          continue;
        }
        DepartmentExpectation expectation;
        expectation.department = id;
        ParseExpectation(dept.second, dept_path, &expectation, diags);
        test->expectations.push_back(std::move(expectation));
      }
    } else {
      diags->Error(child, absl::StrCat("unknown key \"", key,
                                       "\" (allowed: name, at, customer, "
                                       "segments, expect)"));
    }
  }
  if (test->name.empty() && !node["name"]) {
    diags->Error(path, "name is required");
  }
  if (!has_customer) diags->Error(path, "customer is required");
  if (!has_expect) diags->Error(path, "expect is required");
}

std::string RuleText(const v1::DepartmentDecision& decision) {
  switch (decision.kind()) {
    case v1::RULE:
      return decision.rule_id();
    case v1::FALLBACK:
      return "fallback";
    default:
      return "null";
  }
}

std::string TargetText(v1::Target::KindCase kind, absl::string_view name) {
  switch (kind) {
    case v1::Target::kTeam:
      return absl::StrCat("team ", name);
    case v1::Target::kPool:
      return absl::StrCat("pool ", name);
    case v1::Target::kRep:
      return absl::StrCat("rep ", name);
    case v1::Target::KIND_NOT_SET:
      break;
  }
  return "(none)";
}

std::string TargetName(const v1::Target& target) {
  switch (target.kind_case()) {
    case v1::Target::kTeam:
      return target.team();
    case v1::Target::kPool:
      return target.pool();
    case v1::Target::kRep:
      return target.rep();
    case v1::Target::KIND_NOT_SET:
      break;
  }
  return "";
}

}  // namespace

std::unique_ptr<TestSuite> LoadTestSuite(absl::string_view text,
                                         const v1::Ruleset& ruleset,
                                         Diagnostics* diags) {
  auto suite = std::make_unique<TestSuite>();
  diags->set_source_map(&suite->source_map);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::ParserException& e) {
    diags->ErrorAt(SourceLocation{e.mark.line + 1, e.mark.column + 1}, "",
                   absl::StrCat("syntax error: ", e.msg));
    return suite;
  }
  RecordLocations(root, "", &suite->source_map);
  if (!root.IsMap()) {
    diags->Error("", "a test file is a map with `tests:` (and optional `at:`)");
    return suite;
  }
  absl::flat_hash_set<std::string> departments;
  for (const v1::DepartmentRules& dept : ruleset.departments()) {
    departments.insert(dept.department());
  }
  bool has_tests = false;
  for (const auto& entry : root) {
    const std::string key = entry.first.Scalar();
    if (key == "at") {
      suite->at = ParseAt(entry.second, "at", diags);
    } else if (key == "tests") {
      has_tests = true;
      if (!entry.second.IsSequence() || entry.second.size() == 0) {
        diags->Error("tests", "must be a non-empty list of tests");
        continue;
      }
      absl::flat_hash_set<std::string> names;
      for (size_t i = 0; i < entry.second.size(); ++i) {
        TestCase test;
        std::string path = absl::StrCat("tests[", i, "]");
        ParseTest(entry.second[i], path, departments, &test, diags);
        if (!test.name.empty() && !names.insert(test.name).second) {
          diags->Error(absl::StrCat(path, ".name"),
                       absl::StrCat("duplicate test name \"", test.name, "\""));
        }
        suite->tests.push_back(std::move(test));
      }
    } else {
      diags->Error(
          key, absl::StrCat("unknown key \"", key, "\" (allowed: at, tests)"));
    }
  }
  if (!has_tests) diags->Error("", "tests is required");
  return suite;
}

TestOutcome RunTestCase(const CompiledRuleset& ruleset, const TestCase& test,
                        absl::Time default_at) {
  TestOutcome outcome;
  outcome.at = test.at.value_or(default_at);
  v1::Evaluation evaluation;
  ruleset.Evaluate(test.customer, outcome.at, EvaluateOptions{}, &evaluation);

  if (test.segments) {
    std::vector<std::string> actual(evaluation.segments().begin(),
                                    evaluation.segments().end());
    std::sort(actual.begin(), actual.end());
    if (actual != *test.segments) {
      outcome.mismatches.push_back(
          {"segments",
           absl::StrCat("[", absl::StrJoin(*test.segments, ", "), "]"),
           absl::StrCat("[", absl::StrJoin(actual, ", "), "]")});
    }
  }
  for (const DepartmentExpectation& want : test.expectations) {
    const v1::DepartmentDecision* got = nullptr;
    for (const v1::DepartmentDecision& d : evaluation.departments()) {
      if (d.department() == want.department) got = &d;
    }
    if (got == nullptr) {
      outcome.mismatches.push_back(
          {absl::StrCat(want.department), "a decision", "no decision"});
      continue;
    }
    if (want.rule) {
      std::string expected = want.rule->empty() ? "null" : *want.rule;
      std::string actual = RuleText(*got);
      if (expected != actual) {
        outcome.mismatches.push_back(
            {absl::StrCat(want.department, ".rule"), expected, actual});
      }
    }
    if (want.target_kind != v1::Target::KIND_NOT_SET) {
      std::string expected = TargetText(want.target_kind, want.target_name);
      std::string actual =
          got->has_target()
              ? TargetText(got->target().kind_case(), TargetName(got->target()))
              : "(none)";
      if (expected != actual) {
        outcome.mismatches.push_back(
            {absl::StrCat(want.department, ".target"), expected, actual});
      }
    }
    if (want.strategy && got->has_target() &&
        got->target().strategy() != *want.strategy) {
      outcome.mismatches.push_back(
          {absl::StrCat(want.department, ".strategy"),
           absl::AsciiStrToLower(v1::Strategy_Name(*want.strategy)),
           absl::AsciiStrToLower(v1::Strategy_Name(got->target().strategy()))});
    }
    if (want.requires_approval) {
      bool actual = got->has_target() && got->target().requires_approval();
      if (actual != *want.requires_approval) {
        outcome.mismatches.push_back(
            {absl::StrCat(want.department, ".requires_approval"),
             *want.requires_approval ? "true" : "false",
             actual ? "true" : "false"});
      }
    }
  }
  return outcome;
}

}  // namespace custodian::rules
