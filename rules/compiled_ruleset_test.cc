#include "rules/compiled_ruleset.h"

#include <cctype>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "rules/compiled_ruleset_testing.h"

namespace custodian::rules {
namespace {

using ::google::protobuf::TextFormat;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;

// 2026-01-01T00:00:00Z.
const absl::Time kAt = absl::FromUnixSeconds(1767225600);

v1::Ruleset ParseRuleset(const std::string& text) {
  v1::Ruleset ruleset;
  EXPECT_TRUE(TextFormat::ParseFromString(text, &ruleset)) << text;
  return ruleset;
}

v1::Customer ParseCustomer(const std::string& text) {
  v1::Customer customer;
  EXPECT_TRUE(TextFormat::ParseFromString(text, &customer)) << text;
  return customer;
}

std::unique_ptr<const CompiledRuleset> MustCompile(const std::string& text) {
  absl::StatusOr<std::unique_ptr<const CompiledRuleset>> compiled =
      CompiledRuleset::Compile(ParseRuleset(text));
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  return compiled.ok() ? *std::move(compiled) : nullptr;
}

// A `when` clause on one field with the given operators (text format of
// v1::Operator bodies), e.g. Field("region", {"under { values: 'CN' }"}).
std::string Fields(const std::string& field,
                   const std::vector<std::string>& ops) {
  std::string out = absl::StrCat("clauses { field { field: '", field, "'");
  for (const std::string& op : ops)
    absl::StrAppend(&out, " operators { ", op, " }");
  return absl::StrCat(out, " } }");
}
std::string Field(const std::string& field, const std::string& op) {
  return Fields(field, {op});
}

// `any`/`all` over blocks, each block being the text of a v1::Condition body.
std::string Combine(const char* kind, const std::vector<std::string>& blocks) {
  std::string out = absl::StrCat("clauses { ", kind, " {");
  for (const std::string& b : blocks)
    absl::StrAppend(&out, " conditions { ", b, " }");
  return absl::StrCat(out, " } }");
}
std::string Not(const std::string& block) {
  return absl::StrCat("clauses { not { ", block, " } }");
}
std::string Segment(const std::string& body) {
  return absl::StrCat("clauses { segment { ", body, " } }");
}

std::string Rule(const std::string& id, const std::string& when,
                 const std::string& team = "t") {
  return absl::StrCat("rules { id: '", id, "' when { ", when,
                      " } assign { team: '", team,
                      "' strategy: ROUND_ROBIN } }");
}

std::string Ts(const std::string& field, absl::Time t) {
  return absl::StrCat(field, " { seconds: ", absl::ToUnixSeconds(t), " nanos: ",
                      (t - absl::FromUnixSeconds(absl::ToUnixSeconds(t))) /
                          absl::Nanoseconds(1),
                      " }");
}

// Whether a one-rule ruleset with `when` (and `segments`) matches `customer`
// at `at`; also checks the linear scan agrees.
bool Matches(const std::string& when, const std::string& customer,
             const std::string& segments = "", absl::Time at = kAt) {
  auto compiled = MustCompile(absl::StrCat("name: 'x' ", segments,
                                           " departments { department: 'd' ",
                                           Rule("r", when), " }"));
  if (compiled == nullptr) return false;
  v1::Evaluation indexed, linear;
  const v1::Customer c = ParseCustomer(customer);
  compiled->Evaluate(c, at, {}, &indexed);
  testing::EvaluateLinear(*compiled, c, at, &linear);
  EXPECT_TRUE(MessageDifferencer::Equals(indexed, linear))
      << indexed.DebugString() << linear.DebugString();
  return indexed.departments(0).kind() == v1::RULE;
}

// --- Operators -------------------------------------------------------------

struct OperatorCase {
  std::string name;
  std::string when;
  std::string customer;
  bool holds;
};

class OperatorTest : public ::testing::TestWithParam<OperatorCase> {};

TEST_P(OperatorTest, HoldsExactlyWhenExpected) {
  const OperatorCase& c = GetParam();
  EXPECT_EQ(Matches(c.when, c.customer), c.holds)
      << c.name << ": " << c.when << " / " << c.customer;
}

const char kFull[] =
    "id: 'c1' name: 'Acme Ltd' region: 'CN/East/Shanghai' "
    "industry: 'C/C39/C391' customer_type: 'enterprise' sales_stage: 'lead' "
    "value_tier: 'high' annual_revenue: 1000 employee_count: 0 "
    "tags: 'vip' tags: 'cn' attributes { key: 'tier' value: 'gold' }";
const char kEmpty[] = "id: 'c2'";

std::vector<OperatorCase> OperatorCases() {
  std::vector<OperatorCase> cases = {
      // eq / ne on strings, tokens, paths and integers.
      {"eq token", Field("customer_type", "eq { string_value: 'enterprise' }"),
       kFull, true},
      {"eq token other", Field("customer_type", "eq { string_value: 'smb' }"),
       kFull, false},
      {"eq path is exact", Field("region", "eq { string_value: 'CN/East' }"),
       kFull, false},
      {"eq path equal",
       Field("region", "eq { string_value: 'CN/East/Shanghai' }"), kFull, true},
      {"eq string", Field("name", "eq { string_value: 'Acme Ltd' }"), kFull,
       true},
      {"eq integer", Field("annual_revenue", "eq { int_value: 1000 }"), kFull,
       true},
      {"eq integer zero is present",
       Field("employee_count", "eq { int_value: 0 }"), kFull, true},
      {"eq attribute", Field("attributes.tier", "eq { string_value: 'gold' }"),
       kFull, true},
      {"ne differs", Field("sales_stage", "ne { string_value: 'won' }"), kFull,
       true},
      {"ne same", Field("sales_stage", "ne { string_value: 'lead' }"), kFull,
       false},
      {"ne integer", Field("annual_revenue", "ne { int_value: 5 }"), kFull,
       true},
      // in / not_in.
      {"in",
       Field("sales_stage",
             "in { values { string_value: 'won' } values { string_value: "
             "'lead' } }"),
       kFull, true},
      {"in miss", Field("sales_stage", "in { values { string_value: 'won' } }"),
       kFull, false},
      {"in integer",
       Field("annual_revenue",
             "in { values { int_value: 1 } values { int_value: 1000 } }"),
       kFull, true},
      {"not_in",
       Field("sales_stage", "not_in { values { string_value: 'lost' } }"),
       kFull, true},
      {"not_in hit",
       Field("sales_stage", "not_in { values { string_value: 'lead' } }"),
       kFull, false},
      // under / not_under (path boundaries have their own test).
      {"under", Field("industry", "under { values: 'C/C39' }"), kFull, true},
      {"under list",
       Field("region", "under { values: 'US' values: 'CN/East' }"), kFull,
       true},
      {"under list miss",
       Field("region", "under { values: 'US' values: 'CN/North' }"), kFull,
       false},
      {"not_under",
       Field("region", "not_under { values: 'CN/North' values: 'US' }"), kFull,
       true},
      {"not_under hit",
       Field("region", "not_under { values: 'US' values: 'CN' }"), kFull,
       false},
      // Integer comparisons; several in one map must all hold.
      {"gt", Field("annual_revenue", "gt: 999"), kFull, true},
      {"gt equal", Field("annual_revenue", "gt: 1000"), kFull, false},
      {"gte equal", Field("annual_revenue", "gte: 1000"), kFull, true},
      {"lt", Field("annual_revenue", "lt: 1001"), kFull, true},
      {"lt equal", Field("annual_revenue", "lt: 1000"), kFull, false},
      {"lte equal", Field("annual_revenue", "lte: 1000"), kFull, true},
      {"range holds", Fields("annual_revenue", {"gte: 500", "lt: 2000"}), kFull,
       true},
      {"range second fails", Fields("annual_revenue", {"gte: 500", "lt: 1000"}),
       kFull, false},
      // matches: full match only.
      {"matches full", Field("name", "matches: 'Acme.*'"), kFull, true},
      {"matches is anchored", Field("name", "matches: 'Acme'"), kFull, false},
      {"matches path", Field("region", "matches: 'CN/[A-Z][a-z]+/.*'"), kFull,
       true},
      // exists.
      {"exists true present", Field("value_tier", "exists: true"), kFull, true},
      {"exists false present", Field("value_tier", "exists: false"), kFull,
       false},
      {"exists true absent", Field("value_tier", "exists: true"), kEmpty,
       false},
      {"exists false absent", Field("value_tier", "exists: false"), kEmpty,
       true},
      {"exists false missing attribute",
       Field("attributes.nope", "exists: false"), kFull, true},
      {"exists false unset integer", Field("annual_revenue", "exists: false"),
       kEmpty, true},
      {"exists false unset timestamp", Field("created_time", "exists: false"),
       kEmpty, true},
      // Tags.
      {"any_of", Field("tags", "any_of { values: 'x' values: 'vip' }"), kFull,
       true},
      {"any_of miss", Field("tags", "any_of { values: 'x' }"), kFull, false},
      {"all_of", Field("tags", "all_of { values: 'cn' values: 'vip' }"), kFull,
       true},
      {"all_of partial", Field("tags", "all_of { values: 'cn' values: 'x' }"),
       kFull, false},
      {"none_of", Field("tags", "none_of { values: 'x' values: 'y' }"), kFull,
       true},
      {"none_of hit", Field("tags", "none_of { values: 'x' values: 'cn' }"),
       kFull, false},
      // Tags are always present: none_of holds on no tags, any_of does not.
      {"none_of no tags", Field("tags", "none_of { values: 'x' }"), kEmpty,
       true},
      {"any_of no tags", Field("tags", "any_of { values: 'x' }"), kEmpty,
       false},
      {"all_of no tags", Field("tags", "all_of { values: 'x' }"), kEmpty,
       false},
  };
  // A condition on an absent field does not hold, whatever the operator.
  const std::vector<std::pair<std::string, std::string>> absent = {
      {"region", "eq { string_value: 'CN' }"},
      {"region", "ne { string_value: 'CN' }"},
      {"region", "in { values { string_value: 'CN' } }"},
      {"region", "not_in { values { string_value: 'CN' } }"},
      {"region", "under { values: 'CN' }"},
      {"region", "not_under { values: 'CN' }"},
      {"name", "matches: '.*'"},
      {"customer_type", "ne { string_value: 'smb' }"},
      {"attributes.tier", "ne { string_value: 'gold' }"},
      {"attributes.tier", "matches: '.*'"},
      {"attributes.tier", "exists: true"},
      {"annual_revenue", "gte: 0"},
      {"annual_revenue", "lte: 0"},
      {"annual_revenue", "gt: -1"},
      {"employee_count", "lt: 100"},
      {"employee_count", "ne { int_value: 3 }"},
      {"employee_count", "not_in { values { int_value: 3 } }"},
      {"created_time", "older_than { seconds: 0 }"},
      {"last_activity_time", "newer_than { seconds: 999999999 }"},
  };
  for (const auto& [field, op] : absent) {
    cases.push_back({absl::StrCat("absent ", field, " ", op), Field(field, op),
                     kEmpty, false});
  }
  // Empty strings are absent too.
  cases.push_back({"empty string is absent",
                   Field("region", "ne { string_value: 'CN' }"),
                   "id: 'c' region: ''", false});
  cases.push_back({"empty attribute is absent",
                   Field("attributes.k", "exists: false"),
                   "id: 'c' attributes { key: 'k' value: '' }", true});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(
    Operators, OperatorTest, ::testing::ValuesIn(OperatorCases()),
    [](const ::testing::TestParamInfo<OperatorCase>& info) {
      std::string name;
      for (char ch : info.param.name) {
        name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
      }
      return absl::StrCat(info.index, "_", name);
    });

// --- Paths -----------------------------------------------------------------

TEST(PathTest, UnderHoldsOnEqualAndDeeperPathsOnly) {
  const std::string under = Field("region", "under { values: 'CN/East' }");
  EXPECT_TRUE(Matches(under, "id: 'a' region: 'CN/East'"));
  EXPECT_TRUE(Matches(under, "id: 'a' region: 'CN/East/Shanghai'"));
  EXPECT_TRUE(Matches(under, "id: 'a' region: 'CN/East/Shanghai/Pudong'"));
  EXPECT_FALSE(Matches(under, "id: 'a' region: 'CN/Eastern'"));
  EXPECT_FALSE(Matches(under, "id: 'a' region: 'CN/Eastern/X'"));
  EXPECT_FALSE(Matches(under, "id: 'a' region: 'CN'"));
  EXPECT_FALSE(Matches(under, "id: 'a' region: 'XCN/East'"));
}

TEST(PathTest, NotUnderHoldsOnSiblingWithCommonPrefix) {
  const std::string not_under =
      Field("region", "not_under { values: 'CN/East' }");
  EXPECT_TRUE(Matches(not_under, "id: 'a' region: 'CN/Eastern'"));
  EXPECT_FALSE(Matches(not_under, "id: 'a' region: 'CN/East'"));
  EXPECT_FALSE(Matches(not_under, "id: 'a' region: 'CN/East/Hangzhou'"));
}

// --- Time --------------------------------------------------------------------

TEST(TimeTest, OlderThanHoldsStrictlyBeforeAtMinusDuration) {
  const std::string older =
      Field("last_activity_time", "older_than { seconds: 2592000 }");  // 30d
  const absl::Time edge = kAt - absl::Hours(24 * 30);
  EXPECT_FALSE(Matches(older, "id: 'a' " + Ts("last_activity_time", edge)));
  EXPECT_TRUE(Matches(older, "id: 'a' " + Ts("last_activity_time",
                                             edge - absl::Nanoseconds(1))));
  EXPECT_FALSE(Matches(older, "id: 'a' " + Ts("last_activity_time", kAt)));
  // The evaluation time is the `at` parameter, not the wall clock.
  EXPECT_TRUE(Matches(older, "id: 'a' " + Ts("last_activity_time", edge), "",
                      kAt + absl::Seconds(1)));
}

TEST(TimeTest, NewerThanHoldsStrictlyAfterAtMinusDuration) {
  const std::string newer =
      Field("created_time", "newer_than { seconds: 86400 }");  // 1d
  const absl::Time edge = kAt - absl::Hours(24);
  EXPECT_FALSE(Matches(newer, "id: 'a' " + Ts("created_time", edge)));
  EXPECT_TRUE(Matches(
      newer, "id: 'a' " + Ts("created_time", edge + absl::Nanoseconds(1))));
  EXPECT_TRUE(Matches(newer, "id: 'a' " + Ts("created_time", kAt)));
  EXPECT_FALSE(Matches(newer, "id: 'a' " + Ts("created_time", edge), "",
                       kAt + absl::Seconds(1)));
}

// --- Logic -------------------------------------------------------------------

TEST(LogicTest, EmptyWhenAlwaysHolds) {
  EXPECT_TRUE(Matches("", kEmpty));
  EXPECT_TRUE(Matches("", kFull));
}

TEST(LogicTest, TopLevelClausesAreAnded) {
  const std::string when =
      Field("region", "under { values: 'CN' }") +
      Field("customer_type", "eq { string_value: 'enterprise' }");
  EXPECT_TRUE(Matches(when, kFull));
  EXPECT_FALSE(Matches(when, "id: 'a' region: 'CN' customer_type: 'smb'"));
}

TEST(LogicTest, AnyAllNotNest) {
  const std::string is_cn = Field("region", "under { values: 'CN' }");
  const std::string is_vip = Field("tags", "any_of { values: 'vip' }");
  const std::string is_big = Field("annual_revenue", "gte: 100");
  // any [cn, all [vip, big]]
  const std::string when =
      Combine("any", {is_cn, Combine("all", {is_vip, is_big})});
  EXPECT_TRUE(Matches(when, "id: 'a' region: 'CN/East'"));
  EXPECT_TRUE(Matches(when, "id: 'a' tags: 'vip' annual_revenue: 100"));
  EXPECT_FALSE(Matches(when, "id: 'a' tags: 'vip' annual_revenue: 99"));
  EXPECT_FALSE(Matches(when, "id: 'a' region: 'US' tags: 'vip'"));
  // not: absent or different.
  const std::string not_cn = Not(is_cn);
  EXPECT_TRUE(Matches(not_cn, kEmpty));
  EXPECT_TRUE(Matches(not_cn, "id: 'a' region: 'US'"));
  EXPECT_FALSE(Matches(not_cn, "id: 'a' region: 'CN'"));
  // not [not [...]] is the block itself; not over an all.
  EXPECT_TRUE(Matches(Not(Not(is_cn)), "id: 'a' region: 'CN'"));
  EXPECT_FALSE(Matches(Not(Not(is_cn)), kEmpty));
  const std::string neither = Not(Combine("any", {is_vip, is_big}));
  EXPECT_TRUE(Matches(neither, "id: 'a' annual_revenue: 5"));
  EXPECT_FALSE(Matches(neither, "id: 'a' annual_revenue: 500"));
  // An empty sub-block holds.
  EXPECT_TRUE(Matches(Combine("any", {is_big, ""}), kEmpty));
}

// --- Segments ----------------------------------------------------------------

const char kSegments[] =
    "segments { name: 'big' when { clauses { field { field: 'annual_revenue' "
    "operators { gte: 1000 } } } } } "
    "segments { name: 'vip' when { clauses { field { field: 'tags' operators { "
    "any_of { values: 'vip' } } } } } } "
    // key_account uses the earlier segments.
    "segments { name: 'key_account' when { clauses { segment { name: 'big' } } "
    "clauses { segment { any_of { values: 'vip' values: 'big' } } } } } "
    "segments { name: 'small' when { clauses { segment { none_of { values: "
    "'big' values: 'key_account' } } } } } "
    "segments { name: 'everyone' } ";

TEST(SegmentTest, SegmentsUseEarlierSegmentsAndAreReportedInOrder) {
  auto compiled = MustCompile(absl::StrCat("name: 'x' ", kSegments));
  ASSERT_NE(compiled, nullptr);
  v1::Evaluation out;
  compiled->Evaluate(ParseCustomer("id: 'a' annual_revenue: 5000"), kAt, {},
                     &out);
  EXPECT_THAT(out.segments(),
              ::testing::ElementsAre("big", "key_account", "everyone"));
  compiled->Evaluate(ParseCustomer("id: 'a' tags: 'vip'"), kAt, {}, &out);
  EXPECT_THAT(out.segments(),
              ::testing::ElementsAre("vip", "small", "everyone"));
  compiled->Evaluate(ParseCustomer(kEmpty), kAt, {}, &out);
  EXPECT_THAT(out.segments(), ::testing::ElementsAre("small", "everyone"));
}

TEST(SegmentTest, RulesReadSegmentMembership) {
  EXPECT_TRUE(Matches(Segment("name: 'key_account'"),
                      "id: 'a' annual_revenue: 5000", kSegments));
  EXPECT_FALSE(Matches(Segment("name: 'key_account'"), "id: 'a' tags: 'vip'",
                       kSegments));
  EXPECT_TRUE(Matches(Segment("any_of { values: 'vip' values: 'big' }"),
                      "id: 'a' tags: 'vip'", kSegments));
  EXPECT_FALSE(Matches(Segment("any_of { values: 'vip' values: 'big' }"),
                       kEmpty, kSegments));
  EXPECT_TRUE(Matches(Segment("none_of { values: 'vip' values: 'big' }"),
                      kEmpty, kSegments));
  EXPECT_FALSE(Matches(Segment("none_of { values: 'vip' values: 'big' }"),
                       "id: 'a' tags: 'vip'", kSegments));
}

// --- Decisions ---------------------------------------------------------------

const char kDecisions[] = R"pb(
  name: 'x'
  departments {
    department: 'sales'
    rules {
      id: 'east'
      when {
        clauses {
          field {
            field: 'region'
            operators { under { values: 'CN/East' } }
          }
        }
      }
      assign { team: 'ka-east' strategy: BEST_MATCH requires_approval: true }
      overflow { pool: 'east-pool' }
    }
    rules {
      id: 'cn'
      when {
        clauses {
          field {
            field: 'region'
            operators { under { values: 'CN' } }
          }
        }
      }
      assign { pool: 'cn-pool' }
    }
    rules {
      id: 'east-again'
      when {
        clauses {
          field {
            field: 'region'
            operators { under { values: 'CN/East' } }
          }
        }
      }
      assign { pool: 'never' }
    }
    fallback { pool: 'unassigned-sales' }
  }
  departments {
    department: 'service'
    rules {
      id: 'leads'
      when {
        clauses {
          field {
            field: 'sales_stage'
            operators { eq { string_value: 'lead' } }
          }
        }
      }
      assign { rep: 'zhang.wei' }
    }
  }
)pb";

TEST(DecisionTest, FirstMatchingRuleDecidesWithTargetAndOverflow) {
  auto compiled = MustCompile(kDecisions);
  ASSERT_NE(compiled, nullptr);
  v1::Evaluation out;
  compiled->Evaluate(
      ParseCustomer("id: 'c-1' region: 'CN/East/Shanghai' sales_stage: 'lead'"),
      kAt, {}, &out);
  EXPECT_EQ(out.customer_id(), "c-1");
  EXPECT_EQ(out.evaluated_at().seconds(), absl::ToUnixSeconds(kAt));
  ASSERT_EQ(out.departments_size(), 2);
  const v1::DepartmentDecision& sales = out.departments(0);
  EXPECT_EQ(sales.department(), "sales");
  EXPECT_EQ(sales.kind(), v1::RULE);
  EXPECT_EQ(sales.rule_id(), "east");
  EXPECT_EQ(sales.target().team(), "ka-east");
  EXPECT_EQ(sales.target().strategy(), v1::BEST_MATCH);
  EXPECT_TRUE(sales.target().requires_approval());
  EXPECT_EQ(sales.overflow().pool(), "east-pool");
  EXPECT_TRUE(sales.rule_traces().empty());
  const v1::DepartmentDecision& service = out.departments(1);
  EXPECT_EQ(service.department(), "service");
  EXPECT_EQ(service.kind(), v1::RULE);
  EXPECT_EQ(service.rule_id(), "leads");
  EXPECT_EQ(service.target().rep(), "zhang.wei");
  EXPECT_FALSE(service.has_overflow());
}

TEST(DecisionTest, LaterRuleWhenEarlierDoesNotHold) {
  auto compiled = MustCompile(kDecisions);
  ASSERT_NE(compiled, nullptr);
  v1::Evaluation out;
  compiled->Evaluate(ParseCustomer("id: 'c' region: 'CN/Eastern'"), kAt, {},
                     &out);
  EXPECT_EQ(out.departments(0).rule_id(), "cn");
  EXPECT_EQ(out.departments(0).target().pool(), "cn-pool");
  EXPECT_FALSE(out.departments(0).has_overflow());
}

TEST(DecisionTest, FallbackWhenNoRuleHoldsElseNoMatch) {
  auto compiled = MustCompile(kDecisions);
  ASSERT_NE(compiled, nullptr);
  v1::Evaluation out;
  compiled->Evaluate(ParseCustomer("id: 'c' region: 'US'"), kAt, {}, &out);
  const v1::DepartmentDecision& sales = out.departments(0);
  EXPECT_EQ(sales.kind(), v1::FALLBACK);
  EXPECT_EQ(sales.rule_id(), "fallback");
  EXPECT_EQ(sales.target().pool(), "unassigned-sales");
  EXPECT_FALSE(sales.has_overflow());
  const v1::DepartmentDecision& service = out.departments(1);
  EXPECT_EQ(service.kind(), v1::NO_MATCH);
  EXPECT_EQ(service.rule_id(), "");
  EXPECT_FALSE(service.has_target());
}

TEST(DecisionTest, OutputIsClearedBetweenEvaluations) {
  auto compiled = MustCompile(absl::StrCat(kDecisions, kSegments));
  ASSERT_NE(compiled, nullptr);
  v1::Evaluation out;
  compiled->Evaluate(ParseCustomer("id: 'a' region: 'CN/East' tags: 'vip'"),
                     kAt, {.explain = true}, &out);
  compiled->Evaluate(ParseCustomer("id: 'b' region: 'US'"), kAt, {}, &out);
  EXPECT_EQ(out.customer_id(), "b");
  EXPECT_THAT(out.segments(), ::testing::ElementsAre("small", "everyone"));
  EXPECT_TRUE(out.segment_traces().empty());
  EXPECT_EQ(out.departments_size(), 2);
  EXPECT_FALSE(out.departments(0).has_overflow());
}

// --- Compile errors ----------------------------------------------------------

void ExpectCompileError(const std::string& text, const std::string& needle) {
  absl::StatusOr<std::unique_ptr<const CompiledRuleset>> compiled =
      CompiledRuleset::Compile(ParseRuleset(text));
  ASSERT_FALSE(compiled.ok()) << text;
  EXPECT_EQ(compiled.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(compiled.status().message()), HasSubstr(needle));
}

std::string OneRule(const std::string& when) {
  return absl::StrCat("name: 'x' departments { department: 'sales' ",
                      Rule("r1", when), " }");
}

TEST(CompileTest, RejectsUnknownField) {
  ExpectCompileError(
      OneRule(Field("regoin", "eq { string_value: 'CN' }")),
      "rule \"r1\" of department \"sales\": when.regoin: unknown field");
  ExpectCompileError(OneRule(Field("tax_id", "exists: true")),
                     "when.tax_id: unknown field");
}

TEST(CompileTest, RejectsBadRegexNamingItsPath) {
  ExpectCompileError(
      OneRule(Combine("any", {"", Field("name", "matches: '(unclosed'")})),
      "when.any[1].name: invalid regular expression \"(unclosed\"");
}

TEST(CompileTest, RejectsUnknownAndLaterSegments) {
  ExpectCompileError(OneRule(Segment("name: 'nope'")),
                     "when.segment: unknown segment \"nope\"");
  ExpectCompileError(
      "name: 'x' segments { name: 'a' when { clauses { segment { name: 'b' } "
      "} } } segments { name: 'b' }",
      "segment \"a\": when.segment: unknown segment \"b\"");
  ExpectCompileError(
      "name: 'x' segments { name: 'a' when { clauses { not { clauses { "
      "segment { name: 'a' } } } } } }",
      "segment \"a\": when.not.segment: unknown segment \"a\"");
}

TEST(CompileTest, RejectsOperatorOrValueThatDoesNotFit) {
  ExpectCompileError(OneRule(Field("region", "gte: 3")),
                     "when.region: operator gte does not fit a path field");
  ExpectCompileError(
      OneRule(Field("annual_revenue", "eq { string_value: 'x' }")),
      "when.annual_revenue: eq needs an integer");
  ExpectCompileError(OneRule(Field("region", "under { values: 'CN//East' }")),
                     "when.region: invalid path \"CN//East\"");
  ExpectCompileError(OneRule(Field("region", "")),
                     "when.region: operator not set");
}

TEST(CompileTest, RejectsDuplicateRuleIds) {
  ExpectCompileError(absl::StrCat("name: 'x' departments { department: 's' ",
                                  Rule("a", ""), Rule("a", ""), " }"),
                     "rule \"a\" of department \"s\": id:");
}

// --- Explain -----------------------------------------------------------------

const char kExplainRuleset[] = R"pb(
  name: 'x'
  segments {
    name: 'key_account'
    when {
      clauses {
        any {
          conditions {
            clauses {
              field {
                field: 'annual_revenue'
                operators { gte: 50000000 }
              }
            }
          }
          conditions {
            clauses {
              field {
                field: 'tags'
                operators { any_of { values: 'strategic' } }
              }
            }
          }
        }
      }
    }
  }
  segments {
    name: 'recent'
    when {
      clauses {
        field {
          field: 'last_activity_time'
          operators { newer_than { seconds: 604800 } }
        }
      }
    }
  }
  departments {
    department: 'sales'
    rules {
      id: 'ka-east'
      when {
        clauses {
          field {
            field: 'region'
            operators { under { values: 'CN/East' } }
          }
        }
        clauses { segment { name: 'key_account' } }
      }
      assign { team: 'ka' strategy: ROUND_ROBIN }
    }
    rules {
      id: 'north-ka'
      when {
        clauses {
          field {
            field: 'region'
            operators { under { values: 'CN/North' } }
          }
        }
        clauses { segment { name: 'key_account' } }
      }
      assign { team: 'ka' strategy: ROUND_ROBIN }
    }
    rules {
      id: 'big-or-vip'
      when {
        clauses {
          any {
            conditions {
              clauses {
                field {
                  field: 'annual_revenue'
                  operators { gte: 100 }
                }
              }
            }
            conditions {
              clauses {
                field {
                  field: 'tags'
                  operators { any_of { values: 'vip' } }
                }
              }
            }
          }
        }
      }
      assign { pool: 'p' }
    }
    rules {
      id: 'not-enterprise'
      when {
        clauses {
          not {
            clauses {
              field {
                field: 'customer_type'
                operators { eq { string_value: 'enterprise' } }
              }
            }
          }
        }
      }
      assign { pool: 'p' }
    }
    rules {
      id: 'staff'
      when {
        clauses {
          field {
            field: 'employee_count'
            operators { gte: 10 }
          }
        }
      }
      assign { pool: 'p' }
    }
    rules {
      id: 'stale-lead'
      when {
        clauses {
          all {
            conditions {
              clauses {
                field {
                  field: 'sales_stage'
                  operators { in { values { string_value: 'lead' } } }
                }
              }
            }
            conditions {
              clauses {
                field {
                  field: 'last_activity_time'
                  operators { older_than { seconds: 2592000 } }
                }
              }
            }
          }
        }
      }
      assign { pool: 'p' }
    }
    rules {
      id: 'acme'
      when {
        clauses {
          field {
            field: 'name'
            operators { matches: 'Acme.*' }
          }
        }
      }
      assign { pool: 'acme' }
    }
    rules {
      id: 'never-traced'
      assign { pool: 'p' }
    }
  }
  departments {
    department: 'service'
    rules {
      id: 'recent-only'
      when { clauses { segment { none_of { values: 'recent' } } } }
      assign { pool: 'p' }
    }
  }
)pb";

void ExpectTrace(const v1::ConditionTrace& t, const std::string& name,
                 const std::string& path, const std::string& condition,
                 const std::string& observed) {
  EXPECT_EQ(t.name(), name);
  EXPECT_FALSE(t.matched()) << name;
  EXPECT_EQ(t.failed_path(), path) << name;
  EXPECT_EQ(t.failed_condition(), condition) << name;
  EXPECT_EQ(t.observed(), observed) << name;
}

TEST(ExplainTest, TracesEveryRuleUpToTheMatchWithFirstFailure) {
  auto compiled = MustCompile(kExplainRuleset);
  ASSERT_NE(compiled, nullptr);
  const v1::Customer customer = ParseCustomer(absl::StrCat(
      "id: 'c' name: 'Acme Ltd' region: 'CN/North/Beijing' "
      "customer_type: 'enterprise' sales_stage: 'lead' tags: 'smb' ",
      Ts("last_activity_time", kAt - absl::Hours(24 * 7))));
  v1::Evaluation out;
  compiled->Evaluate(customer, kAt, {.explain = true}, &out);

  ASSERT_EQ(out.segment_traces_size(), 2);
  ExpectTrace(out.segment_traces(0), "key_account", "when.any[1].tags",
              "tags any_of [strategic]", "[smb]");
  // newer_than is strict: exactly 7 days ago is not newer than 7d.
  ExpectTrace(out.segment_traces(1), "recent", "when.last_activity_time",
              "last_activity_time newer_than 7d", "2025-12-25T00:00:00Z");
  EXPECT_TRUE(out.segments().empty());

  const v1::DepartmentDecision& sales = out.departments(0);
  EXPECT_EQ(sales.rule_id(), "acme");
  ASSERT_EQ(sales.rule_traces_size(), 7);
  ExpectTrace(sales.rule_traces(0), "ka-east", "when.region",
              "region under [CN/East]", "CN/North/Beijing");
  ExpectTrace(sales.rule_traces(1), "north-ka", "when.segment",
              "segment key_account", "[]");
  ExpectTrace(sales.rule_traces(2), "big-or-vip", "when.any[1].tags",
              "tags any_of [vip]", "[smb]");
  ExpectTrace(sales.rule_traces(3), "not-enterprise", "when.not",
              "not {customer_type eq enterprise}", "customer_type=enterprise");
  ExpectTrace(sales.rule_traces(4), "staff", "when.employee_count",
              "employee_count gte 10", "(absent)");
  ExpectTrace(sales.rule_traces(5), "stale-lead",
              "when.all[1].last_activity_time",
              "last_activity_time older_than 30d", "2025-12-25T00:00:00Z");
  EXPECT_EQ(sales.rule_traces(6).name(), "acme");
  EXPECT_TRUE(sales.rule_traces(6).matched());
  EXPECT_EQ(sales.rule_traces(6).failed_path(), "");

  // Explain and plain evaluation decide the same.
  v1::Evaluation plain;
  compiled->Evaluate(customer, kAt, {}, &plain);
  EXPECT_EQ(plain.departments(0).rule_id(), "acme");
  EXPECT_EQ(plain.departments(1).rule_id(), "recent-only");
}

TEST(ExplainTest, TracesEveryRuleWhenNoneMatched) {
  auto compiled = MustCompile(kExplainRuleset);
  ASSERT_NE(compiled, nullptr);
  v1::Evaluation out;
  compiled->Evaluate(
      ParseCustomer(absl::StrCat("id: 'c' annual_revenue: 60000000 ",
                                 Ts("last_activity_time", kAt))),
      kAt, {.explain = true}, &out);
  EXPECT_THAT(out.segments(), ::testing::ElementsAre("key_account", "recent"));
  EXPECT_TRUE(out.segment_traces(0).matched());
  EXPECT_TRUE(out.segment_traces(1).matched());
  const v1::DepartmentDecision& service = out.departments(1);
  EXPECT_EQ(service.kind(), v1::NO_MATCH);
  ASSERT_EQ(service.rule_traces_size(), 1);
  ExpectTrace(service.rule_traces(0), "recent-only", "when.segment",
              "segment none_of [recent]", "[key_account, recent]");
}

TEST(ExplainTest, ReportsTheFirstFailingOperatorOfAFieldMap) {
  auto compiled = MustCompile(absl::StrCat(
      "name: 'x' departments { department: 'd' ",
      Rule("range", Fields("annual_revenue", {"gte: 10", "lt: 20"})), " }"));
  ASSERT_NE(compiled, nullptr);
  v1::Evaluation out;
  compiled->Evaluate(ParseCustomer("id: 'c' annual_revenue: 25"), kAt,
                     {.explain = true}, &out);
  ExpectTrace(out.departments(0).rule_traces(0), "range", "when.annual_revenue",
              "annual_revenue lt 20", "25");
}

// --- Index
// ---------------------------------------------------------------------

// Candidates of `customer` in department 0, checking the indexed answer is
// the linear one.
int Candidates(const CompiledRuleset& compiled, const std::string& customer) {
  const v1::Customer c = ParseCustomer(customer);
  v1::Evaluation indexed, linear;
  compiled.Evaluate(c, kAt, {}, &indexed);
  testing::EvaluateLinear(compiled, c, kAt, &linear);
  EXPECT_TRUE(MessageDifferencer::Equals(indexed, linear))
      << customer << "\n"
      << indexed.DebugString() << linear.DebugString();
  return testing::CountCandidates(compiled, 0, c, kAt);
}

std::unique_ptr<const CompiledRuleset> CompileRules(
    const std::string& rules, const std::string& extra = "") {
  return MustCompile(absl::StrCat("name: 'x' ", extra,
                                  " departments { department: 'd' ", rules,
                                  " fallback { pool: 'fb' } }"));
}

TEST(IndexTest, IndexesEveryMustHoldClauseAndIntersects) {
  std::string rules;
  for (const char* city : {"CN/East/Shanghai", "CN/East/Hangzhou",
                           "CN/North/Beijing", "CN/South/Shenzhen"}) {
    rules +=
        Rule(absl::StrCat("r", rules.size()),
             Field("region", absl::StrCat("under { values: '", city, "' }")));
  }
  rules += Rule("mixed",
                Field("customer_type",
                      "in { values { string_value: 'a' } values { "
                      "string_value: 'b' } }") +
                    Field("region", "under { values: 'CN/East/Shanghai' }"));
  rules += Rule("tokens", Field("customer_type", "eq { string_value: 'a' }") +
                              Field("annual_revenue", "gte: 5"));
  rules += Rule("revenue", Field("annual_revenue", "gte: 5") +
                               Not(Field("region", "under { values: 'CN' }")));
  rules += Rule("nested", Combine("all", {Field("tags",
                                                "all_of { values: 'x' "
                                                "values: 'y' }")}));
  rules += Rule("unindexable", Field("name", "matches: 'A.*'") +
                                   Combine("any", {Field("region",
                                                         "exists: "
                                                         "false")}));
  auto compiled = CompileRules(rules);
  ASSERT_NE(compiled, nullptr);
  EXPECT_EQ(testing::IndexKeysOf(*compiled, 0, 0),
            "region under CN/East/Shanghai");
  EXPECT_EQ(testing::IndexKeysOf(*compiled, 0, 4),
            "region under CN/East/Shanghai; customer_type in a|b");
  EXPECT_EQ(testing::IndexKeysOf(*compiled, 0, 5),
            "customer_type in a; annual_revenue [5, max]");
  // `not` is left to full evaluation.
  EXPECT_EQ(testing::IndexKeysOf(*compiled, 0, 6), "annual_revenue [5, max]");
  // all_of needs each tag: indexed on one of them.
  EXPECT_EQ(testing::IndexKeysOf(*compiled, 0, 7), "tags any_of x");
  EXPECT_EQ(testing::IndexKeysOf(*compiled, 0, 8), "");
  EXPECT_THAT(testing::IndexedAttributes(*compiled, 0),
              ::testing::ElementsAre("region", "customer_type", "tags",
                                     "annual_revenue"));

  // A Hangzhou customer of type a without tags or revenue: its city's rule
  // and the unindexable one. "tokens" and "revenue" need a revenue,
  // "nested" a tag, the other cities' rules their city.
  const std::string hangzhou =
      "id: 'c' region: 'CN/East/Hangzhou' customer_type: 'a' ";
  EXPECT_EQ(Candidates(*compiled, hangzhou), 2);
  EXPECT_EQ(Candidates(*compiled, hangzhou + "annual_revenue: 4"), 2);
  EXPECT_EQ(Candidates(*compiled, hangzhou + "annual_revenue: 5"), 4);
  EXPECT_EQ(Candidates(*compiled, hangzhou + "annual_revenue: 5 tags: 'x'"), 5);
  // Shanghai, type c: rule 0 and "revenue" ("mixed" and "tokens" need type
  // a or b), "nested" (tag x) and the unindexable rule.
  EXPECT_EQ(Candidates(*compiled,
                       "id: 'c' region: 'CN/East/Shanghai/Pudong' "
                       "customer_type: 'c' annual_revenue: 10 tags: 'x'"),
            4);
  // Nothing known: only the rules with no indexed clause on the absent
  // attributes, i.e. the unindexable one.
  EXPECT_EQ(Candidates(*compiled, kEmpty), 1);
}

// 10 cities x 10 types x 10 stages: a rule for every combination. A single
// key per rule would offer ~100 candidates; the intersection offers one.
TEST(IndexTest, MultiAttributeRulesGiveOneCandidate) {
  std::string rules;
  for (int city = 0; city < 10; ++city) {
    for (int type = 0; type < 10; ++type) {
      for (int stage = 0; stage < 10; ++stage) {
        rules += Rule(
            absl::StrCat("r", city, type, stage),
            Field("region",
                  absl::StrCat("under { values: 'CN/East/C", city, "' }")) +
                Field("customer_type",
                      absl::StrCat("eq { string_value: 't", type, "' }")) +
                Field("sales_stage",
                      absl::StrCat("in { values { string_value: 's", stage,
                                   "' } values { string_value: 'x' } }")));
      }
    }
  }
  auto compiled = CompileRules(rules);
  ASSERT_NE(compiled, nullptr);
  const std::string c =
      "id: 'c' region: 'CN/East/C3/D1' customer_type: 't4' sales_stage: ";
  EXPECT_EQ(Candidates(*compiled, c + "'s5'"), 1);
  v1::Evaluation out;
  compiled->Evaluate(ParseCustomer(c + "'s5'"), kAt, {}, &out);
  EXPECT_EQ(out.departments(0).rule_id(), "r345");
  // Stage x is allowed by every stage: the 10 rules of the city and type.
  EXPECT_EQ(Candidates(*compiled, c + "'x'"), 10);
  // Absent or unknown values leave no candidate.
  EXPECT_EQ(Candidates(*compiled, c + "'zz'"), 0);
  EXPECT_EQ(
      Candidates(*compiled, "id: 'c' region: 'CN/East/C3' sales_stage: 's5'"),
      0);
  EXPECT_EQ(Candidates(*compiled,
                       "id: 'c' region: 'CN/East/C33' customer_type: 't4' "
                       "sales_stage: 's5'"),
            0);
}

TEST(IndexTest, PathKeysAreExactOrPrefixes) {
  auto compiled = CompileRules(
      Rule("eq", Field("region", "eq { string_value: 'CN/East' }")) +
      Rule("under", Field("region", "under { values: 'CN/East' }")) +
      Rule("in", Field("region",
                       "in { values { string_value: 'CN/East/Shanghai' } "
                       "values { string_value: 'US' } }")) +
      Rule("root", Field("region", "under { values: 'CN' }")) +
      // Two clauses on one attribute: the exact one is indexed.
      Rule("both", Field("region", "under { values: 'CN' }") +
                       Field("region", "eq { string_value: 'CN/North' }")));
  ASSERT_NE(compiled, nullptr);
  EXPECT_EQ(testing::IndexKeysOf(*compiled, 0, 4), "region in CN/North");
  EXPECT_EQ(Candidates(*compiled, "id: 'c' region: 'CN/East'"), 3);
  EXPECT_EQ(Candidates(*compiled, "id: 'c' region: 'CN/East/Shanghai'"), 3);
  EXPECT_EQ(Candidates(*compiled, "id: 'c' region: 'CN/East/Shanghai/X'"), 2);
  EXPECT_EQ(Candidates(*compiled, "id: 'c' region: 'CN/Eastern'"), 1);
  EXPECT_EQ(Candidates(*compiled, "id: 'c' region: 'CN/North'"), 2);
  EXPECT_EQ(Candidates(*compiled, "id: 'c' region: 'CN'"), 1);
  EXPECT_EQ(Candidates(*compiled, "id: 'c' region: 'US/West'"), 0);
  EXPECT_EQ(Candidates(*compiled, "id: 'c' region: 'US'"), 1);
  EXPECT_EQ(Candidates(*compiled, kEmpty), 0);
}

// Integer bounds are exact intervals: a customer's candidates are exactly
// the rules whose bounds its value meets (in: between its least and
// greatest value).
TEST(IndexTest, IntegerBoundsAtTheirEdges) {
  auto compiled = CompileRules(
      Rule("gt", Field("annual_revenue", "gt: 10")) +
      Rule("gte", Field("annual_revenue", "gte: 10")) +
      Rule("lt", Field("annual_revenue", "lt: 10")) +
      Rule("lte", Field("annual_revenue", "lte: 10")) +
      Rule("eq", Field("annual_revenue", "eq { int_value: 10 }")) +
      Rule("in", Field("annual_revenue",
                       "in { values { int_value: 15 } values { int_value: 5 } "
                       "}")) +
      Rule("six", Fields("annual_revenue", {"gt: 5", "lt: 7"})) +
      Rule("never", Field("annual_revenue", "gt: 5") +
                        Combine("all", {Field("annual_revenue", "lt: 6")})) +
      Rule("always", ""));
  ASSERT_NE(compiled, nullptr);
  EXPECT_EQ(testing::IndexKeysOf(*compiled, 0, 0), "annual_revenue [11, max]");
  EXPECT_EQ(testing::IndexKeysOf(*compiled, 0, 2), "annual_revenue [min, 9]");
  EXPECT_EQ(testing::IndexKeysOf(*compiled, 0, 5), "annual_revenue [5, 15]");
  EXPECT_EQ(testing::IndexKeysOf(*compiled, 0, 6), "annual_revenue [6, 6]");
  EXPECT_EQ(testing::IndexKeysOf(*compiled, 0, 7), "never");
  EXPECT_EQ(testing::IndexKeysOf(*compiled, 0, 8), "");
  for (int v = 0; v <= 20; ++v) {
    const int expected = (v > 10) + (v >= 10) + (v < 10) + (v <= 10) +
                         (v == 10) + (v >= 5 && v <= 15) + (v == 6) + 1;
    EXPECT_EQ(
        Candidates(*compiled, absl::StrCat("id: 'c' annual_revenue: ", v)),
        expected)
        << v;
  }
  EXPECT_EQ(Candidates(*compiled, kEmpty), 1);
}

// Ages are indexed in whole seconds, non-strictly: at exactly the bound both
// older_than and newer_than are candidates, and neither holds.
TEST(IndexTest, AgeBoundsAtTheirEdges) {
  auto compiled = CompileRules(
      Rule("older", Field("last_activity_time",
                          "older_than { seconds: 2592000 }")) +  // 30d
      Rule("newer",
           Field("last_activity_time", "newer_than { seconds: 2592000 }")) +
      Rule("created", Field("created_time", "newer_than { seconds: 86400 }")));
  ASSERT_NE(compiled, nullptr);
  EXPECT_EQ(testing::IndexKeysOf(*compiled, 0, 0),
            "last_activity_time age [720h, max]");
  const absl::Time edge = kAt - absl::Hours(24 * 30);
  auto customer = [](absl::Time t) {
    return "id: 'c' " + Ts("last_activity_time", t);
  };
  EXPECT_EQ(Candidates(*compiled, customer(edge)), 2);
  // Within the same whole second as the bound: still both (a superset).
  EXPECT_EQ(Candidates(*compiled, customer(edge - absl::Nanoseconds(1))), 2);
  EXPECT_EQ(Candidates(*compiled, customer(edge - absl::Seconds(1))), 1);
  EXPECT_EQ(Candidates(*compiled, customer(edge + absl::Seconds(1))), 1);
  // In the future: newer than anything.
  EXPECT_EQ(Candidates(*compiled, customer(kAt + absl::Hours(1))), 1);
  EXPECT_EQ(Candidates(*compiled,
                       "id: 'c' " + Ts("created_time", kAt - absl::Hours(1))),
            1);
  EXPECT_EQ(Candidates(*compiled, kEmpty), 0);
}

TEST(IndexTest, TagsAndSegments) {
  const std::string segments =
      "segments { name: 'big' when { clauses { field { field: "
      "'annual_revenue' operators { gte: 1000 } } } } } "
      "segments { name: 'vip' when { clauses { field { field: 'tags' "
      "operators { any_of { values: 'vip' } } } } } } ";
  auto compiled = CompileRules(
      Rule("any", Field("tags", "any_of { values: 'a' values: 'b' }")) +
          Rule("all", Field("tags", "all_of { values: 'c' values: 'd' }")) +
          Rule("none", Field("tags", "none_of { values: 'a' }")) +
          Rule("big", Segment("name: 'big'")) +
          Rule("either", Segment("any_of { values: 'big' values: 'vip' }")) +
          Rule("not-big", Segment("none_of { values: 'big' }")),
      segments);
  ASSERT_NE(compiled, nullptr);
  EXPECT_EQ(testing::IndexKeysOf(*compiled, 0, 4), "segment in big|vip");
  EXPECT_EQ(testing::IndexKeysOf(*compiled, 0, 5), "");
  // none_of and not-big are candidates for everyone.
  EXPECT_EQ(Candidates(*compiled, kEmpty), 2);
  EXPECT_EQ(Candidates(*compiled, "id: 'c' tags: 'b'"), 3);
  EXPECT_EQ(Candidates(*compiled, "id: 'c' tags: 'b' tags: 'a'"), 3);
  EXPECT_EQ(Candidates(*compiled, "id: 'c' tags: 'c'"), 3);
  EXPECT_EQ(Candidates(*compiled, "id: 'c' tags: 'vip'"), 3);
  EXPECT_EQ(Candidates(*compiled, "id: 'c' annual_revenue: 1000"), 4);
  EXPECT_EQ(Candidates(*compiled,
                       "id: 'c' tags: 'a' tags: 'd' tags: 'vip' "
                       "annual_revenue: 5000"),
            5);
  EXPECT_EQ(Candidates(*compiled,
                       "id: 'c' tags: 'a' tags: 'c' tags: 'd' tags: 'vip' "
                       "annual_revenue: 5000"),
            6);
}

// Over its memory budget the index drops the attributes needing the most
// bitsets, and still answers exactly.
TEST(IndexTest, DropsAttributesOverTheMemoryBudget) {
  v1::Ruleset ruleset;
  std::string rules;
  for (int city = 0; city < 10; ++city) {
    for (int type = 0; type < 10; ++type) {
      for (int stage = 0; stage < 10; ++stage) {
        rules += Rule(
            absl::StrCat("r", city, type, stage),
            Field("region",
                  absl::StrCat("under { values: 'CN/C", city, "' }")) +
                Field("customer_type",
                      absl::StrCat("eq { string_value: 't", type, "' }")) +
                Field("sales_stage",
                      absl::StrCat("eq { string_value: 's", stage, "' }")));
      }
    }
  }
  ruleset = ParseRuleset(
      absl::StrCat("name: 'x' departments { department: 'd' ", rules, " }"));
  const v1::Customer customer = ParseCustomer(
      "id: 'c' region: 'CN/C3' customer_type: 't4' sales_stage: 's5'");
  struct Case {
    size_t budget;
    std::vector<std::string> attributes;
    int candidates;
  };
  // 1,000 rules: 128-byte bitsets. Region needs 21 (10 keys, 2 each, and
  // dontcare), the tokens 11 each, plus one for every rule: 44.
  for (const Case& c : std::vector<Case>{
           {44 * 128, {"region", "customer_type", "sales_stage"}, 1},
           {44 * 128 - 1, {"customer_type", "sales_stage"}, 10},
           // Ties: the earlier attribute goes first.
           {13 * 128, {"sales_stage"}, 100},
           {0, {}, 1000},
       }) {
    auto compiled = testing::CompileWithIndexBudget(ruleset, c.budget);
    ASSERT_TRUE(compiled.ok()) << compiled.status();
    EXPECT_EQ(testing::IndexedAttributes(**compiled, 0), c.attributes)
        << c.budget;
    EXPECT_LE(testing::IndexBytes(**compiled, 0),
              std::max<size_t>(c.budget, 128))
        << c.budget;
    EXPECT_EQ(testing::CountCandidates(**compiled, 0, customer, kAt),
              c.candidates)
        << c.budget;
    v1::Evaluation out;
    (*compiled)->Evaluate(customer, kAt, {}, &out);
    EXPECT_EQ(out.departments(0).rule_id(), "r345") << c.budget;
  }
}

// Range keys are bucketed; with more distinct bounds than buckets the
// candidates are a superset, and the answer is still exactly the linear one,
// including at every bound itself.
TEST(IndexTest, RangeBucketsAgreeWithLinearScanAtEveryBound) {
  std::string rules;
  // 300 distinct bounds per attribute: more than the 256 buckets.
  for (int i = 0; i < 600; ++i) {
    const char* op = i % 3 == 0 ? "gte" : i % 3 == 1 ? "gt" : "lte";
    rules += Rule(absl::StrCat("n", i),
                  Field(i % 2 ? "annual_revenue" : "employee_count",
                        absl::StrCat(op, ": ", 2000 - 3 * i)));
    rules += Rule(absl::StrCat("t", i),
                  Field(i % 2 ? "last_activity_time" : "created_time",
                        absl::StrCat(i % 3 ? "older_than" : "newer_than",
                                     " { seconds: ", 3600 * (i + 1), " }")));
  }
  auto compiled = MustCompile(
      absl::StrCat("name: 'x' departments { department: 'd' ", rules, " }"));
  ASSERT_NE(compiled, nullptr);
  EXPECT_EQ(testing::IndexKeysOf(*compiled, 0, 0),
            "employee_count [2000, max]");
  EXPECT_EQ(testing::IndexKeysOf(*compiled, 0, 3),
            "last_activity_time age [2h, max]");
  v1::Evaluation indexed, linear;
  int candidates = 0, customers = 0;
  for (int v = 198; v <= 2002; ++v) {
    for (int64_t age_seconds :
         {int64_t{3600} * (v % 601), int64_t{3600} * (v % 601) + 1}) {
      const v1::Customer c = ParseCustomer(absl::StrCat(
          "id: 'c' annual_revenue: ", v, " employee_count: ", 2202 - v, " ",
          Ts("last_activity_time", kAt - absl::Seconds(age_seconds)), " ",
          Ts("created_time", kAt - absl::Seconds(age_seconds + 1800))));
      compiled->Evaluate(c, kAt, {}, &indexed);
      testing::EvaluateLinear(*compiled, c, kAt, &linear);
      ASSERT_EQ(indexed.departments(0).rule_id(),
                linear.departments(0).rule_id())
          << c.DebugString();
      candidates += testing::CountCandidates(*compiled, 0, c, kAt);
      ++customers;
    }
  }
  // Each rule has one bound on one of four attributes: about half the rules
  // are candidates, never all of them.
  EXPECT_LT(candidates, customers * 1200 * 3 / 4);
}

// --- Randomized differential test: index vs linear scan
// -----------------------

class RandomRulesets {
 public:
  // `targeted`: rulesets aimed at the index: more and wider rules (2-5
  // clauses, some with an empty `when`), integer bounds drawn from hundreds
  // of values (more than the index's buckets) with customers at and beside
  // them, and created_time conditions. Otherwise small mixed rulesets.
  explicit RandomRulesets(uint32_t seed, bool targeted = false)
      : rng_(seed), targeted_(targeted) {}

