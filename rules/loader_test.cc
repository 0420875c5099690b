#include "rules/loader.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "rules/front_testing.h"

namespace custodian::rules {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::Strings;

// Loads ruleset text, returning the proto and filling *errors.
v1::Ruleset Load(absl::string_view text, std::vector<std::string>* errors) {
  Diagnostics diags("f.yaml", nullptr);
  LoadedRuleset loaded = LoadRuleset(text, &diags);
  *errors = Strings(diags);
  return loaded.ruleset;
}

v1::Ruleset Parse(absl::string_view text_proto) {
  v1::Ruleset out;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
      std::string(text_proto), &out))
      << text_proto;
  return out;
}

// The `when` of the first rule of department "d".
v1::Condition RuleWhen(absl::string_view when,
                       std::vector<std::string>* errors) {
  v1::Ruleset r =
      Load(absl::StrCat("departments:\n  d:\n    rules:\n      - id: r\n"
                        "        when: ",
                        when, "\n        assign: {team: t}\n"),
           errors);
  if (r.departments_size() != 1 || r.departments(0).rules_size() != 1)
    return {};
  return r.departments(0).rules(0).when();
}

v1::Condition ParseCondition(absl::string_view text_proto) {
  v1::Condition out;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
      std::string(text_proto), &out))
      << text_proto;
  return out;
}

void ExpectWhen(absl::string_view when, absl::string_view expected) {
  std::vector<std::string> errors;
  v1::Condition got = RuleWhen(when, &errors);
  EXPECT_THAT(errors, IsEmpty()) << when;
  v1::Condition want = ParseCondition(expected);
  EXPECT_TRUE(MessageDifferencer::Equals(got, want))
      << when << "\ngot:  " << got.ShortDebugString()
      << "\nwant: " << want.ShortDebugString();
}

// The errors of a rule `when` (the block starts at line 5, column 15).
std::vector<std::string> WhenErrors(absl::string_view when) {
  std::vector<std::string> errors;
  RuleWhen(when, &errors);
  return errors;
}

TEST(LoaderTest, ScalarShorthandIsEq) {
  ExpectWhen("{region: CN/East}",
             R"pb(clauses {
                    field {
                      field: "region"
                      operators { eq { string_value: "CN/East" } }
                    }
                  })pb");
}

TEST(LoaderTest, ListShorthandIsIn) {
  ExpectWhen("{customer_type: [enterprise, smb]}",
             R"pb(clauses {
                    field {
                      field: "customer_type"
                      operators {
                        in {
                          values { string_value: "enterprise" }
                          values { string_value: "smb" }
                        }
                      }
                    }
                  })pb");
}

TEST(LoaderTest, IntegerFieldsGetIntegerValues) {
  ExpectWhen("{employee_count: 50}", R"pb(clauses {
                                            field {
                                              field: "employee_count"
                                              operators { eq { int_value: 50 } }
                                            }
                                          })pb");
  ExpectWhen("{annual_revenue: [1, 2]}",
             R"pb(clauses {
                    field {
                      field: "annual_revenue"
                      operators {
                        in {
                          values { int_value: 1 }
                          values { int_value: 2 }
                        }
                      }
                    }
                  })pb");
  ExpectWhen("{annual_revenue: {ne: -3}}",
             R"pb(clauses {
                    field {
                      field: "annual_revenue"
                      operators { ne { int_value: -3 } }
                    }
                  })pb");
}

TEST(LoaderTest, StringFieldsKeepNumbersAsStrings) {
  ExpectWhen("{value_tier: 1}", R"pb(clauses {
                                       field {
                                         field: "value_tier"
                                         operators { eq { string_value: "1" } }
                                       }
                                     })pb");
}

TEST(LoaderTest, UnknownFieldsStillBecomeStringConditions) {
  ExpectWhen("{colour: 7}", R"pb(clauses {
                                   field {
                                     field: "colour"
                                     operators { eq { string_value: "7" } }
                                   }
                                 })pb");
}

