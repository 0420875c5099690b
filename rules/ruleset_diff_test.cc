#include "rules/ruleset_diff.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "rules/front_testing.h"
#include "rules/loader.h"
#include "rules/validator.h"

namespace custodian::rules {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::IsEmpty;

// The base ruleset the tests edit.
constexpr absl::string_view kBase = R"(ruleset: acme
description: base
segments:
  - name: key_account
    when: {annual_revenue: {gte: 50000000}}
  - name: dormant
    when: {last_activity_time: {older_than: 180d}}
departments:
  sales:
    rules:
      - id: ka-east
        when:
          region: {under: CN/East}
          segment: key_account
        assign: {team: ka-east, strategy: best_match, requires_approval: true}
        overflow: {pool: east-pool}
      - id: mfg
        when:
          region: {under: [CN/East, CN/North]}
          industry: {under: C}
        assign: {team: mfg-east}
      - id: leads
        when: {sales_stage: lead}
        assign: {pool: east-pool}
      - id: rest
        assign: {team: sales-all}
    fallback: {pool: unassigned}
  service:
    rules:
      - id: service-cn
        when: {region: {under: CN}}
        assign: {team: service-cn, strategy: least_loaded}
policies:
  capacity: {default_max_customers: 200}
  recycling:
    - department: sales
      when: {last_activity_time: {older_than: 30d}}
      to_pool: east-pool
  duplicates: {match_on: [tax_id, name]}
  disputes:
    panel: {team: arbitration, size: 3}
)";

v1::Ruleset Load(absl::string_view text) {
  Diagnostics diags("f.yaml", nullptr);
  LoadedRuleset loaded = LoadRuleset(text, &diags);
  EXPECT_THAT(testing::Strings(diags), IsEmpty()) << text;
  ApplyRulesetDefaults(&loaded.ruleset);
  return loaded.ruleset;
}

// kBase with each {from, to} replacement applied (each must match).
v1::Ruleset Edited(
    std::vector<std::pair<absl::string_view, absl::string_view>> edits) {
  std::string text(kBase);
  for (const auto& [from, to] : edits) {
    EXPECT_NE(absl::string_view(text).find(from), absl::string_view::npos)
        << from;
    text = absl::StrReplaceAll(text, {{from, to}});
  }
  return Load(text);
}

void ExpectDiff(const v1::RulesetDiff& actual, absl::string_view expected) {
  v1::RulesetDiff want;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      std::string(expected), &want))
      << expected;
  std::string report;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&report);
  EXPECT_TRUE(differencer.Compare(want, actual)) << report << "\nactual:\n"
                                                 << actual.DebugString();
}

// Rules with ids `ids` in one department "d", each assigning to pool "p".
v1::Ruleset WithRules(const std::vector<std::string>& ids) {
  v1::Ruleset r;
  r.set_name("r");
  v1::DepartmentRules* d = r.add_departments();
  d->set_department("d");
  for (const std::string& id : ids) {
    v1::Rule* rule = d->add_rules();
    rule->set_id(id);
    rule->mutable_assign()->set_pool("p");
  }
  ApplyRulesetDefaults(&r);
  return r;
}

int CountPositionChanges(const v1::RulesetDiff& diff) {
  int n = 0;
  for (const v1::DepartmentDiff& d : diff.departments()) {
    for (const v1::RuleChange& r : d.rules()) {
      for (const v1::ValueChange& c : r.changes()) n += c.field() == "position";
    }
  }
  return n;
}

TEST(DiffRulesetsTest, RandomInsertionsAndRemovalsNeverMoveRules) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> from;
    const int n = static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) from.push_back(absl::StrCat("r", i));
    std::vector<std::string> to;
    int added = 0;
    for (const std::string& id : from) {
      if (rng() % 3 == 0) to.push_back(absl::StrCat("new", added++));
      if (rng() % 4 != 0) to.push_back(id);
    }
    const v1::RulesetDiff diff = DiffRulesets(WithRules(from), WithRules(to));
    EXPECT_EQ(CountPositionChanges(diff), 0)
        << absl::StrJoin(from, ",") << " -> " << absl::StrJoin(to, ",");
  }
}