  v1::Ruleset MakeRuleset() {
    v1::Ruleset r;
    r.set_name("random");
    const int num_segments = Uniform(0, 3);
    for (int s = 0; s < num_segments; ++s) {
      v1::Segment* seg = r.add_segments();
      seg->set_name(absl::StrCat("s", s));
      FillCondition(Uniform(0, 2), 1, s, seg->mutable_when());
    }
    const int num_departments = Uniform(1, 3);
    for (int d = 0; d < num_departments; ++d) {
      v1::DepartmentRules* dept = r.add_departments();
      dept->set_department(absl::StrCat("d", d));
      const int num_rules = Uniform(0, targeted_ ? 400 : 80);
      for (int i = 0; i < num_rules; ++i) {
        v1::Rule* rule = dept->add_rules();
        rule->set_id(absl::StrCat("r", i));
        // Mostly narrow rules, so matches land deep in the list.
        if (targeted_ && Chance(0.03)) {
          // Empty `when`: always holds.
        } else if (targeted_) {
          FillCondition(Uniform(2, 5), 2, num_segments, rule->mutable_when());
        } else {
          FillCondition(Uniform(1, 3), 2, num_segments, rule->mutable_when());
        }
        rule->mutable_assign()->set_pool(absl::StrCat("p", i));
        if (Chance(0.2)) rule->mutable_overflow()->set_pool("o");
      }
      if (Chance(0.5)) dept->mutable_fallback()->set_pool("fb");
    }
    return r;
  }