TEST(LoaderTest, EveryOperator) {
  ExpectWhen(
      "{region: {under: CN, not_under: [CN/West, CN/North], eq: CN/East, ne: "
      "X, "
      "in: [A], not_in: [B], matches: '^C.*', exists: true}}",
      R"pb(clauses {
             field {
               field: "region"
               operators { under { values: "CN" } }
               operators { not_under { values: "CN/West" values: "CN/North" } }
               operators { eq { string_value: "CN/East" } }
               operators { ne { string_value: "X" } }
               operators { in { values { string_value: "A" } } }
               operators { not_in { values { string_value: "B" } } }
               operators { matches: "^C.*" }
               operators { exists: true }
             }
           })pb");
  ExpectWhen("{annual_revenue: {gt: 1, gte: 2, lt: 30, lte: 40}}",
             R"pb(clauses {
                    field {
                      field: "annual_revenue"
                      operators { gt: 1 }
                      operators { gte: 2 }
                      operators { lt: 30 }
                      operators { lte: 40 }
                    }
                  })pb");
  ExpectWhen("{tags: {any_of: [a], all_of: [b, c], none_of: [d]}}",
             R"pb(clauses {
                    field {
                      field: "tags"
                      operators { any_of { values: "a" } }
                      operators { all_of { values: "b" values: "c" } }
                      operators { none_of { values: "d" } }
                    }
                  })pb");
  ExpectWhen("{created_time: {older_than: 30d, newer_than: 1d12h}}",
             R"pb(clauses {
                    field {
                      field: "created_time"
                      operators { older_than { seconds: 2592000 } }
                      operators { newer_than { seconds: 129600 } }
                    }
                  })pb");
  ExpectWhen("{name: {exists: false}}", R"pb(clauses {
                                               field {
                                                 field: "name"
                                                 operators { exists: false }
                                               }
                                             })pb");
}

TEST(LoaderTest, SegmentForms) {
  ExpectWhen("{segment: key_account}",
             R"pb(clauses { segment { name: "key_account" } })pb");
  ExpectWhen(
      "{segment: {any_of: [a, b]}}",
      R"pb(clauses { segment { any_of { values: "a" values: "b" } } })pb");
  ExpectWhen("{segment: {none_of: [dormant]}}",
             R"pb(clauses { segment { none_of { values: "dormant" } } })pb");
}

TEST(LoaderTest, AnyAllNot) {
  ExpectWhen(
      "{any: [{region: A}, {all: [{sales_stage: won}, {not: {tags: {any_of: "
      "[x]}}}]}]}",
      R"pb(clauses {
             any {
               conditions {
                 clauses {
                   field {
                     field: "region"
                     operators { eq { string_value: "A" } }
                   }
                 }
               }
               conditions {
                 clauses {
                   all {
                     conditions {
                       clauses {
                         field {
                           field: "sales_stage"
                           operators { eq { string_value: "won" } }
                         }
                       }
                     }
                     conditions {
                       clauses {
                         not {
                           clauses {
                             field {
                               field: "tags"
                               operators { any_of { values: "x" } }
                             }
                           }
                         }
                       }
                     }
                   }
                 }
               }
             }
           })pb");
}

TEST(LoaderTest, EmptyWhenIsEmptyCondition) {
  ExpectWhen("", "");
  ExpectWhen("{}", "");
}

TEST(LoaderTest, LoadsTheWholeRulesetShape) {
  std::vector<std::string> errors;
  v1::Ruleset got = Load(R"(ruleset: acme
description: d
segments:
  - {name: ka, description: big, when: {annual_revenue: {gte: 5}}}
departments:
  sales:
    rules:
      - id: a
        description: first
        assign: {team: ka-east, strategy: best_match, requires_approval: true}
        overflow: {pool: east-pool}
      - id: b
        assign: {rep: zhang.wei}
    fallback: {pool: unassigned}
  service:
policies:
  capacity: {default_max_customers: 10, count_won: true}
  on_drift: reassign
  recycling:
    - {department: sales, when: {sales_stage: lead}, to_pool: east-pool}
  protection: {new_owner: 14d}
  duplicates: {match_on: [tax_id, email_domain, name], on_match: flag_only}
  disputes:
    panel: {team: arb, size: 3}
    quorum: 2
    sla: 7d
    on_expiry: escalate
    reappeal_after: 30d
  review: {stale_after: 90d}
)",
                         &errors);
  EXPECT_THAT(errors, IsEmpty());
  v1::Ruleset want = Parse(R"pb(
    name: "acme"
    description: "d"
    segments {
      name: "ka"
      description: "big"
      when {
        clauses {
          field {
            field: "annual_revenue"
            operators { gte: 5 }
          }
        }
      }
    }
    departments {
      department: "sales"
      rules {
        id: "a"
        description: "first"
        assign { team: "ka-east" strategy: BEST_MATCH requires_approval: true }
        overflow { pool: "east-pool" }
      }
      rules {
        id: "b"
        assign { rep: "zhang.wei" }
      }
      fallback { pool: "unassigned" }
    }
    departments { department: "service" }
    policies {
      capacity { default_max_customers: 10 count_won: true }
      on_drift: REASSIGN
      recycling {
        department: "sales"
        to_pool: "east-pool"
        when {
          clauses {
            field {
              field: "sales_stage"
              operators { eq { string_value: "lead" } }
            }
          }
        }
      }
      protection { new_owner { seconds: 1209600 } }
      duplicates {
        match_on: [ TAX_ID, EMAIL_DOMAIN, NAME ]
        on_match: FLAG_ONLY
      }
      disputes {
        panel { team: "arb" size: 3 }
        quorum: 2
        sla { seconds: 604800 }
        on_expiry: ESCALATE
        reappeal_after { seconds: 2592000 }
      }
      review { stale_after { seconds: 7776000 } }
    })pb");
  EXPECT_TRUE(MessageDifferencer::Equals(got, want)) << got.DebugString();
}