TEST(DiffRulesetsTest, RandomSingleMoveMarksExactlyOneRule) {
  std::mt19937 rng(11);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> from;
    const int n = 2 + static_cast<int>(rng() % 10);
    for (int i = 0; i < n; ++i) from.push_back(absl::StrCat("r", i));
    std::vector<std::string> to = from;
    const int src = static_cast<int>(rng() % n);
    int dst = static_cast<int>(rng() % (n - 1));
    if (dst >= src) ++dst;
    const std::string moved = to[src];
    to.erase(to.begin() + src);
    to.insert(to.begin() + dst, moved);
    const v1::RulesetDiff diff = DiffRulesets(WithRules(from), WithRules(to));
    EXPECT_EQ(CountPositionChanges(diff), 1)
        << absl::StrJoin(from, ",") << " -> " << absl::StrJoin(to, ",");
  }
}

TEST(DiffRulesetsTest, IdenticalRulesetsGiveAnEmptyDiff) {
  const v1::RulesetDiff diff = DiffRulesets(Load(kBase), Load(kBase));
  EXPECT_TRUE(IsEmptyDiff(diff));
  ExpectDiff(diff, "");
}

TEST(DiffRulesetsTest, ClauseOrderAndFormattingAreNotChanges) {
  v1::Ruleset to = Edited(
      {{R"(        when:
          region: {under: CN/East}
          segment: key_account
)",
        R"(        when: {segment: key_account, region: {under: [CN/East]}}
)"},
       {"assign: {team: mfg-east}",
        "assign: {team: mfg-east, strategy: round_robin}"}});
  EXPECT_TRUE(IsEmptyDiff(DiffRulesets(Load(kBase), to)));
}

