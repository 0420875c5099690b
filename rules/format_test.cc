#include "rules/format.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "rules/check.h"
#include "rules/front_testing.h"
#include "rules/loader.h"
#include "rules/validator.h"

namespace custodian::rules {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::IsEmpty;
using testing::Strings;

template <typename T>
T Parse(absl::string_view text_proto) {
  T out;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
      std::string(text_proto), &out))
      << text_proto;
  return out;
}

std::string ReadExample(absl::string_view name) {
  absl::StatusOr<std::string> text =
      ReadTextFile(absl::StrCat(CUSTODIAN_SOURCE_DIR, "/examples/", name));
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

// Loads ruleset text and applies defaults; fills *errors with loader errors.
v1::Ruleset LoadWithDefaults(absl::string_view text,
                             std::vector<std::string>* errors) {
  Diagnostics diags("f.yaml", nullptr);
  LoadedRuleset loaded = LoadRuleset(text, &diags);
  *errors = Strings(diags);
  ApplyRulesetDefaults(&loaded.ruleset);
  return loaded.ruleset;
}

v1::Roster LoadRosterWithDefaults(absl::string_view text,
                                  std::vector<std::string>* errors) {
  Diagnostics diags("f.yaml", nullptr);
  LoadedRoster loaded = LoadRoster(text, &diags);
  *errors = Strings(diags);
  ApplyRosterDefaults(&loaded.roster);
  return loaded.roster;
}

// Formats `r`, loads the text back and expects the same proto.
void ExpectRulesetRoundTrip(const v1::Ruleset& r) {
  const std::string text = FormatRulesetYaml(r);
  std::vector<std::string> errors;
  v1::Ruleset back = LoadWithDefaults(text, &errors);
  EXPECT_THAT(errors, IsEmpty()) << text;
  std::string report;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&report);
  EXPECT_TRUE(differencer.Compare(r, back)) << report << "\n" << text;
}

void ExpectRosterRoundTrip(const v1::Roster& r) {
  const std::string text = FormatRosterYaml(r);
  std::vector<std::string> errors;
  v1::Roster back = LoadRosterWithDefaults(text, &errors);
  EXPECT_THAT(errors, IsEmpty()) << text;
  std::string report;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&report);
  EXPECT_TRUE(differencer.Compare(r, back)) << report << "\n" << text;
}

// ---------------------------------------------------------------------------
// Pieces.

TEST(FormatConditionTest, UsesShorthandsTheWayAdminsWriteThem) {
  auto c = Parse<v1::Condition>(R"pb(
    clauses {
      field {
        field: "region"
        operators { under { values: "CN/East" } }
      }
    }
    clauses { segment { name: "key_account" } }
    clauses {
      field {
        field: "customer_type"
        operators {
          in {
            values { string_value: "enterprise" }
            values { string_value: "smb" }
          }
        }
      }
    }
    clauses {
      field {
        field: "sales_stage"
        operators { eq { string_value: "lead" } }
      }
    }
  )pb");
  EXPECT_EQ(FormatCondition(c),
            "{region: {under: [CN/East]}, segment: key_account, "
            "customer_type: [enterprise, smb], sales_stage: lead}");
}

TEST(FormatConditionTest, EmptyBlockIsEmptyMap) {
  EXPECT_EQ(FormatCondition(v1::Condition()), "{}");
}