TEST(LoaderTest, RecordsKeyAndItemLocations) {
  Diagnostics diags("f.yaml", nullptr);
  LoadedRuleset loaded = LoadRuleset(R"(ruleset: r
departments:
  sales:
    rules:
      - id: a
        when:
          region: {under: [CN/East, CN/North]}
        assign: {team: t}
)",
                                     &diags);
  ASSERT_FALSE(diags.has_errors());
  const SourceMap& m = loaded.source_map;
  auto at = [&](absl::string_view path) {
    SourceLocation l = m.Find(path);
    return absl::StrCat(l.line, ":", l.column);
  };
  EXPECT_EQ(at(""), "1:1");
  EXPECT_EQ(at("ruleset"), "1:1");
  EXPECT_EQ(at("departments"), "2:1");
  EXPECT_EQ(at("departments.sales"), "3:3");
  EXPECT_EQ(at("departments.sales.rules"), "4:5");
  EXPECT_EQ(at("departments.sales.rules[0]"), "5:9");
  EXPECT_EQ(at("departments.sales.rules[0].id"), "5:9");
  EXPECT_EQ(at("departments.sales.rules[0].when"), "6:9");
  EXPECT_EQ(at("departments.sales.rules[0].when.region"), "7:11");
  EXPECT_EQ(at("departments.sales.rules[0].when.region.under"), "7:20");
  EXPECT_EQ(at("departments.sales.rules[0].when.region.under[1]"), "7:37");
  EXPECT_EQ(at("departments.sales.rules[0].assign.team"), "8:18");
}

TEST(LoaderTest, ReportsUnknownKeysWithLocationAndExpectedKeys) {
  std::vector<std::string> errors;
  Load(R"(ruleset: r
departments:
  sales:
    rules:
      - id: a
        asign: {team: t}
    fallbak: {pool: p}
polices: {}
)",
       &errors);
  EXPECT_THAT(
      errors,
      ElementsAre(
          "f.yaml:6:9: departments.sales.rules[0].asign: unknown key "
          "\"asign\" in rule (expected one of: id, description, when, assign, "
          "overflow)",
          "f.yaml:7:5: departments.sales.fallbak: unknown key \"fallbak\" in "
          "department (expected one of: rules, fallback)",
          "f.yaml:8:1: polices: unknown key \"polices\" in ruleset file "
          "(expected one of: ruleset, description, segments, departments, "
          "policies)"));
}

TEST(LoaderTest, ReportsWrongNodeKinds) {
  std::vector<std::string> errors;
  Load(R"(ruleset: [a]
segments: {name: x}
departments:
  - sales
)",
       &errors);
  EXPECT_THAT(errors,
              ElementsAre("f.yaml:1:1: ruleset: expected a string, got a list",
                          "f.yaml:2:1: segments: expected a list, got a map",
                          "f.yaml:3:1: departments: expected a map of "
                          "departments by id, got a list"));
}

