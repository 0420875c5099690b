#include "rules/recycling.h"

#include <google/protobuf/text_format.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace custodian::rules {
namespace {

// A segment "dormant" (no activity for 60 days) and three recycling rules:
// sales after 30 days unless won; service when dormant; sales again
// (never reached for a customer the first sales rule matches).
constexpr char kRuleset[] = R"pb(
  segments {
    name: "dormant"
    when {
      clauses {
        field {
          field: "last_activity_time"
          operators { older_than { seconds: 5184000 } }
        }
      }
    }
  }
  policies {
    recycling {
      department: "sales"
      to_pool: "p1"
      when {
        clauses {
          field {
            field: "last_activity_time"
            operators { older_than { seconds: 2592000 } }
          }
        }
        clauses {
          field {
            field: "sales_stage"
            operators { not_in { values { string_value: "won" } } }
          }
        }
      }
    }
    recycling {
      department: "service"
      to_pool: "s1"
      when { clauses { segment { name: "dormant" } } }
    }
    recycling {
      department: "sales"
      to_pool: "p2"
      when {
        clauses {
          field {
            field: "sales_stage"
            operators { eq { string_value: "lost" } }
          }
        }
      }
    }
  }
)pb";

const absl::Time kNow = absl::FromUnixSeconds(1767225600);

v1::Customer Customer(absl::Duration since_activity, const std::string& stage) {
  v1::Customer c;
  c.set_id("c1");
  c.set_sales_stage(stage);
  c.mutable_last_activity_time()->set_seconds(
      absl::ToUnixSeconds(kNow - since_activity));
  return c;
}

class RecyclingMatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v1::Ruleset ruleset;
    ASSERT_TRUE(
        google::protobuf::TextFormat::ParseFromString(kRuleset, &ruleset));
    auto matcher = RecyclingMatcher::Compile(ruleset);
    ASSERT_TRUE(matcher.ok()) << matcher.status();
    matcher_ = std::move(*matcher);
  }
  std::unique_ptr<const RecyclingMatcher> matcher_;
};

TEST_F(RecyclingMatcherTest, OlderThanHoldsStrictlyAfterItsDuration) {
  const absl::Duration d30 = absl::Hours(24 * 30);
  EXPECT_EQ(matcher_->Match("sales", Customer(d30, "qualified"), kNow), -1);
  EXPECT_EQ(matcher_->Match(
                "sales", Customer(d30 + absl::Seconds(1), "qualified"), kNow),
            0);
}

TEST_F(RecyclingMatcherTest, FirstRuleOfTheDepartmentWins) {
  const absl::Duration d40 = absl::Hours(24 * 40);
  EXPECT_EQ(matcher_->Match("sales", Customer(d40, "lost"), kNow), 0);
  // Rule 0 does not hold (recent activity): rule 2 does.
  EXPECT_EQ(matcher_->Match("sales", Customer(absl::Hours(1), "lost"), kNow),
            2);
  EXPECT_EQ(matcher_->Match("sales", Customer(d40, "won"), kNow), -1);
}

TEST_F(RecyclingMatcherTest, SegmentConditionsAreEvaluatedAtTheTime) {
  EXPECT_EQ(
      matcher_->Match("service", Customer(absl::Hours(24 * 59), "won"), kNow),
      -1);
  EXPECT_EQ(
      matcher_->Match("service", Customer(absl::Hours(24 * 61), "won"), kNow),
      1);
  EXPECT_EQ(matcher_->Match("marketing",
                            Customer(absl::Hours(24 * 365), "lead"), kNow),
            -1);
}

TEST_F(RecyclingMatcherTest, AbsentLastActivityNeverHolds) {
  v1::Customer c;
  c.set_id("c1");
  c.set_sales_stage("lead");
  EXPECT_EQ(matcher_->Match("sales", c, kNow), -1);
  EXPECT_TRUE(matcher_->HasRulesFor("sales"));
  EXPECT_FALSE(matcher_->HasRulesFor("marketing"));
}

TEST(RecyclingMatcherCompileTest, RejectsAnUnknownField) {
  v1::Ruleset ruleset;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(policies {
             recycling {
               department: "sales"
               to_pool: "p1"
               when {
                 clauses {
                   field {
                     field: "no_such_field"
                     operators { exists: true }
                   }
                 }
               }
             }
           })pb",
      &ruleset));
  auto matcher = RecyclingMatcher::Compile(ruleset);
  EXPECT_EQ(matcher.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace custodian::rules