  v1::Customer MakeCustomer(int i) {
    v1::Customer c;
    c.set_id(absl::StrCat("c", i));
    if (Chance(0.9)) c.set_region(Pick(kRegions));
    if (Chance(0.9)) c.set_industry(Pick(kIndustries));
    if (Chance(0.9)) c.set_customer_type(Pick(kTypes));
    if (Chance(0.9)) c.set_sales_stage(Pick(kStages));
    if (Chance(0.7)) c.set_value_tier(Pick(kTiers));
    if (Chance(0.7)) c.set_name(Pick(kNames));
    if (Chance(0.8)) c.set_annual_revenue(CustomerInt());
    if (Chance(0.5)) c.set_employee_count(CustomerInt());
    for (const char* tag : kTags) {
      if (Chance(0.3)) c.add_tags(tag);
    }
    if (Chance(0.5)) (*c.mutable_attributes())["k"] = Pick(kNames);
    if (Chance(0.7)) {
      c.mutable_last_activity_time()->set_seconds(absl::ToUnixSeconds(kAt) -
                                                  86400 * Uniform(0, 60));
    }
    if (targeted_) {
      // On an hour (a bound), or a second or a nanosecond beside one.
      for (google::protobuf::Timestamp* t :
           {c.mutable_last_activity_time(), c.mutable_created_time()}) {
        if (Chance(0.2)) continue;
        t->set_seconds(absl::ToUnixSeconds(kAt) - 3600 * Uniform(0, 1000) +
                       Uniform(-1, 1));
        t->set_nanos(Chance(0.2) ? 999999999 : 0);
      }
      if (Chance(0.2)) c.clear_last_activity_time();
    }
    return c;
  }