TEST(LoaderTest, ReportsNonIntegersWhereIntegersAreNeeded) {
  EXPECT_THAT(
      WhenErrors("{annual_revenue: {gt: 1.5, gte: '5', lt: true, lte: 1e3}}"),
      ElementsAre(
          "f.yaml:5:33: departments.d.rules[0].when.annual_revenue.gt: "
          "expected an integer, got \"1.5\"",
          "f.yaml:5:42: departments.d.rules[0].when.annual_revenue.gte: "
          "expected an integer, got the string \"5\"",
          "f.yaml:5:52: departments.d.rules[0].when.annual_revenue.lt: "
          "expected an integer, got \"true\"",
          "f.yaml:5:62: departments.d.rules[0].when.annual_revenue.lte: "
          "expected an integer, got \"1e3\""));
  EXPECT_THAT(
      WhenErrors("{employee_count: [1, x]}"),
      ElementsAre(
          "f.yaml:5:36: departments.d.rules[0].when.employee_count.in[1]: "
          "expected an integer, got \"x\""));
  EXPECT_THAT(WhenErrors("{employee_count: {gt: 99999999999999999999}}"),
              ElementsAre("f.yaml:5:33: departments.d.rules[0].when."
                          "employee_count.gt: integer 99999999999999999999 is "
                          "out of range"));
}

TEST(LoaderTest, ReportsBadDurations) {
  EXPECT_THAT(
      WhenErrors("{created_time: {older_than: 30x, newer_than: 30}}"),
      ElementsAre(
          "f.yaml:5:31: departments.d.rules[0].when.created_time.older_than: "
          "bad duration \"30x\": expected <integer><unit> parts with units d, "
          "h, m, s in that order, e.g. 30d, 12h, 90m or 1d12h",
          "f.yaml:5:48: departments.d.rules[0].when.created_time.newer_than: "
          "bad duration \"30\": expected <integer><unit> parts with units d, "
          "h, m, s in that order, e.g. 30d, 12h, 90m or 1d12h"));
}

TEST(LoaderTest, ReportsUnknownOperators) {
  EXPECT_THAT(
      WhenErrors("{region: {above: CN}}"),
      ElementsAre("f.yaml:5:25: departments.d.rules[0].when.region.above: "
                  "unknown operator \"above\" (expected one of: eq, ne, in, "
                  "not_in, under, not_under, gt, gte, lt, lte, matches, "
                  "exists, any_of, all_of, none_of, older_than, newer_than)"));
}

TEST(LoaderTest, ReportsBadBooleansAndOperandShapes) {
  EXPECT_THAT(
      WhenErrors("{name: {exists: yes}, tags: {any_of: x}, region: {in: a}}"),
      ElementsAre(
          "f.yaml:5:23: departments.d.rules[0].when.name.exists: expected "
          "true or false, got \"yes\"",
          "f.yaml:5:44: departments.d.rules[0].when.tags.any_of: expected a "
          "list of strings, got a scalar",
          "f.yaml:5:65: departments.d.rules[0].when.region.in: expected a "
          "list of values, got a scalar"));
}

TEST(LoaderTest, ReportsBadSegmentAndBlockForms) {
  EXPECT_THAT(
      WhenErrors("{segment: [a], any: {region: A}, not: [x], all: []}"),
      ElementsAre(
          "f.yaml:5:16: departments.d.rules[0].when.segment: expected "
          "segment: name, segment: {any_of: [...]} or segment: {none_of: "
          "[...]}, got a list",
          "f.yaml:5:30: departments.d.rules[0].when.any: any expects a list "
          "of condition maps, got a map",
          "f.yaml:5:48: departments.d.rules[0].when.not: not expects a map of "
          "conditions, got a list"));
  EXPECT_THAT(WhenErrors("{segment: {all_of: [a]}}"),
              ElementsAre("f.yaml:5:26: departments.d.rules[0].when.segment."
                          "all_of: unknown key \"all_of\" in segment condition "
                          "(expected one of: any_of, none_of)"));
  EXPECT_THAT(WhenErrors("{region: }"),
              ElementsAre("f.yaml:5:16: departments.d.rules[0].when.region: "
                          "condition on region needs a value: write region: "
                          "value, region: [a, b] or region: {operator: "
                          "operand}"));
}

