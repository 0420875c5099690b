#include "rules/validator.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "rules/check.h"
#include "rules/front_testing.h"

namespace custodian::rules {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using testing::CheckRuleset;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::kRoster;

constexpr absl::string_view kKnownFields =
    "(rules can read: id, name, region, industry, customer_type, sales_stage, "
    "value_tier, annual_revenue, employee_count, tags, created_time, "
    "last_activity_time, attributes.<key>)";

class ValidatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> errors;
    roster_ = testing::RosterFromText(kRoster, &errors);
    ASSERT_THAT(errors, IsEmpty());
  }

  // Errors of a one-rule ruleset whose `when` is on line 6 from column 15.
  std::vector<std::string> WhenErrors(absl::string_view when) {
    return CheckRuleset(absl::StrCat(R"(ruleset: r
departments:
  sales:
    rules:
      - id: a
        when: )",
                                     when, R"(
        assign: {team: ka}
    fallback: {pool: pool-a}
)"),
                        &roster_);
  }

  // Errors of ruleset proto input, reported as "<request>" without lines.
  std::vector<std::string> ProtoErrors(absl::string_view text_proto) {
    v1::Ruleset ruleset;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
        std::string(text_proto), &ruleset));
    return testing::Strings(
        CheckRulesetProto(ruleset, "<request>", &roster_)->diagnostics);
  }

  v1::Roster roster_;
};

TEST_F(ValidatorTest, ValidRuleHasNoErrors) {
  EXPECT_THAT(WhenErrors("{region: {under: CN/East}, annual_revenue: {gt: 5}}"),
              IsEmpty());
}

TEST_F(ValidatorTest, OperatorThatDoesNotFitTheField) {
  EXPECT_THAT(
      WhenErrors("{region: {gt: 5}}"),
      ElementsAre("f.yaml:6:25: departments.sales.rules[0].when.region.gt: "
                  "operator gt does not fit path field region (allowed: eq, "
                  "ne, in, not_in, under, not_under, matches, exists)"));
  EXPECT_THAT(
      WhenErrors("{tags: strategic, created_time: {under: X}}"),
      ElementsAre(
          "f.yaml:6:22: departments.sales.rules[0].when.tags.eq: operator eq "
          "does not fit tags field tags (allowed: any_of, all_of, none_of)",
          "f.yaml:6:48: departments.sales.rules[0].when.created_time.under: "
          "operator under does not fit timestamp field created_time (allowed: "
          "exists, older_than, newer_than)"));
}

TEST_F(ValidatorTest, UnknownAndMatchOnlyFields) {
  EXPECT_THAT(
      WhenErrors("{colour: red, tax_id: x, attributes.Tier: gold}"),
      ElementsAre(absl::StrCat("f.yaml:6:16: departments.sales.rules[0]."
                               "when.colour: unknown field \"colour\" ",
                               kKnownFields),
                  "f.yaml:6:29: departments.sales.rules[0].when.tax_id: "
                  "field tax_id is used for duplicate matching only; "
                  "conditions cannot read it",
                  "f.yaml:6:40: departments.sales.rules[0].when."
                  "attributes.Tier: attribute key \"Tier\" must be "
                  "1-128 characters of [a-z0-9_]"));
}

TEST_F(ValidatorTest, ValueKindMismatchInProtoInput) {
  EXPECT_THAT(
      ProtoErrors(R"pb(
        name: "r"
        departments {
          department: "sales"
          fallback { pool: "pool-a" }
          rules {
            id: "a"
            assign { team: "ka" }
            when {
              clauses {
                field {
                  field: "annual_revenue"
                  operators { eq { string_value: "5" } }
                }
              }
              clauses {
                field {
                  field: "region"
                  operators {
                    in {
                      values { int_value: 3 }
                      values {}
                    }
                  }
                }
              }
            }
          }
        })pb"),
      ElementsAre(
          "<request>: departments.sales.rules[0].when.annual_revenue.eq: value "
          "must be an integer for integer field annual_revenue, got the "
          "string \"5\"",
          "<request>: departments.sales.rules[0].when.region.in[0]: value must "
          "be a string for path field region, got the integer 3",
          "<request>: departments.sales.rules[0].when.region.in[1]: value is "
          "not set"));
}