 private:
  static constexpr const char* kRegions[] = {
      "CN",         "CN/East",      "CN/East/Shanghai", "CN/East/Hangzhou",
      "CN/Eastern", "CN/Eastern/X", "CN/North/Beijing", "US",
      "US/West"};
  static constexpr const char* kIndustries[] = {
      "C", "C/C39", "C/C39/C391", "C/C3", "C/C3/C39", "F/F51"};
  static constexpr const char* kTypes[] = {"enterprise", "smb", "government"};
  static constexpr const char* kStages[] = {"lead", "qualified", "won", "lost"};
  static constexpr const char* kTiers[] = {"high", "low"};
  static constexpr const char* kNames[] = {"Acme", "Acme Ltd", "Globex"};
  static constexpr const char* kTags[] = {"vip", "strategic", "cn", "smb"};
  static constexpr int64_t kInts[] = {0, 10, 100, 1000, 100000};

  int Uniform(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng_);
  }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T, size_t N>
  T Pick(const T (&values)[N]) {
    return values[Uniform(0, N - 1)];
  }

  template <typename T, size_t N>
  void PickSome(const T (&values)[N], v1::StringList* out) {
    const int n = Uniform(1, 2);
    for (int i = 0; i < n; ++i) out->add_values(Pick(values));
  }