TEST(LoaderTest, ReportsUnknownEnumValues) {
  std::vector<std::string> errors;
  Load(R"(departments:
  sales:
    fallback: {team: t, strategy: fastest}
policies:
  on_drift: sometimes
  duplicates: {match_on: [tax_id, phone]}
)",
       &errors);
  EXPECT_THAT(
      errors,
      ElementsAre("f.yaml:3:25: departments.sales.fallback.strategy: unknown "
                  "strategy \"fastest\" (expected one of: round_robin, "
                  "weighted, least_loaded, best_match)",
                  "f.yaml:5:3: policies.on_drift: unknown drift action "
                  "\"sometimes\" (expected one of: keep, reassign)",
                  "f.yaml:6:35: policies.duplicates.match_on[1]: unknown match "
                  "key \"phone\" (expected one of: tax_id, email_domain, "
                  "name)"));
}

TEST(LoaderTest, ReportsTargetsNamingSeveralKinds) {
  std::vector<std::string> errors;
  v1::Ruleset r = Load(R"(departments:
  sales:
    fallback: {team: t, pool: p, rep: x}
)",
                       &errors);
  EXPECT_THAT(errors,
              ElementsAre("f.yaml:3:25: departments.sales.fallback.pool: "
                          "target names both team and pool; a target names "
                          "exactly one of team, rep or pool",
                          "f.yaml:3:34: departments.sales.fallback.rep: "
                          "target names both team and rep; a target names "
                          "exactly one of team, rep or pool"));
  EXPECT_EQ(r.departments(0).fallback().team(), "t");
}

TEST(LoaderTest, ReportsDuplicateKeys) {
  std::vector<std::string> errors;
  Load("ruleset: a\nruleset: b\ndepartments:\n  s: {}\n  s: {}\n", &errors);
  EXPECT_THAT(errors,
              ElementsAre("f.yaml:2:1: ruleset: duplicate key \"ruleset\"",
                          "f.yaml:5:3: departments.s: duplicate key \"s\""));
}

TEST(LoaderTest, ReportsSyntaxErrorsWithLocation) {
  std::vector<std::string> errors;
  Load("ruleset: r\ndepartments: [a,\n", &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], ::testing::StartsWith("f.yaml:3:1: syntax error: "));
  Load("a: b: c\n", &errors);
  EXPECT_THAT(errors,
              ElementsAre("f.yaml:1:5: syntax error: illegal map value"));
}

TEST(LoaderTest, ReportsASecondDocument) {
  std::vector<std::string> errors;
  Load("ruleset: a\n---\nruleset: b\n", &errors);
  EXPECT_THAT(errors, ElementsAre("f.yaml:3:1: a file holds one YAML document; "
                                  "found a second one"));
}

TEST(LoaderTest, ReportsMultipleErrorsAtOnce) {
  std::vector<std::string> errors;
  Load(R"(ruleset: r
departments:
  sales:
    rules:
      - id: a
        when: {region: {above: CN}, created_time: {older_than: 3w}}
        assign: {team: t, strategy: fastest, requires_approval: maybe}
      - id: b
        color: red
)",
       &errors);
  EXPECT_EQ(errors.size(), 5u) << ::testing::PrintToString(errors);
}

TEST(LoaderTest, RejectsDeeplyNestedConditions) {
  std::string when;
  for (int i = 0; i < 40; ++i) when += "{not: ";
  when += "{region: A}";
  for (int i = 0; i < 40; ++i) when += "}";
  std::vector<std::string> errors = WhenErrors(when);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0],
              ::testing::HasSubstr("conditions nest deeper than 32 levels"));
}