TEST_F(ValidatorTest, MalformedPaths) {
  EXPECT_THAT(
      WhenErrors("{region: {under: [CN//East, ' CN']}, industry: C//1}"),
      ElementsAre(
          "f.yaml:6:33: departments.sales.rules[0].when.region.under[0]: path "
          "\"CN//East\": segment 2 is empty",
          "f.yaml:6:43: departments.sales.rules[0].when.region.under[1]: path "
          "\" CN\": segment 1 has a leading or trailing space",
          "f.yaml:6:62: departments.sales.rules[0].when.industry.eq: path "
          "\"C//1\": segment 2 is empty"));
}

TEST_F(ValidatorTest, BadTokens) {
  EXPECT_THAT(
      WhenErrors(
          "{customer_type: [Enterprise, smb], tags: {any_of: [Strategic]}}"),
      ElementsAre(
          "f.yaml:6:32: departments.sales.rules[0].when.customer_type.in[0]: "
          "value \"Enterprise\" of token field customer_type must be 1-128 "
          "characters of [a-z0-9_]",
          "f.yaml:6:66: departments.sales.rules[0].when.tags.any_of[0]: tag "
          "\"Strategic\" must be 1-128 characters of [a-z0-9_]"));
}

TEST_F(ValidatorTest, InvalidRegularExpression) {
  EXPECT_THAT(WhenErrors("{name: {matches: 'a('}}"),
              ElementsAre("f.yaml:6:23: departments.sales.rules[0].when.name."
                          "matches: invalid regular expression \"a(\": "
                          "missing ): a("));
}

TEST_F(ValidatorTest, NonPositiveDurations) {
  EXPECT_THAT(WhenErrors("{created_time: {older_than: 0d}}"),
              ElementsAre("f.yaml:6:31: departments.sales.rules[0].when."
                          "created_time.older_than: older_than must be "
                          "positive, got 0s"));
}

TEST_F(ValidatorTest, EmptyBlocks) {
  EXPECT_THAT(
      WhenErrors("{any: [], region: {}, segment: {any_of: []}}"),
      ElementsAre("f.yaml:6:16: departments.sales.rules[0].when.any: any needs "
                  "at least one sub-block",
                  "f.yaml:6:25: departments.sales.rules[0].when.region: "
                  "condition on region has no operators",
                  "f.yaml:6:47: departments.sales.rules[0].when.segment."
                  "any_of: any_of needs at least one segment name"));
}

TEST_F(ValidatorTest, SegmentsUseOnlyEarlierSegments) {
  EXPECT_THAT(
      CheckRuleset(R"(ruleset: r
segments:
  - {name: a, when: {segment: b}}
  - {name: b, when: {segment: b}}
  - {name: b}
  - {name: c, when: {segment: {any_of: [a, nope]}}}
departments:
  sales:
    rules:
      - id: x
        when: {segment: zzz}
        assign: {team: ka}
      - id: y
        when: {segment: {none_of: [c]}}
        assign: {team: ka}
)"),
      ElementsAre(
          "f.yaml:3:22: segments[0].when.segment: segment \"b\" is defined "
          "after this one (segments[1]); a segment may use only segments "
          "defined before it",
          "f.yaml:4:22: segments[1].when.segment: segment \"b\" cannot use "
          "itself",
          "f.yaml:5:6: segments[2].name: duplicate segment name \"b\" (first "
          "defined at segments[1])",
          "f.yaml:6:44: segments[3].when.segment.any_of[1]: segment \"nope\" "
          "is not defined",
          "f.yaml:11:16: departments.sales.rules[0].when.segment: segment "
          "\"zzz\" is not defined"));
}