  void StringOperator(const char* const* pool, int pool_size, bool path,
                      v1::Operator* op) {
    auto pick = [&] { return std::string(pool[Uniform(0, pool_size - 1)]); };
    const int kind = Uniform(0, path ? 7 : 5);
    switch (kind) {
      case 0:
        op->mutable_eq()->set_string_value(pick());
        break;
      case 1:
        op->mutable_ne()->set_string_value(pick());
        break;
      case 2:
      case 3: {
        const int n = Uniform(1, 3);
        for (int i = 0; i < n; ++i) {
          op->mutable_in()->add_values()->set_string_value(pick());
        }
        break;
      }
      case 4:
        op->mutable_not_in()->add_values()->set_string_value(pick());
        break;
      case 5:
        op->set_exists(Chance(0.5));
        break;
      case 6: {
        const int n = Uniform(1, 2);
        for (int i = 0; i < n; ++i) op->mutable_under()->add_values(pick());
        break;
      }
      case 7:
        op->mutable_not_under()->add_values(pick());
        break;
    }
  }

  void FillField(int num_segments, v1::Clause* clause) {
    v1::FieldCondition* f = clause->mutable_field();
    int which = Uniform(0, targeted_ ? 15 : 11);
    if (which >= 12) which = 8;  // targeted: more integer bounds
    const int num_ops = Chance(0.15) ? 2 : 1;
    for (int k = 0; k < num_ops; ++k) {
      v1::Operator* op = f->add_operators();
      switch (which) {
        case 0:
        case 1:
          f->set_field("region");
          StringOperator(kRegions, std::size(kRegions), true, op);
          break;
        case 2:
        case 3:
          f->set_field("industry");
          StringOperator(kIndustries, std::size(kIndustries), true, op);
          break;
        case 4:
          f->set_field("customer_type");
          StringOperator(kTypes, std::size(kTypes), false, op);
          break;
        case 5:
          f->set_field("sales_stage");
          StringOperator(kStages, std::size(kStages), false, op);
          break;
        case 6:
          f->set_field("value_tier");
          StringOperator(kTiers, std::size(kTiers), false, op);
          break;
        case 7: {
          f->set_field("tags");
          const int kind = Uniform(0, 2);
          PickSome(kTags, kind == 0   ? op->mutable_any_of()
                          : kind == 1 ? op->mutable_all_of()
                                      : op->mutable_none_of());
          break;
        }
        case 8:
          f->set_field(Chance(0.5) ? "annual_revenue" : "employee_count");
          switch (Uniform(0, 5)) {
            case 0:
              op->set_gte(Int());
              break;
            case 1:
              op->set_lt(Int());
              break;
            case 2:
              op->set_gt(Int());
              break;
            case 3:
              op->set_lte(Int());
              break;
            case 4:
              op->mutable_eq()->set_int_value(Int());
              break;
            case 5:
              op->mutable_in()->add_values()->set_int_value(Int());
              break;
          }
          break;
        case 9:
          f->set_field(Chance(0.5) ? "name" : "attributes.k");
          if (Chance(0.5)) {
            op->set_matches(Chance(0.5) ? "Acme.*" : "G.*x");
          } else {
            StringOperator(kNames, std::size(kNames), false, op);
          }
          break;
        case 10:
        case 11: {
          f->set_field("last_activity_time");
          google::protobuf::Duration* d =
              Chance(0.5) ? op->mutable_older_than() : op->mutable_newer_than();
          d->set_seconds(targeted_ ? 3600 * Uniform(0, 1000)
                                   : 86400 * Uniform(0, 40));
          if (targeted_ && Chance(0.5)) f->set_field("created_time");
          break;
        }
      }
    }
    if (num_segments > 0 && Chance(0.15)) {
      clause->clear_field();
      v1::SegmentCondition* s = clause->mutable_segment();
      auto name = [&] {
        return absl::StrCat("s", Uniform(0, num_segments - 1));
      };
      switch (Uniform(0, 2)) {
        case 0:
          s->set_name(name());
          break;
        case 1:
          s->mutable_any_of()->add_values(name());
          s->mutable_any_of()->add_values(name());
          break;
        case 2:
          s->mutable_none_of()->add_values(name());
          break;
      }
    }
  }