TEST(FormatConditionTest, SeveralOperatorsOnOneFieldFormAMap) {
  auto c = Parse<v1::Condition>(R"pb(
    clauses {
      field {
        field: "annual_revenue"
        operators { gte: 1000 }
        operators { lt: 5000000 }
      }
    }
    clauses {
      field {
        field: "sales_stage"
        operators { not_in { values { string_value: "lost" } } }
      }
    }
    clauses {
      field {
        field: "name"
        operators { matches: "^(Acme|ACME) .*$" }
      }
    }
    clauses {
      field {
        field: "tags"
        operators { none_of { values: "churned" values: "vip" } }
      }
    }
    clauses {
      field {
        field: "value_tier"
        operators { exists: false }
      }
    }
    clauses {
      field {
        field: "last_activity_time"
        operators { older_than { seconds: 2592000 } }
      }
    }
    clauses {
      field {
        field: "created_time"
        operators { newer_than { seconds: 131400 } }
      }
    }
    clauses {
      field {
        field: "employee_count"
        operators { eq { int_value: 50 } }
      }
    }
  )pb");
  EXPECT_EQ(FormatCondition(c),
            "{annual_revenue: {gte: 1000, lt: 5000000}, "
            "sales_stage: {not_in: [lost]}, "
            "name: {matches: ^(Acme|ACME) .*$}, "
            "tags: {none_of: [churned, vip]}, "
            "value_tier: {exists: false}, "
            "last_activity_time: {older_than: 30d}, "
            "created_time: {newer_than: 1d12h30m}, "
            "employee_count: 50}");
}

TEST(FormatConditionTest, NestedBlocks) {
  auto c = Parse<v1::Condition>(R"pb(
    clauses {
      any {
        conditions {
          clauses {
            field {
              field: "annual_revenue"
              operators { gte: 50000000 }
            }
          }
        }
        conditions {
          clauses {
            field {
              field: "tags"
              operators { any_of { values: "strategic" } }
            }
          }
        }
      }
    }
    clauses {
      not {
        clauses { segment { none_of { values: "dormant" values: "churned" } } }
      }
    }
    clauses { all { conditions {} } }
  )pb");
  EXPECT_EQ(FormatCondition(c),
            "{any: [{annual_revenue: {gte: 50000000}}, "
            "{tags: {any_of: [strategic]}}], "
            "not: {segment: {none_of: [dormant, churned]}}, all: [{}]}");
}

TEST(FormatConditionTest, DuplicateKeysBecomeOneAllClause) {
  auto c = Parse<v1::Condition>(R"pb(
    clauses {
      field {
        field: "region"
        operators { under { values: "CN" } }
      }
    }
    clauses {
      field {
        field: "region"
        operators { not_under { values: "CN/East" } }
      }
    }
  )pb");
  EXPECT_EQ(
      FormatCondition(c),
      "{all: [{region: {under: [CN]}}, {region: {not_under: [CN/East]}}]}");
}

TEST(FormatConditionTest, QuotesStringsYamlWouldMisread) {
  auto c = Parse<v1::Condition>(R"pb(
    clauses {
      field {
        field: "attributes.flag"
        operators {
          in {
            values { string_value: "true" }
            values { string_value: "null" }
            values { string_value: "~" }
            values { string_value: "123" }
            values { string_value: "1.5" }
            values { string_value: "0x1F" }
            values { string_value: "1e3" }
            values { string_value: "Yes" }
            values { string_value: " lead" }
            values { string_value: "a: b" }
            values { string_value: "x#y" }
            values { string_value: "a, b" }
            values { string_value: "" }
            values { string_value: "-x" }
            values { string_value: "*ref" }
            values { string_value: "say \"hi\"" }
            values { string_value: "plain words" }
            values { string_value: "30d" }
            values { string_value: "张伟" }
          }
        }
      }
    }
  )pb");
  EXPECT_EQ(FormatCondition(c),
            "{attributes.flag: [\"true\", \"null\", \"~\", \"123\", \"1.5\", "
            "\"0x1F\", \"1e3\", \"Yes\", \" lead\", \"a: b\", \"x#y\", "
            "\"a, b\", \"\", \"-x\", \"*ref\", \"say \\\"hi\\\"\", "
            "plain words, 30d, 张伟]}");
}