TEST(LoaderTest, JsonOfTheSameShapeGivesTheSameProto) {
  std::vector<std::string> yaml_errors, json_errors;
  v1::Ruleset from_yaml = Load(R"(ruleset: acme
segments:
  - name: ka
    when:
      any:
        - annual_revenue: {gte: 50000000}
        - tags: {any_of: [strategic]}
departments:
  sales:
    rules:
      - id: east
        when:
          region: {under: [CN/East, CN/North]}
          customer_type: [enterprise, smb]
          segment: ka
          last_activity_time: {newer_than: 30d}
          not: {sales_stage: lost}
        assign: {team: ka-east, strategy: best_match, requires_approval: true}
        overflow: {pool: east-pool}
    fallback: {pool: unassigned}
policies:
  capacity: {default_max_customers: 200, count_won: false}
  disputes: {panel: {team: arb, size: 3}, quorum: 2, sla: 7d}
)",
                               &yaml_errors);
  v1::Ruleset from_json = Load(R"({
  "ruleset": "acme",
  "segments": [
    {"name": "ka", "when": {"any": [
      {"annual_revenue": {"gte": 50000000}},
      {"tags": {"any_of": ["strategic"]}}]}}
  ],
  "departments": {
    "sales": {
      "rules": [
        {"id": "east",
         "when": {"region": {"under": ["CN/East", "CN/North"]},
                  "customer_type": ["enterprise", "smb"],
                  "segment": "ka",
                  "last_activity_time": {"newer_than": "30d"},
                  "not": {"sales_stage": "lost"}},
         "assign": {"team": "ka-east", "strategy": "best_match", "requires_approval": true},
         "overflow": {"pool": "east-pool"}}
      ],
      "fallback": {"pool": "unassigned"}
    }
  },
  "policies": {
    "capacity": {"default_max_customers": 200, "count_won": false},
    "disputes": {"panel": {"team": "arb", "size": 3}, "quorum": 2, "sla": "7d"}
  }
})",
                               &json_errors);
  EXPECT_THAT(yaml_errors, IsEmpty());
  EXPECT_THAT(json_errors, IsEmpty());
  EXPECT_TRUE(MessageDifferencer::Equals(from_yaml, from_json))
      << from_yaml.DebugString() << "\nvs\n"
      << from_json.DebugString();
  EXPECT_EQ(from_yaml.departments(0).rules(0).when().clauses_size(), 5);
}

TEST(LoaderTest, JsonErrorsAreLocatedToo) {
  std::vector<std::string> errors;
  Load("{\"ruleset\": \"a\",\n \"departments\": {\"s\": {\"rules\": 5}}}",
       &errors);
  EXPECT_THAT(errors, ElementsAre("f.yaml:2:24: departments.s.rules: expected "
                                  "a list, got a scalar"));
}

TEST(LoaderTest, RejectsExplicitZeroWhereDefaultsWouldHideIt) {
  std::vector<std::string> errors;
  Load(
      "policies:\n  capacity: {default_max_customers: 0}\n"
      "  disputes: {quorum: 0}\n",
      &errors);
  EXPECT_THAT(
      errors,
      ElementsAre("f.yaml:2:14: policies.capacity.default_max_customers: "
                  "default_max_customers 0 is out of range 1-1000000",
                  "f.yaml:3:14: policies.disputes.quorum: quorum 0 is "
                  "out of range 1-15"));
}

TEST(LoaderTest, LoadsRosters) {
  Diagnostics diags("r.yaml", nullptr);
  LoadedRoster loaded = LoadRoster(R"(departments:
  - {id: sales, name: 销售部}
reps:
  - {id: zhang.wei, name: 张伟, status: away, skills: [C, C39]}
teams:
  - id: ka
    department: sales
    members:
      - {rep: zhang.wei, capacity: 50, weight: 2}
  - id: p1
    department: sales
    pool: {claim_limit_per_day: 5, cooldown: 30d}
  - id: p2
    department: sales
    pool:
)",
                                   &diags);
  EXPECT_THAT(Strings(diags), IsEmpty());
  v1::Roster want;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(departments { id: "sales" name: "销售部" }
           reps {
             id: "zhang.wei"
             name: "张伟"
             status: AWAY
             skills: [ "C", "C39" ]
           }
           teams {
             id: "ka"
             department: "sales"
             members { rep: "zhang.wei" capacity: 50 weight: 2 }
           }
           teams {
             id: "p1"
             department: "sales"
             pool {
               claim_limit_per_day: 5
               cooldown { seconds: 2592000 }
             }
           }
           teams {
             id: "p2"
             department: "sales"
             pool {}
           })pb",
      &want));
  EXPECT_TRUE(MessageDifferencer::Equals(loaded.roster, want))
      << loaded.roster.DebugString();
}