  void FillCondition(int num_clauses, int depth, int num_segments,
                     v1::Condition* c) {
    for (int i = 0; i < num_clauses; ++i) {
      v1::Clause* clause = c->add_clauses();
      const int kind = depth > 0 ? Uniform(0, 9) : 0;
      if (kind <= 6) {
        FillField(num_segments, clause);
      } else if (kind == 7 || kind == 8) {
        v1::ConditionList* list =
            kind == 7 ? clause->mutable_any() : clause->mutable_all();
        const int n = Uniform(1, 3);
        for (int k = 0; k < n; ++k) {
          FillCondition(Uniform(1, 2), depth - 1, num_segments,
                        list->add_conditions());
        }
      } else {
        FillCondition(Uniform(1, 2), depth - 1, num_segments,
                      clause->mutable_not_());
      }
    }
  }

  // An integer bound, and a customer's integer: at or beside a bound.
  int64_t Int() { return targeted_ ? 7 * Uniform(0, 300) : Pick(kInts); }
  int64_t CustomerInt() {
    return targeted_ ? std::max<int64_t>(0, Int() + Uniform(-1, 1))
                     : Pick(kInts);
  }

  std::mt19937 rng_;
  bool targeted_;
};

TEST(DifferentialTest, IndexedEvaluationEqualsLinearScan) {
  RandomRulesets gen(20260101);
  int decisions = 0, rule_decisions = 0, deep_rule_decisions = 0;
  int64_t candidates = 0, rules_seen = 0;
  for (int r = 0; r < 150; ++r) {
    const v1::Ruleset ruleset = gen.MakeRuleset();
    absl::StatusOr<std::unique_ptr<const CompiledRuleset>> compiled =
        CompiledRuleset::Compile(ruleset);
    ASSERT_TRUE(compiled.ok()) << compiled.status() << ruleset.DebugString();
    v1::Evaluation indexed, linear, explained;
    for (int i = 0; i < 200; ++i) {
      const v1::Customer customer = gen.MakeCustomer(i);
      (*compiled)->Evaluate(customer, kAt, {}, &indexed);
      testing::EvaluateLinear(**compiled, customer, kAt, &linear);
      ASSERT_TRUE(MessageDifferencer::Equals(indexed, linear))
          << "ruleset " << r << " customer " << i << "\n"
          << ruleset.DebugString() << customer.DebugString() << "indexed:\n"
          << indexed.DebugString() << "linear:\n"
          << linear.DebugString();
      if (i % 10 == 0) {
        // Explain mode decides the same, too.
        (*compiled)->Evaluate(customer, kAt, {.explain = true}, &explained);
        for (int d = 0; d < indexed.departments_size(); ++d) {
          ASSERT_EQ(explained.departments(d).rule_id(),
                    indexed.departments(d).rule_id());
        }
      }
      for (int d = 0; d < indexed.departments_size(); ++d) {
        ++decisions;
        if (indexed.departments(d).kind() == v1::RULE) {
          ++rule_decisions;
          if (indexed.departments(d).rule_id() != "r0") ++deep_rule_decisions;
        }
        candidates += testing::CountCandidates(**compiled, d, customer, kAt);
        rules_seen += ruleset.departments(d).rules_size();
      }
    }
  }
  // The comparison is not vacuous: rules do match, often past the first one,
  // and the index does prune.
  EXPECT_GT(rule_decisions, decisions / 3);
  EXPECT_GT(deep_rule_decisions, rule_decisions / 2);
  EXPECT_LT(candidates, rules_seen * 3 / 4);
}