TEST_F(ValidatorTest, RuleIdsAndRulesetName) {
  EXPECT_THAT(
      CheckRuleset(R"(departments:
  sales:
    rules:
      - {id: a, assign: {team: ka}}
      - {id: a, assign: {team: ka}}
      - {id: Bad_Id, assign: {team: ka}}
      - {id: fallback, assign: {team: ka}}
      - {assign: {team: ka}}
)"),
      ElementsAre(
          "f.yaml:1:1: ruleset: ruleset name is required",
          "f.yaml:5:10: departments.sales.rules[1].id: duplicate rule id \"a\" "
          "(first used by rules[0])",
          "f.yaml:6:10: departments.sales.rules[2].id: rule id \"Bad_Id\" must "
          "be 1-64 characters of [a-z0-9-] starting with a letter or digit",
          "f.yaml:7:10: departments.sales.rules[3].id: rule id \"fallback\" is "
          "reserved for the department's fallback",
          "f.yaml:8:9: departments.sales.rules[4].id: rule id is required"));
}

TEST_F(ValidatorTest, TargetShapes) {
  EXPECT_THAT(
      CheckRuleset(R"(ruleset: r
departments:
  sales:
    rules:
      - id: a
        assign: {strategy: weighted}
      - id: b
        assign: {pool: pool-a, strategy: round_robin, requires_approval: true}
        overflow: {rep: ann}
      - id: c
        assign: {}
      - id: d
)"),
      ElementsAre(
          "f.yaml:6:9: departments.sales.rules[0].assign: target names none of "
          "team, rep or pool; a target names exactly one of them",
          "f.yaml:6:18: departments.sales.rules[0].assign.strategy: strategy "
          "applies only to team targets",
          "f.yaml:8:32: departments.sales.rules[1].assign.strategy: strategy "
          "applies only to team targets",
          "f.yaml:8:55: departments.sales.rules[1].assign.requires_approval: "
          "requires_approval is not allowed on pool targets: a pool holds "
          "customers unowned until a rep claims them",
          "f.yaml:9:9: departments.sales.rules[1].overflow: overflow is used "
          "only when assign names a team or a rep; this rule assigns to a "
          "pool",
          "f.yaml:11:9: departments.sales.rules[2].assign: target names none "
          "of team, rep or pool; a target names exactly one of them",
          "f.yaml:12:9: departments.sales.rules[3].assign: assign is "
          "required"));
}

TEST_F(ValidatorTest, TargetWithTwoKindsIsReportedOnce) {
  EXPECT_THAT(CheckRuleset("ruleset: r\ndepartments:\n  sales:\n"
                           "    fallback: {team: ka, pool: pool-a}\n"),
              ElementsAre("f.yaml:4:26: departments.sales.fallback.pool: "
                          "target names both team and pool; a target names "
                          "exactly one of team, rep or pool"));
}

TEST_F(ValidatorTest, UnknownStrategy) {
  EXPECT_THAT(CheckRuleset("ruleset: r\ndepartments:\n  sales:\n"
                           "    fallback: {team: ka, strategy: fastest}\n"),
              ElementsAre("f.yaml:4:26: departments.sales.fallback.strategy: "
                          "unknown strategy \"fastest\" (expected one of: "
                          "round_robin, weighted, least_loaded, best_match)"));
  EXPECT_THAT(ProtoErrors(R"pb(name: "r"
                               departments {
                                 department: "sales"
                                 fallback { team: "ka" strategy: 9 }
                               })pb"),
              ElementsAre("<request>: departments.sales.fallback.strategy: "
                          "unknown strategy 9"));
}