TEST(FormatConditionTest, RepeatedOperatorSplitsTheField) {
  auto c = Parse<v1::Condition>(R"pb(
    clauses {
      field {
        field: "annual_revenue"
        operators { gte: 10 }
        operators { lt: 500 }
        operators { lt: 90 }
      }
    }
    clauses { segment { name: "a" } }
  )pb");
  EXPECT_EQ(FormatCondition(c),
            "{all: [{annual_revenue: {gte: 10, lt: 500}}, "
            "{annual_revenue: {lt: 90}}, {segment: a}]}");
  EXPECT_EQ(FormatClause(c.clauses(0)),
            "annual_revenue: {gte: 10, lt: 500, lt: 90}");
}

TEST(FormatClauseTest, KeyAndValue) {
  auto region = Parse<v1::Clause>(
      R"pb(field {
             field: "region"
             operators { under { values: "CN/East" values: "CN/North" } }
           })pb");
  EXPECT_EQ(FormatClause(region), "region: {under: [CN/East, CN/North]}");
  EXPECT_EQ(ClauseKey(region), "region");
  auto segment = Parse<v1::Clause>(R"pb(segment { name: "key_account" })pb");
  EXPECT_EQ(FormatClause(segment), "segment: key_account");
  EXPECT_EQ(ClauseKey(segment), "segment");
  auto any = Parse<v1::Clause>(R"pb(
    any { conditions { clauses { segment { name: "a" } } } }
  )pb");
  EXPECT_EQ(FormatClause(any), "any: [{segment: a}]");
  EXPECT_EQ(ClauseKey(any), "any");
  EXPECT_EQ(FormatClause(v1::Clause()), "");
  EXPECT_EQ(ClauseKey(v1::Clause()), "");
}