// Rulesets aimed at the index (see RandomRulesets): many multi-attribute
// rules, bounds at and beside the customers' values, more distinct bounds
// than buckets, absent fields, empty `when`s.
TEST(DifferentialTest, TargetedAtTheIndex) {
  RandomRulesets gen(20260102, /*targeted=*/true);
  int decisions = 0, rule_decisions = 0, deep_rule_decisions = 0;
  int64_t candidates = 0, rules_seen = 0;
  for (int r = 0; r < 40; ++r) {
    const v1::Ruleset ruleset = gen.MakeRuleset();
    absl::StatusOr<std::unique_ptr<const CompiledRuleset>> compiled =
        CompiledRuleset::Compile(ruleset);
    ASSERT_TRUE(compiled.ok()) << compiled.status() << ruleset.DebugString();
    v1::Evaluation indexed, linear;
    for (int i = 0; i < 200; ++i) {
      const v1::Customer customer = gen.MakeCustomer(i);
      (*compiled)->Evaluate(customer, kAt, {}, &indexed);
      testing::EvaluateLinear(**compiled, customer, kAt, &linear);
      ASSERT_TRUE(MessageDifferencer::Equals(indexed, linear))
          << "ruleset " << r << " customer " << i << "\n"
          << ruleset.DebugString() << customer.DebugString() << "indexed:\n"
          << indexed.DebugString() << "linear:\n"
          << linear.DebugString();
      for (int d = 0; d < indexed.departments_size(); ++d) {
        ++decisions;
        if (indexed.departments(d).kind() == v1::RULE) {
          ++rule_decisions;
          if (indexed.departments(d).rule_id() != "r0") ++deep_rule_decisions;
        }
        candidates += testing::CountCandidates(**compiled, d, customer, kAt);
        rules_seen += ruleset.departments(d).rules_size();
      }
    }
  }
  EXPECT_GT(rule_decisions, decisions / 3);
  EXPECT_GT(deep_rule_decisions, rule_decisions / 2);
  // Rules have several clauses, about half of them indexable (the rest:
  // ne, not_in, exists, matches, any, not...): the intersection leaves
  // about a fifth of the rules.
  EXPECT_LT(candidates, rules_seen / 4);
}

// --- Concurrency
// ---------------------------------------------------------------

TEST(ConcurrencyTest, ThreadsEvaluatingAtOnceGetTheSameAnswers) {
  RandomRulesets gen(7);
  v1::Ruleset ruleset;
  do {
    ruleset = gen.MakeRuleset();
  } while (ruleset.departments(0).rules_size() < 40);
  auto compiled = CompiledRuleset::Compile(ruleset);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  std::vector<v1::Customer> customers;
  std::vector<v1::Evaluation> expected(300);
  for (int i = 0; i < 300; ++i) {
    customers.push_back(gen.MakeCustomer(i));
    (*compiled)->Evaluate(customers[i], kAt, {.explain = i % 2 == 0},
                          &expected[i]);
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      v1::Evaluation out;
      for (int round = 0; round < 5; ++round) {
        for (int i = 0; i < 300; ++i) {
          const int k = (i + t * 37) % 300;
          (*compiled)->Evaluate(customers[k], kAt, {.explain = k % 2 == 0},
                                &out);
          if (!MessageDifferencer::Equals(out, expected[k])) ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_THAT(mismatches, ::testing::Each(0));
}

}  // namespace
}  // namespace custodian::rules