TEST_F(ValidatorTest, ReferencesCheckedAgainstTheRoster) {
  EXPECT_THAT(
      CheckRuleset(R"(ruleset: r
departments:
  sales:
    rules:
      - {id: a, assign: {team: nope}}
      - {id: b, assign: {team: pool-a}}
      - {id: c, assign: {pool: ka}}
      - {id: d, assign: {team: svc}}
      - {id: e, assign: {rep: ghost}}
      - {id: f, assign: {pool: nopool}}
    fallback: {pool: svc-pool}
  service:
    rules:
      - {id: g, assign: {rep: ann}}
  legal: {}
policies:
  recycling:
    - {department: hr, when: {sales_stage: lead}, to_pool: ka}
  disputes: {panel: {team: arb, size: 5}, quorum: 6}
)",
                   &roster_),
      ElementsAre(
          "f.yaml:5:26: departments.sales.rules[0].assign.team: unknown team "
          "\"nope\" (not in the roster)",
          "f.yaml:6:26: departments.sales.rules[1].assign.team: \"pool-a\" is "
          "a pool, not a team",
          "f.yaml:7:26: departments.sales.rules[2].assign.pool: \"ka\" is a "
          "team, not a pool",
          "f.yaml:8:26: departments.sales.rules[3].assign.team: team \"svc\" "
          "belongs to department service, not sales",
          "f.yaml:9:26: departments.sales.rules[4].assign.rep: unknown rep "
          "\"ghost\" (not in the roster)",
          "f.yaml:10:26: departments.sales.rules[5].assign.pool: unknown pool "
          "\"nopool\" (not in the roster)",
          "f.yaml:11:16: departments.sales.fallback.pool: pool \"svc-pool\" "
          "belongs to department service, not sales",
          "f.yaml:14:26: departments.service.rules[0].assign.rep: rep \"ann\" "
          "is not a member of any team of department service; their capacity "
          "there is undefined",
          "f.yaml:15:3: departments.legal: unknown department \"legal\" (not "
          "in the roster)",
          "f.yaml:18:8: policies.recycling[0].department: unknown department "
          "\"hr\" (not in the roster)",
          "f.yaml:18:51: policies.recycling[0].to_pool: \"ka\" is a team, not "
          "a pool",
          "f.yaml:19:33: policies.disputes.panel.size: panel size 5 is larger "
          "than team arb's 3 members",
          "f.yaml:19:43: policies.disputes.quorum: quorum 6 is larger than "
          "the panel size 5"));
}

TEST_F(ValidatorTest, WithoutARosterReferencesAreNotChecked) {
  const char* text =
      "ruleset: r\ndepartments:\n  legal:\n    fallback: {team: nope}\n";
  EXPECT_THAT(CheckRuleset(text), IsEmpty());
  EXPECT_THAT(CheckRuleset(text, &roster_),
              ElementsAre("f.yaml:3:3: departments.legal: unknown department "
                          "\"legal\" (not in the roster)",
                          "f.yaml:4:16: departments.legal.fallback.team: "
                          "unknown team \"nope\" (not in the roster)"));
}

TEST_F(ValidatorTest, PanelTeamMustBeATeamOfTheRoster) {
  EXPECT_THAT(
      CheckRuleset("ruleset: r\npolicies:\n  disputes: {panel: {team: pool-a, "
                   "size: 1}}\n",
                   &roster_),
      ElementsAre("f.yaml:3:22: policies.disputes.panel.team: \"pool-a\" is a "
                  "pool, not a team"));
  EXPECT_THAT(CheckRuleset("ruleset: r\npolicies:\n  disputes: {quorum: 2}\n"),
              ElementsAre("f.yaml:3:3: policies.disputes.panel: panel is "
                          "required"));
}

TEST_F(ValidatorTest, PolicyRanges) {
  EXPECT_THAT(
      CheckRuleset(R"(ruleset: r
policies:
  capacity: {default_max_customers: 2000000}
  duplicates: {match_on: [name, name]}
  disputes: {panel: {team: arb, size: 16}, sla: 0d}
  review: {stale_after: 0s}
  recycling:
    - {department: sales, to_pool: p}
)"),
      ElementsAre(
          "f.yaml:3:14: policies.capacity.default_max_customers: "
          "default_max_customers 2000000 is out of range 1-1000000",
          "f.yaml:4:33: policies.duplicates.match_on[1]: duplicate match key "
          "name",
          "f.yaml:5:33: policies.disputes.panel.size: panel size 16 is out of "
          "range 1-15",
          "f.yaml:5:44: policies.disputes.sla: sla must be positive, got 0s",
          "f.yaml:6:12: policies.review.stale_after: stale_after must be "
          "positive, got 0s",
          "f.yaml:8:7: policies.recycling[0].when: when is required and must "
          "not be empty: recycling every customer of a department is almost "
          "certainly a mistake"));
}