TEST(DiffRulesetsTest, RuleAddedInTheMiddleDoesNotMoveLaterRules) {
  v1::Ruleset to = Edited({{"      - id: leads\n",
                            R"(      - id: vip
        description: VIPs first
        when: {tags: {any_of: [vip]}}
        assign: {rep: zhang.wei}
      - id: leads
)"}});
  ExpectDiff(DiffRulesets(Load(kBase), to), R"pb(
    departments {
      department: "sales"
      kind: MODIFIED
      rules {
        kind: ADDED
        rule_id: "vip"
        old_position: -1
        new_position: 2
        changes { field: "when.tags" after: "tags: {any_of: [vip]}" }
        changes { field: "assign" after: "{rep: zhang.wei}" }
        changes { field: "description" after: "VIPs first" }
      }
    }
  )pb");
}

TEST(DiffRulesetsTest, RuleRemovedDoesNotMoveLaterRules) {
  v1::Ruleset to = Edited({{R"(      - id: mfg
        when:
          region: {under: [CN/East, CN/North]}
          industry: {under: C}
        assign: {team: mfg-east}
)",
                            ""}});
  ExpectDiff(DiffRulesets(Load(kBase), to), R"pb(
    departments {
      department: "sales"
      kind: MODIFIED
      rules {
        kind: REMOVED
        rule_id: "mfg"
        old_position: 1
        new_position: -1
        changes {
          field: "when.region"
          before: "region: {under: [CN/East, CN/North]}"
        }
        changes { field: "when.industry" before: "industry: {under: [C]}" }
        changes {
          field: "assign"
          before: "{team: mfg-east, strategy: round_robin}"
        }
      }
    }
  )pb");
}

TEST(DiffRulesetsTest, ConditionChangeReportsOnlyThatClause) {
  v1::Ruleset to = Edited(
      {{"region: {under: [CN/East, CN/North]}", "region: {under: [CN/East]}"}});
  ExpectDiff(DiffRulesets(Load(kBase), to), R"pb(
    departments {
      department: "sales"
      kind: MODIFIED
      rules {
        kind: MODIFIED
        rule_id: "mfg"
        old_position: 1
        new_position: 1
        changes {
          field: "when.region"
          before: "region: {under: [CN/East, CN/North]}"
          after: "region: {under: [CN/East]}"
        }
      }
    }
  )pb");
}

TEST(DiffRulesetsTest, ClauseOnOneSideOnlyHasAnEmptySide) {
  v1::Ruleset to = Edited({{"        when: {sales_stage: lead}\n",
                            "        when: {customer_type: smb, not: {tags: "
                            "{any_of: [x]}}}\n"}});
  ExpectDiff(DiffRulesets(Load(kBase), to), R"pb(
    departments {
      department: "sales"
      kind: MODIFIED
      rules {
        kind: MODIFIED
        rule_id: "leads"
        old_position: 2
        new_position: 2
        changes { field: "when.customer_type" after: "customer_type: smb" }
        changes { field: "when.not" after: "not: {tags: {any_of: [x]}}" }
        changes { field: "when.sales_stage" before: "sales_stage: lead" }
      }
    }
  )pb");
}

TEST(DiffRulesetsTest, TargetOverflowAndDescriptionChanges) {
  v1::Ruleset to = Edited(
      {{"assign: {team: ka-east, strategy: best_match, requires_approval: "
        "true}\n        overflow: {pool: east-pool}",
        "description: now with a rep\n        assign: {rep: zhang.wei}"},
       {"assign: {team: service-cn, strategy: least_loaded}",
        "assign: {team: service-cn, strategy: least_loaded}\n        "
        "overflow: {team: service-global}"}});
  ExpectDiff(DiffRulesets(Load(kBase), to), R"pb(
    departments {
      department: "sales"
      kind: MODIFIED
      rules {
        kind: MODIFIED
        rule_id: "ka-east"
        old_position: 0
        new_position: 0
        changes {
          field: "assign"
          before: "{team: ka-east, strategy: best_match, requires_approval: true}"
          after: "{rep: zhang.wei}"
        }
        changes { field: "overflow" before: "{pool: east-pool}" }
        changes { field: "description" after: "now with a rep" }
      }
    }
    departments {
      department: "service"
      kind: MODIFIED
      rules {
        kind: MODIFIED
        rule_id: "service-cn"
        old_position: 0
        new_position: 0
        changes {
          field: "overflow"
          after: "{team: service-global, strategy: round_robin}"
        }
      }
    }
  )pb");
}

TEST(DiffRulesetsTest, MovedRuleIsTheOnlyOneWithAPositionChange) {
  // `rest` moves from last to first: the others keep their relative order.
  v1::Ruleset to =
      Edited({{"      - id: rest\n        assign: {team: sales-all}\n", ""},
              {"    rules:\n      - id: ka-east\n",
               "    rules:\n      - id: rest\n        assign: "
               "{team: sales-all}\n      - id: ka-east\n"}});
  ExpectDiff(DiffRulesets(Load(kBase), to), R"pb(
    departments {
      department: "sales"
      kind: MODIFIED
      rules {
        kind: MODIFIED
        rule_id: "rest"
        old_position: 3
        new_position: 0
        changes { field: "position" before: "3" after: "0" }
      }
    }
  )pb");
}

TEST(DiffRulesetsTest, SwappedNeighboursMoveOneRule) {
  v1::Ruleset to =
      Edited({{"      - id: leads\n        when: {sales_stage: lead}\n"
               "        assign: {pool: east-pool}\n",
               ""},
              {"      - id: mfg\n",
               "      - id: leads\n        when: {sales_stage: "
               "lead}\n        assign: {pool: east-pool}\n"
               "      - id: mfg\n"}});
  ExpectDiff(DiffRulesets(Load(kBase), to), R"pb(
    departments {
      department: "sales"
      kind: MODIFIED
      rules {
        kind: MODIFIED
        rule_id: "leads"
        old_position: 2
        new_position: 1
        changes { field: "position" before: "2" after: "1" }
      }
    }
  )pb");
}

TEST(DiffRulesetsTest, FallbackChange) {
  v1::Ruleset to = Edited({{"    fallback: {pool: unassigned}\n", ""}});
  ExpectDiff(DiffRulesets(Load(kBase), to), R"pb(
    departments {
      department: "sales"
      kind: MODIFIED
      fallback { field: "fallback" before: "{pool: unassigned}" }
    }
  )pb");
}

TEST(DiffRulesetsTest, DepartmentAddedAndRemoved) {
  v1::Ruleset to = Edited({{R"(  service:
    rules:
      - id: service-cn
        when: {region: {under: CN}}
        assign: {team: service-cn, strategy: least_loaded}
)",
                            R"(  marketing:
    rules:
      - id: nurture
        assign: {pool: mkt-pool}
    fallback: {team: mkt, strategy: weighted}
)"}});
  ExpectDiff(DiffRulesets(Load(kBase), to), R"pb(
    departments {
      department: "marketing"
      kind: ADDED
      rules {
        kind: ADDED
        rule_id: "nurture"
        old_position: -1
        new_position: 0
        changes { field: "assign" after: "{pool: mkt-pool}" }
      }
      fallback { field: "fallback" after: "{team: mkt, strategy: weighted}" }
    }
    departments {
      department: "service"
      kind: REMOVED
      rules {
        kind: REMOVED
        rule_id: "service-cn"
        old_position: 0
        new_position: -1
        changes { field: "when.region" before: "region: {under: [CN]}" }
        changes {
          field: "assign"
          before: "{team: service-cn, strategy: least_loaded}"
        }
      }
    }
  )pb");
}

TEST(DiffRulesetsTest, DepartmentOrderIsNotAChange) {
  v1::Ruleset from = Load(kBase);
  v1::Ruleset to = from;
  to.mutable_departments()->SwapElements(0, 1);
  EXPECT_TRUE(IsEmptyDiff(DiffRulesets(from, to)));
}

TEST(DiffRulesetsTest, SegmentsAddedRemovedAndModified) {
  v1::Ruleset to = Edited({{R"(  - name: key_account
    when: {annual_revenue: {gte: 50000000}}
  - name: dormant
    when: {last_activity_time: {older_than: 180d}}
)",
                            R"(  - name: dormant
    description: no activity for half a year
    when: {last_activity_time: {older_than: 180d}}
  - name: key_account
    when: {annual_revenue: {gte: 80000000}}
  - name: new_lead
    when: {sales_stage: lead}
)"}});
  ExpectDiff(DiffRulesets(Load(kBase), to), R"pb(
    segments {
      kind: MODIFIED
      name: "dormant"
      changes { field: "position" before: "1" after: "0" }
      changes { field: "description" after: "no activity for half a year" }
    }
    segments {
      kind: MODIFIED
      name: "key_account"
      changes {
        field: "when"
        before: "{annual_revenue: {gte: 50000000}}"
        after: "{annual_revenue: {gte: 80000000}}"
      }
    }
    segments {
      kind: ADDED
      name: "new_lead"
      changes { field: "when" after: "{sales_stage: lead}" }
    }
  )pb");

  v1::Ruleset without = Edited({{R"(  - name: dormant
    when: {last_activity_time: {older_than: 180d}}
)",
                                 ""}});
  ExpectDiff(DiffRulesets(Load(kBase), without), R"pb(
    segments {
      kind: REMOVED
      name: "dormant"
      changes {
        field: "when"
        before: "{last_activity_time: {older_than: 180d}}"
      }
    }
  )pb");
}

TEST(DiffRulesetsTest, PolicyLeafChanges) {
  v1::Ruleset to =
      Edited({{"capacity: {default_max_customers: 200}",
               "capacity: {default_max_customers: 150, count_won: true}\n  "
               "on_drift: reassign\n  protection: {new_owner: 14d}"},
              {"older_than: 30d}}", "older_than: 45d}}"},
              {"match_on: [tax_id, name]", "match_on: [tax_id]"},
              {"panel: {team: arbitration, size: 3}",
               "panel: {team: arbitration, size: 5}\n    sla: 3d"}});
  ExpectDiff(DiffRulesets(Load(kBase), to), R"pb(
    policies {
      field: "policies.capacity.default_max_customers"
      before: "200"
      after: "150"
    }
    policies {
      field: "policies.capacity.count_won"
      before: "false"
      after: "true"
    }
    policies { field: "policies.on_drift" before: "keep" after: "reassign" }
    policies {
      field: "policies.recycling[0]"
      before: "{department: sales, when: {last_activity_time: {older_than: 30d}}, to_pool: east-pool}"
      after: "{department: sales, when: {last_activity_time: {older_than: 45d}}, to_pool: east-pool}"
    }
    policies {
      field: "policies.protection.new_owner"
      before: "0s"
      after: "14d"
    }
    policies {
      field: "policies.duplicates.match_on"
      before: "[tax_id, name]"
      after: "[tax_id]"
    }
    policies { field: "policies.disputes.panel.size" before: "3" after: "5" }
    policies { field: "policies.disputes.quorum" before: "2" after: "3" }
    policies { field: "policies.disputes.sla" before: "7d" after: "3d" }
  )pb");
}

TEST(DiffRulesetsTest, WholePolicyItemsAddedAndRemoved) {
  v1::Ruleset to =
      Edited({{"  disputes:\n    panel: {team: arbitration, size: 3}\n", ""},
              {"      to_pool: east-pool\n",
               "      to_pool: east-pool\n    - department: "
               "service\n      when: {sales_stage: lost}\n"
               "      to_pool: svc-pool\n"}});
  ExpectDiff(DiffRulesets(Load(kBase), to), R"pb(
    policies {
      field: "policies.recycling[1]"
      after: "{department: service, when: {sales_stage: lost}, to_pool: svc-pool}"
    }
    policies {
      field: "policies.disputes"
      before: "{panel: {team: arbitration, size: 3}, quorum: 2, sla: 7d, on_expiry: uphold, reappeal_after: 30d}"
    }
  )pb");
}

TEST(DiffRulesetsTest, NameChange) {
  ExpectDiff(
      DiffRulesets(Load(kBase), Edited({{"ruleset: acme", "ruleset: acme-2"}})),
      R"pb(
        name { field: "ruleset" before: "acme" after: "acme-2" }
      )pb");
}

TEST(DiffRulesetsTest, DiffOfTheExampleAgainstNothingListsEverything) {
  v1::Ruleset empty;
  ApplyRulesetDefaults(&empty);
  const v1::RulesetDiff diff = DiffRulesets(empty, Load(kBase));
  ASSERT_EQ(diff.departments_size(), 2);
  EXPECT_EQ(diff.departments(0).kind(), v1::ADDED);
  EXPECT_EQ(diff.departments(0).rules_size(), 4);
  EXPECT_EQ(diff.segments_size(), 2);
  EXPECT_EQ(diff.name().after(), "acme");
  // And back: everything removed.
  const v1::RulesetDiff back = DiffRulesets(Load(kBase), empty);
  ASSERT_EQ(back.departments_size(), 2);
  EXPECT_EQ(back.departments(1).kind(), v1::REMOVED);
  EXPECT_EQ(back.departments(1).rules(0).kind(), v1::REMOVED);
  EXPECT_EQ(back.segments(0).kind(), v1::REMOVED);
}

}  // namespace
}  // namespace custodian::rules