TEST(LoaderTest, ReportsRosterStructureErrors) {
  Diagnostics diags("r.yaml", nullptr);
  LoadRoster(R"(reps:
  - {id: a, status: gone}
teams:
  - {id: t, department: s, members: [{rep: a, weight: 0, capacity: x}]}
  - {id: u, head: a}
)",
             &diags);
  EXPECT_THAT(
      Strings(diags),
      ElementsAre("r.yaml:2:13: reps[0].status: unknown rep status \"gone\" "
                  "(expected one of: active, away, left)",
                  "r.yaml:4:47: teams[0].members[0].weight: weight 0 is out "
                  "of range 1-1000",
                  "r.yaml:4:58: teams[0].members[0].capacity: expected an "
                  "integer, got \"x\"",
                  "r.yaml:5:13: teams[1].head: unknown key \"head\" in team "
                  "(expected one of: id, department, members, pool)"));
}

TEST(LoaderTest, LoadsCustomers) {
  Diagnostics diags("c.jsonl", nullptr);
  std::optional<v1::Customer> c = LoadCustomer(
      R"({"id": "c-1", "name": "Acme", "region": "CN/East", "annual_revenue": 5,
          "tags": ["a", "b"], "attributes": {"tier": "gold"},
          "created_time": "2026-01-31T09:00:00.5+08:00", "tax_id": "T1",
          "industry": null})",
      "customer", &diags);
  ASSERT_TRUE(c.has_value()) << ::testing::PrintToString(Strings(diags));
  v1::Customer want;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(id: "c-1"
           name: "Acme"
           region: "CN/East"
           annual_revenue: 5
           tags: [ "a", "b" ]
           attributes { key: "tier" value: "gold" }
           created_time { seconds: 1769821200 nanos: 500000000 }
           tax_id: "T1")pb",
      &want));
  EXPECT_TRUE(MessageDifferencer::Equals(*c, want)) << c->DebugString();
}

TEST(LoaderTest, ReportsCustomerErrors) {
  Diagnostics diags("c.jsonl", nullptr);
  std::optional<v1::Customer> c = LoadCustomer(
      R"({"id": "c-1", "annual_revenue": "5", "created_time": "yesterday", "x": 1})",
      "customer", &diags);
  EXPECT_FALSE(c.has_value());
  EXPECT_THAT(
      Strings(diags),
      ElementsAre("c.jsonl:1:15: customer.annual_revenue: expected an integer, "
                  "got the string \"5\"",
                  "c.jsonl:1:38: customer.created_time: expected an RFC 3339 "
                  "timestamp such as 2026-01-31T09:00:00Z, got \"yesterday\"",
                  "c.jsonl:1:67: customer.x: unknown key \"x\" in customer "
                  "(expected one of: id, name, region, industry, "
                  "customer_type, sales_stage, value_tier, annual_revenue, "
                  "employee_count, tags, attributes, created_time, "
                  "last_activity_time, tax_id, email_domain, phone)"));
  Diagnostics syntax("c.jsonl", nullptr);
  EXPECT_FALSE(LoadCustomer("{\"id\": ", "customer", &syntax).has_value());
  EXPECT_TRUE(syntax.has_errors());
  Diagnostics not_map("c.jsonl", nullptr);
  EXPECT_FALSE(LoadCustomer("[1]", "customer", &not_map).has_value());
  EXPECT_THAT(Strings(not_map),
              ElementsAre("c.jsonl:1:1: customer: expected a map (customer), "
                          "got a list"));
}

TEST(LoaderTest, StopsOnAliasBombs) {
  // Each segment's `when` holds the previous one twice: a walk of segment k
  // visits 2^k blocks, though the text stays small.
  std::string text = "segments:\n  - {name: s0, when: &c0 {region: A}}\n";
  for (int i = 1; i <= 30; ++i) {
    absl::StrAppend(&text, "  - {name: s", i, ", when: &c", i, " {any: [*c",
                    i - 1, ", *c", i - 1, "]}}\n");
  }
  std::vector<std::string> errors;
  Load(text, &errors);
  EXPECT_THAT(errors, ::testing::Contains(::testing::HasSubstr(
                          "file expands to more than 200000 nodes")));
}

TEST(ReadTextFileTest, ReadsFilesAndReportsProblems) {
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/read_text_file_test.yaml";
  {
    std::ofstream out(path);
    out << "ruleset: r\n";
  }
  absl::StatusOr<std::string> text = ReadTextFile(path);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "ruleset: r\n");
  EXPECT_EQ(ReadTextFile(path, 4).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadTextFile(dir + "/no-such-file.yaml").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadTextFile(dir).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace custodian::rules