TEST_F(ValidatorTest, ReportsRosterErrors) {
  auto check = CheckRosterText(R"(departments:
  - {id: sales}
  - {id: sales}
  - {id: Bad}
reps:
  - {id: ann, skills: [a, a, b/c]}
  - {id: ann}
teams:
  - {id: t1, department: nope, members: [{rep: ann}, {rep: ann}, {rep: zed, capacity: 2000000, weight: 1001}]}
  - {id: p1, department: sales, pool: {claim_limit_per_day: 20000}, members: [{rep: ann}]}
  - {id: t1, department: sales}
)",
                               "r.yaml");
  EXPECT_THAT(
      testing::Strings(check->diagnostics),
      ElementsAre(
          "r.yaml:3:6: departments[1].id: duplicate department id \"sales\" "
          "(first at departments[0])",
          "r.yaml:4:6: departments[2].id: department id \"Bad\" must be 1-64 "
          "characters of [a-z0-9_-] starting with a letter",
          "r.yaml:6:27: reps[0].skills[1]: duplicate skill \"a\"",
          "r.yaml:6:30: reps[0].skills[2]: skill \"b/c\" contains \"/\" or a "
          "control character",
          "r.yaml:7:6: reps[1].id: duplicate rep id \"ann\" (first at "
          "reps[0])",
          "r.yaml:9:14: teams[0].department: unknown department \"nope\" (not "
          "in departments)",
          "r.yaml:9:55: teams[0].members[1].rep: rep \"ann\" appears twice in "
          "this team (first at members[0])",
          "r.yaml:9:67: teams[0].members[2].rep: unknown rep \"zed\" (not in "
          "reps)",
          "r.yaml:9:77: teams[0].members[2].capacity: capacity 2000000 is out "
          "of range 0-1000000",
          "r.yaml:9:96: teams[0].members[2].weight: weight 1001 is out of "
          "range 1-1000",
          "r.yaml:10:40: teams[1].pool.claim_limit_per_day: "
          "claim_limit_per_day 20000 is out of range 0-10000",
          "r.yaml:10:69: teams[1].members: a pool team has no members; remove "
          "members or pool",
          "r.yaml:11:6: teams[2].id: duplicate team id \"t1\" (first at "
          "teams[0])"));
  EXPECT_FALSE(check->valid());
}

TEST(DefaultsTest, RulesetDefaultsFillEveryUnsetField) {
  v1::Ruleset r;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(departments {
             department: "s"
             rules {
               id: "a"
               assign { team: "t" }
               overflow { pool: "p" }
             }
             fallback { team: "u" strategy: WEIGHTED }
           }
           policies { disputes { panel { team: "arb" size: 5 } } })pb",
      &r));
  ApplyRulesetDefaults(&r);
  v1::Ruleset want;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(departments {
             department: "s"
             rules {
               id: "a"
               assign { team: "t" strategy: ROUND_ROBIN }
               overflow { pool: "p" }
             }
             fallback { team: "u" strategy: WEIGHTED }
           }
           policies {
             capacity { default_max_customers: 200 }
             on_drift: KEEP
             protection { new_owner {} }
             duplicates { on_match: ROUTE_TO_EXISTING_OWNER }
             disputes {
               panel { team: "arb" size: 5 }
               quorum: 3
               sla { seconds: 604800 }
               on_expiry: UPHOLD
               reappeal_after { seconds: 2592000 }
             }
             review { stale_after { seconds: 7776000 } }
           })pb",
      &want));
  EXPECT_TRUE(MessageDifferencer::Equals(r, want)) << r.DebugString();
  v1::Ruleset again = r;
  ApplyRulesetDefaults(&again);
  EXPECT_TRUE(MessageDifferencer::Equals(r, again));
}

TEST(DefaultsTest, RulesetDefaultsKeepExplicitValues) {
  v1::Ruleset r;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(policies {
             capacity { default_max_customers: 7 }
             on_drift: REASSIGN
             disputes {
               panel { size: 3 }
               quorum: 3
               reappeal_after {}
             }
             review { stale_after { seconds: 60 } }
           })pb",
      &r));
  ApplyRulesetDefaults(&r);
  EXPECT_EQ(r.policies().capacity().default_max_customers(), 7);
  EXPECT_EQ(r.policies().on_drift(), v1::REASSIGN);
  EXPECT_EQ(r.policies().disputes().quorum(), 3);
  EXPECT_EQ(r.policies().disputes().reappeal_after().seconds(), 0);
  EXPECT_EQ(r.policies().review().stale_after().seconds(), 60);
}