TEST(FormatTargetTest, KindStrategyApproval) {
  EXPECT_EQ(FormatTarget(Parse<v1::Target>(R"pb(team: "ka-east"
                                                strategy: ROUND_ROBIN
                                                requires_approval: true)pb")),
            "{team: ka-east, strategy: round_robin, requires_approval: true}");
  EXPECT_EQ(FormatTarget(
                Parse<v1::Target>(R"pb(team: "mfg" strategy: BEST_MATCH)pb")),
            "{team: mfg, strategy: best_match}");
  EXPECT_EQ(FormatTarget(Parse<v1::Target>(R"pb(pool: "east-pool")pb")),
            "{pool: east-pool}");
  EXPECT_EQ(FormatTarget(Parse<v1::Target>(R"pb(rep: "zhang.wei")pb")),
            "{rep: zhang.wei}");
  EXPECT_EQ(FormatTarget(Parse<v1::Target>(R"pb(rep: "a@b.com")pb")),
            "{rep: a@b.com}");
  EXPECT_EQ(FormatTarget(Parse<v1::Target>(R"pb(rep: "@x")pb")),
            "{rep: \"@x\"}");
}

TEST(FormatRosterPiecesTest, MemberAndPool) {
  EXPECT_EQ(
      FormatTeamMember(Parse<v1::TeamMember>(R"pb(rep: "li.na" weight: 1)pb")),
      "{rep: li.na}");
  EXPECT_EQ(FormatTeamMember(Parse<v1::TeamMember>(R"pb(rep: "zhang.wei"
                                                        capacity: 0
                                                        weight: 2)pb")),
            "{rep: zhang.wei, capacity: 0, weight: 2}");
  EXPECT_EQ(FormatPoolSettings(Parse<v1::PoolSettings>(
                R"pb(claim_limit_per_day: 5
                     cooldown { seconds: 2592000 })pb")),
            "{claim_limit_per_day: 5, cooldown: 30d}");
  EXPECT_EQ(FormatPoolSettings(v1::PoolSettings()), "{}");
}

TEST(FormatFlowTest, PoliciesInFileShape) {
  auto p = Parse<v1::Policies>(R"pb(
    capacity { default_max_customers: 200 }
    on_drift: REASSIGN
    recycling {
      department: "sales"
      when {
        clauses {
          field {
            field: "sales_stage"
            operators { not_in { values { string_value: "won" } } }
          }
        }
      }
      to_pool: "east-pool"
    }
    duplicates { match_on: TAX_ID match_on: NAME on_match: FLAG_ONLY }
    disputes {
      panel { team: "arb" size: 3 }
      quorum: 2
      sla { seconds: 604800 }
    }
  )pb");
  EXPECT_EQ(FormatFlow(p),
            "{capacity: {default_max_customers: 200, count_won: false}, "
            "on_drift: reassign, recycling: [{department: sales, when: "
            "{sales_stage: {not_in: [won]}}, to_pool: east-pool}], "
            "duplicates: {match_on: [tax_id, name], on_match: flag_only}, "
            "disputes: {panel: {team: arb, size: 3}, quorum: 2, sla: 7d}}");
  const auto* d = v1::Policies::descriptor();
  EXPECT_EQ(FormatFieldValue(p, d->FindFieldByName("on_drift")), "reassign");
  EXPECT_EQ(FormatFieldValue(p, d->FindFieldByName("protection")), "");
  EXPECT_EQ(
      FormatFieldValue(
          p.duplicates(),
          v1::DuplicatesPolicy::descriptor()->FindFieldByName("match_on")),
      "[tax_id, name]");
  EXPECT_EQ(
      FormatFieldValue(p.disputes().panel(),
                       v1::PanelSpec::descriptor()->FindFieldByName("team")),
      "arb");
}

// ---------------------------------------------------------------------------
// Whole files.

TEST(FormatRulesetYamlTest, ExampleRendersInFileShape) {
  std::vector<std::string> errors;
  v1::Ruleset r = LoadWithDefaults(ReadExample("ruleset.yaml"), &errors);
  ASSERT_THAT(errors, IsEmpty());
  EXPECT_EQ(FormatRulesetYaml(r), R"(ruleset: acme-fy2026
description: Ownership rules for FY2026
segments:
  - name: key_account
    when:
      any: [{annual_revenue: {gte: 50000000}}, {tags: {any_of: [strategic]}}]
  - name: dormant
    when:
      last_activity_time: {older_than: 180d}
departments:
  sales:
    rules:
      - id: key-accounts-east
        description: Key accounts in the East go to the KA team; a manager approves
        when:
          region: {under: [CN/East]}
          segment: key_account
        assign: {team: ka-east, strategy: best_match, requires_approval: true}
        overflow: {pool: east-pool}
      - id: manufacturing-north-east
        when:
          region: {under: [CN/East, CN/North]}
          industry: {under: [C]}
          customer_type: [enterprise, smb]
          sales_stage: {not_in: [lost]}
        assign: {team: mfg-east, strategy: round_robin}
      - id: new-leads-to-pool
        when:
          sales_stage: lead
        assign: {pool: east-pool}
    fallback: {pool: unassigned-sales}
  service:
    rules:
      - id: service-cn
        when:
          region: {under: [CN]}
        assign: {team: service-cn, strategy: least_loaded}
    fallback: {team: service-global, strategy: round_robin}
policies:
  capacity: {default_max_customers: 200, count_won: false}
  on_drift: keep
  recycling:
    - department: sales
      when:
        last_activity_time: {older_than: 30d}
        sales_stage: {not_in: [won]}
      to_pool: east-pool
  protection: {new_owner: 14d}
  duplicates: {match_on: [tax_id, email_domain, name], on_match: route_to_existing_owner}
  disputes: {panel: {team: arbitration, size: 3}, quorum: 2, sla: 7d, on_expiry: uphold, reappeal_after: 30d}
  review: {stale_after: 90d}
)");
}

TEST(FormatRulesetYamlTest, ExampleRoundTripsAndStillValidates) {
  std::vector<std::string> errors;
  v1::Ruleset r = LoadWithDefaults(ReadExample("ruleset.yaml"), &errors);
  ASSERT_THAT(errors, IsEmpty());
  ExpectRulesetRoundTrip(r);
  std::vector<std::string> roster_errors;
  v1::Roster roster =
      testing::RosterFromText(ReadExample("roster.yaml"), &roster_errors);
  ASSERT_THAT(roster_errors, IsEmpty());
  auto check = CheckRulesetText(FormatRulesetYaml(r), "out.yaml", &roster);
  EXPECT_TRUE(check->valid()) << testing::Strings(check->diagnostics)[0];
}

TEST(FormatRulesetYamlTest, KeepsPresenceOfEmptyParts) {
  auto r = Parse<v1::Ruleset>(R"pb(
    name: "r"
    segments {
      name: "everyone"
      when {}
    }
    departments {
      department: "sales"
      rules {
        id: "a"
        when {}
        assign { pool: "p" }
      }
      rules {
        id: "b"
        assign { team: "t" strategy: WEIGHTED }
      }
    }
    departments { department: "empty" }
  )pb");
  ApplyRulesetDefaults(&r);
  EXPECT_EQ(FormatRulesetYaml(r), R"(ruleset: r
segments:
  - name: everyone
    when: {}
departments:
  sales:
    rules:
      - id: a
        when: {}
        assign: {pool: p}
      - id: b
        assign: {team: t, strategy: weighted}
  empty: {}
policies:
  capacity: {default_max_customers: 200, count_won: false}
  on_drift: keep
  protection: {new_owner: 0s}
  duplicates: {on_match: route_to_existing_owner}
  review: {stale_after: 90d}
)");
  ExpectRulesetRoundTrip(r);
}

TEST(FormatRulesetYamlTest, QuotedDescriptionsAndValuesRoundTrip) {
  auto r = Parse<v1::Ruleset>(R"pb(
    name: "2026"
    description: "line one\nline two: with \"quotes\" # and a hash\ttab"
    departments {
      department: "sales"
      rules {
        id: "r1"
        description: "true"
        when {
          clauses {
            field {
              field: "attributes.code"
              operators { eq { string_value: "007" } }
            }
          }
          clauses {
            field {
              field: "name"
              operators { ne { string_value: "  padded  " } }
            }
          }
          clauses {
            field {
              field: "region"
              operators { under { values: "中国/华东" } }
            }
          }
          clauses {
            field {
              field: "name"
              operators { matches: "[a-z]+\\d{2,}" }
            }
          }
        }
        assign { rep: "x@y.z" }
      }
    }
  )pb");
  ApplyRulesetDefaults(&r);
  // Two `name` clauses would share a key; keep one.
  r.mutable_departments(0)
      ->mutable_rules(0)
      ->mutable_when()
      ->mutable_clauses()
      ->DeleteSubrange(1, 1);
  ExpectRulesetRoundTrip(r);
}

TEST(FormatRulesetYamlTest, DuplicateClauseKeysKeepTheirMeaning) {
  auto r = Parse<v1::Ruleset>(R"pb(
    name: "r"
    departments {
      department: "sales"
      rules {
        id: "a"
        when {
          clauses {
            field {
              field: "region"
              operators { under { values: "CN" } }
            }
          }
          clauses {
            field {
              field: "region"
              operators { not_under { values: "CN/East" } }
            }
          }
        }
        assign { pool: "p" }
      }
    }
  )pb");
  ApplyRulesetDefaults(&r);
  std::vector<std::string> errors;
  v1::Ruleset back = LoadWithDefaults(FormatRulesetYaml(r), &errors);
  ASSERT_THAT(errors, IsEmpty());
  auto expected = Parse<v1::Condition>(R"pb(
    clauses {
      all {
        conditions {
          clauses {
            field {
              field: "region"
              operators { under { values: "CN" } }
            }
          }
        }
        conditions {
          clauses {
            field {
              field: "region"
              operators { not_under { values: "CN/East" } }
            }
          }
        }
      }
    }
  )pb");
  EXPECT_TRUE(
      MessageDifferencer::Equals(back.departments(0).rules(0).when(), expected))
      << back.DebugString();
}

TEST(FormatRosterYamlTest, ExampleRendersInFileShapeAndRoundTrips) {
  std::vector<std::string> errors;
  v1::Roster r = LoadRosterWithDefaults(ReadExample("roster.yaml"), &errors);
  ASSERT_THAT(errors, IsEmpty());
  EXPECT_EQ(FormatRosterYaml(r), R"(departments:
  - {id: sales, name: 销售部}
  - {id: service, name: 客户服务部}
  - {id: marketing, name: 市场营销部}
reps:
  - {id: zhang.wei, name: 张伟, status: active, skills: [C, C39, strategic]}
  - {id: li.na, name: 李娜, status: away}
  - {id: chen.jing, name: 陈静, status: active, skills: [C, key_account]}
  - {id: liu.yang, name: 刘洋, status: active}
  - {id: huang.min, name: 黄敏, status: active}
  - {id: zhou.tao, name: 周涛, status: active}
  - {id: wu.xia, name: 吴霞, status: active}
  - {id: xu.lei, name: 徐磊, status: active}
  - {id: wang.fang, name: 王芳, status: active}
  - {id: zhao.lei, name: 赵磊, status: active}
  - {id: sun.li, name: 孙丽, status: active}
  - {id: ma.chao, name: 马超, status: active}
teams:
  - id: ka-east
    department: sales
    members:
      - {rep: zhang.wei, capacity: 50, weight: 2}
      - {rep: li.na}
      - {rep: chen.jing, capacity: 40}
  - id: mfg-east
    department: sales
    members:
      - {rep: liu.yang}
      - {rep: huang.min}
      - {rep: zhou.tao}
  - id: east-pool
    department: sales
    pool: {claim_limit_per_day: 5, cooldown: 30d}
  - id: unassigned-sales
    department: sales
    pool: {claim_limit_per_day: 10}
  - id: service-cn
    department: service
    members:
      - {rep: wu.xia}
      - {rep: xu.lei}
  - id: service-global
    department: service
    members:
      - {rep: ma.chao}
  - id: arbitration
    department: sales
    members:
      - {rep: wang.fang}
      - {rep: zhao.lei}
      - {rep: sun.li}
)");
  ExpectRosterRoundTrip(r);
}

TEST(FormatRosterYamlTest, EdgeCasesRoundTrip) {
  auto r = Parse<v1::Roster>(R"pb(
    departments { id: "sales" name: "sales" }
    departments { id: "ops" name: "yes" }
    reps { id: "123" name: "  Name  " status: LEFT skills: "C" skills: "true" }
    reps { id: "a@b.c" name: "a@b.c" status: AWAY }
    teams {
      id: "p"
      department: "sales"
      pool {}
    }
    teams {
      id: "q"
      department: "ops"
      pool { cooldown {} }
    }
    teams {
      id: "t"
      department: "sales"
      members { rep: "123" capacity: 0 weight: 1000 }
    }
    teams { id: "u" department: "ops" }
  )pb");
  ExpectRosterRoundTrip(r);
  EXPECT_EQ(FormatRosterYaml(v1::Roster()), "{}\n");
}

// ---------------------------------------------------------------------------
// Randomized round trip: rulesets built from random pieces, including
// strings that YAML would misread.

class RandomRuleset {
 public:
  explicit RandomRuleset(uint32_t seed) : rng_(seed) {}

  v1::Ruleset Make() {
    v1::Ruleset r;
    r.set_name(Pick({"acme", "r.1", "x-y_z", "2026"}));
    if (Chance(2)) r.set_description(Text());
    const int segments = Below(4);
    for (int i = 0; i < segments; ++i) {
      v1::Segment* s = r.add_segments();
      s->set_name(absl::StrCat("seg_", i));
      if (Chance(3)) s->set_description(Text());
      if (Chance(4) != 0) *s->mutable_when() = Condition(0);
    }
    const int departments = Below(4);
    for (int d = 0; d < departments; ++d) {
      v1::DepartmentRules* dept = r.add_departments();
      dept->set_department(absl::StrCat("dept", d));
      const int rules = Below(5);
      for (int i = 0; i < rules; ++i) {
        v1::Rule* rule = dept->add_rules();
        rule->set_id(absl::StrCat("rule-", i));
        if (Chance(3)) rule->set_description(Text());
        if (Chance(4) != 0) *rule->mutable_when() = Condition(0);
        *rule->mutable_assign() = Target();
        if (Chance(3)) *rule->mutable_overflow() = Target();
      }
      if (Chance(2)) *dept->mutable_fallback() = Target();
    }
    v1::Policies* p = r.mutable_policies();
    if (Chance(2))
      p->mutable_capacity()->set_default_max_customers(1 + Below(1000));
    if (Chance(2)) p->mutable_capacity()->set_count_won(Chance(2));
    if (Chance(2)) p->set_on_drift(Chance(2) ? v1::KEEP : v1::REASSIGN);
    const int recycling = Below(3);
    for (int i = 0; i < recycling; ++i) {
      v1::RecyclingRule* rr = p->add_recycling();
      rr->set_department("dept0");
      *rr->mutable_when() = Condition(1);
      rr->set_to_pool(Id());
    }
    if (Chance(2))
      p->mutable_protection()->mutable_new_owner()->set_seconds(Below(100000));
    if (Chance(2)) {
      p->mutable_duplicates()->add_match_on(v1::EMAIL_DOMAIN);
      if (Chance(2)) p->mutable_duplicates()->add_match_on(v1::TAX_ID);
    }
    if (Chance(2)) {
      v1::DisputesPolicy* d = p->mutable_disputes();
      if (Chance(4) != 0) {
        d->mutable_panel()->set_team(Id());
        d->mutable_panel()->set_size(1 + Below(15));
      }
      if (Chance(2)) d->set_on_expiry(v1::ESCALATE);
    }
    ApplyRulesetDefaults(&r);
    return r;
  }

 private:
  int Below(int n) { return static_cast<int>(rng_() % n); }
  bool Chance(int n) { return Below(n) == 0; }
  std::string Pick(std::vector<std::string> options) {
    return options[Below(static_cast<int>(options.size()))];
  }
  std::string Text() {
    return Pick({"plain",     "true",  "null",   "~",           "123",
                 "-5",        "1.5e3", "0o17",   "a: b",        "#x",
                 "x #y",      "[a]",   "{a}",    "a,b",         "'q'",
                 "\"dq\"",    " lead", "trail ", "multi\nline", "tab\there",
                 "张伟/华东", "@at",   "`tick",  "%pct",        "!bang",
                 "&amp",      "*star", "|pipe",  ">gt",         "? q",
                 "- dash",    "...",   "---",    "back\\slash", "Off",
                 "=",         "<<",    ".inf",   "0x1F",        "12:30",
                 "a:b",       "yes",   "N"});
  }
  std::string Id() { return Pick({"east-pool", "t1", "123", "a-b"}); }

  v1::Target Target() {
    v1::Target t;
    switch (Below(3)) {
      case 0:
        t.set_team(Id());
        if (Chance(2)) t.set_strategy(static_cast<v1::Strategy>(1 + Below(4)));
        t.set_requires_approval(Chance(2));
        break;
      case 1:
        t.set_rep(Pick({"zhang.wei", "a@b.c", "007", "X-1"}));
        t.set_requires_approval(Chance(2));
        break;
      default:
        t.set_pool(Id());
        break;
    }
    return t;
  }

  v1::Operator Op(bool integer) {
    v1::Operator op;
    if (integer) {
      switch (Below(6)) {
        case 0:
          op.mutable_eq()->set_int_value(Below(1000) - 10);
          break;
        case 1:
          op.mutable_in()->add_values()->set_int_value(Below(1000));
          op.mutable_in()->add_values()->set_int_value(-Below(1000));
          break;
        case 2:
          op.set_gte(Below(1000000));
          break;
        case 3:
          op.set_lt(-Below(1000000));
          break;
        case 4:
          op.set_exists(Chance(2));
          break;
        default:
          op.mutable_not_in()->add_values()->set_int_value(Below(100));
          break;
      }
      return op;
    }
    switch (Below(10)) {
      case 0:
        op.mutable_eq()->set_string_value(Text());
        break;
      case 1:
        op.mutable_ne()->set_string_value(Text());
        break;
      case 2:
        op.mutable_in()->add_values()->set_string_value(Text());
        if (Chance(2)) op.mutable_in()->add_values()->set_string_value(Text());
        break;
      case 3:
        op.mutable_not_in()->add_values()->set_string_value(Text());
        break;
      case 4:
        op.mutable_under()->add_values(Text());
        break;
      case 5:
        op.mutable_not_under()->add_values(Text());
        op.mutable_not_under()->add_values(Text());
        break;
      case 6:
        op.set_matches(Text());
        break;
      case 7:
        op.mutable_any_of()->add_values(Text());
        break;
      case 8:
        op.mutable_older_than()->set_seconds(Below(10000000));
        break;
      default:
        op.mutable_newer_than()->set_seconds(Below(100) * 60);
        break;
    }
    return op;
  }

  v1::Condition Condition(int depth) {
    v1::Condition c;
    const int clauses = Below(4) + (depth > 0 ? 1 : 0);
    std::vector<std::string> used;
    for (int i = 0; i < clauses; ++i) {
      v1::Clause clause;
      switch (depth < 3 ? Below(7) : Below(4)) {
        case 0:
        case 1: {
          const bool integer = Chance(2);
          v1::FieldCondition* f = clause.mutable_field();
          f->set_field(integer ? Pick({"annual_revenue", "employee_count"})
                               : Pick({"region", "name", "attributes.k", "tags",
                                       "sales_stage"}));
          const int ops = 1 + Below(3);
          std::vector<int> seen;
          for (int k = 0; k < ops; ++k) {
            v1::Operator op = Op(integer);
            // A YAML map holds each operator once.
            if (std::find(seen.begin(), seen.end(), op.op_case()) !=
                seen.end()) {
              continue;
            }
            seen.push_back(op.op_case());
            *f->add_operators() = std::move(op);
          }
          break;
        }
        case 2:
          clause.mutable_segment()->set_name(Pick({"seg_0", "true", "1"}));
          break;
        case 3:
          clause.mutable_segment()->mutable_none_of()->add_values(Text());
          break;
        case 4:
          for (int k = 0; k < 1 + Below(2); ++k) {
            *clause.mutable_any()->add_conditions() = Condition(depth + 1);
          }
          break;
        case 5:
          *clause.mutable_all()->add_conditions() = Condition(depth + 1);
          break;
        default:
          *clause.mutable_not_() = Condition(depth + 1);
          break;
      }
      const std::string key = ClauseKey(clause);
      if (std::find(used.begin(), used.end(), key) != used.end()) continue;
      used.push_back(key);
      *c.add_clauses() = std::move(clause);
    }
    return c;
  }

  std::mt19937 rng_;
};

TEST(FormatRulesetYamlTest, RandomRulesetsRoundTrip) {
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    ExpectRulesetRoundTrip(RandomRuleset(seed).Make());
    if (HasFailure()) break;
  }
}

}  // namespace
}  // namespace custodian::rules