TEST(DefaultsTest, RosterDefaults) {
  v1::Roster r;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(departments { id: "s" }
           reps { id: "a" }
           reps { id: "b" name: "B" status: LEFT }
           teams {
             id: "t"
             department: "s"
             members { rep: "a" }
             members { rep: "b" weight: 4 }
           })pb",
      &r));
  ApplyRosterDefaults(&r);
  EXPECT_EQ(r.departments(0).name(), "s");
  EXPECT_EQ(r.reps(0).name(), "a");
  EXPECT_EQ(r.reps(0).status(), v1::ACTIVE);
  EXPECT_EQ(r.reps(1).name(), "B");
  EXPECT_EQ(r.reps(1).status(), v1::LEFT);
  EXPECT_EQ(r.teams(0).members(0).weight(), 1);
  EXPECT_EQ(r.teams(0).members(1).weight(), 4);
  EXPECT_FALSE(r.teams(0).members(0).has_capacity());
}

v1::Customer GoodCustomer() {
  v1::Customer c;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(id: "crm:42"
           name: "Acme 有限公司"
           region: "CN/East/Shanghai"
           industry: "C/C39"
           customer_type: "enterprise"
           sales_stage: "lead"
           annual_revenue: 5
           employee_count: 0
           tags: [ "a", "b" ]
           attributes { key: "tier" value: "gold" }
           created_time { seconds: 1700000000 })pb",
      &c));
  return c;
}

TEST(ValidateCustomerTest, AcceptsAWellFormedCustomer) {
  EXPECT_TRUE(ValidateCustomer(GoodCustomer()).ok());
}

TEST(ValidateCustomerTest, NamesTheBadField) {
  struct Case {
    const char* text_proto;
    const char* message;
  };
  const Case cases[] = {
      {R"pb(id: "")pb",
       "customer.id: customer id is empty; it must be 1-128 characters of "
       "[A-Za-z0-9._:@-]"},
      {R"pb(region: "CN//East")pb",
       "customer.region: path \"CN//East\": segment 2 is empty"},
      {R"pb(industry: " C")pb",
       "customer.industry: path \" C\": segment 1 has a leading or trailing "
       "space"},
      {R"pb(customer_type: "SMB")pb",
       "customer.customer_type: value \"SMB\" must be 1-128 characters of "
       "[a-z0-9_]"},
      {R"pb(annual_revenue: -1)pb",
       "customer.annual_revenue: must be >= 0, got -1"},
      {R"pb(tags: [ "a", "a" ])pb", "customer.tags[1]: duplicate tag \"a\""},
      {R"pb(tags: [ "A" ])pb",
       "customer.tags[0]: tag \"A\" must be 1-128 characters of [a-z0-9_]"},
      {R"pb(attributes { key: "Bad" value: "x" })pb",
       "customer.attributes.Bad: attribute key \"Bad\" must be 1-128 "
       "characters of [a-z0-9_]"},
      {R"pb(last_activity_time { seconds: 253402300800 })pb",
       "customer.last_activity_time: timestamp out of range 0001-01-01 to "
       "9999-12-31"},
  };
  for (const Case& c : cases) {
    v1::Customer customer = GoodCustomer();
    v1::Customer patch;
    ASSERT_TRUE(
        google::protobuf::TextFormat::ParseFromString(c.text_proto, &patch));
    if (patch.has_last_activity_time() || !patch.tags().empty() ||
        !patch.attributes().empty()) {
      customer.clear_tags();
      customer.clear_attributes();
    }
    customer.MergeFrom(patch);
    if (std::string(c.text_proto).find("id: \"\"") != std::string::npos) {
      customer.clear_id();
    }
    absl::Status status = ValidateCustomer(customer);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument)
        << c.text_proto;
    EXPECT_EQ(status.message(), c.message);
  }
  v1::Customer customer = GoodCustomer();
  customer.set_region("CN//East");
  EXPECT_EQ(ValidateCustomer(customer, "customers[3]").message(),
            "customers[3].region: path \"CN//East\": segment 2 is empty");
}

}  // namespace
}  // namespace custodian::rules
