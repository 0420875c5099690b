#include "clients/evaluation_json.h"

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace custodian::clients {
namespace {

v1::Evaluation Parse(const std::string& text) {
  v1::Evaluation evaluation;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &evaluation));
  return evaluation;
}

TEST(EvaluationLineTest, TeamTargetPrintsStrategyAndApproval) {
  v1::Evaluation e = Parse(R"pb(
    customer_id: "c-1"
    segments: "key_account"
    departments {
      department: "sales"
      kind: RULE
      rule_id: "key-accounts-east"
      target { team: "ka-east" strategy: BEST_MATCH requires_approval: true }
    }
  )pb");
  EXPECT_EQ(EvaluationLine(e, e.departments(0)),
            R"({"customer_id":"c-1","department":"sales","segments":)"
            R"(["key_account"],"rule_id":"key-accounts-east","target":)"
            R"({"team":"ka-east","strategy":"best_match"},)"
            R"("requires_approval":true})");
}

TEST(EvaluationLineTest, FallbackPoolHasNoStrategy) {
  v1::Evaluation e = Parse(R"pb(
    customer_id: "c-2"
    departments {
      department: "sales"
      kind: FALLBACK
      rule_id: "fallback"
      target { pool: "unassigned-sales" }
    }
  )pb");
  EXPECT_EQ(EvaluationLine(e, e.departments(0)),
            R"({"customer_id":"c-2","department":"sales","segments":[],)"
            R"("rule_id":"fallback","target":{"pool":"unassigned-sales"},)"
            R"("requires_approval":false})");
}

TEST(EvaluationLineTest, NoMatchIsNullWithoutTarget) {
  v1::Evaluation e = Parse(R"pb(
    customer_id: "c-3"
    departments { department: "marketing" kind: NO_MATCH }
  )pb");
  EXPECT_EQ(EvaluationLine(e, e.departments(0)),
            R"({"customer_id":"c-3","department":"marketing","segments":[],)"
            R"("rule_id":null,"requires_approval":false})");
}

TEST(EvaluationLineTest, RepTargetAndUnicodeIds) {
  v1::Evaluation e = Parse(R"pb(
    customer_id: "客户-1"
    departments {
      department: "service"
      kind: RULE
      rule_id: "vip"
      target { rep: "zhang.wei" }
    }
  )pb");
  EXPECT_EQ(EvaluationLine(e, e.departments(0)),
            R"({"customer_id":"客户-1","department":"service","segments":[],)"
            R"("rule_id":"vip","target":{"rep":"zhang.wei"},)"
            R"("requires_approval":false})");
}

TEST(DescribeTargetTest, ReadableForms) {
  v1::Target t;
  t.set_team("ka-east");
  t.set_strategy(v1::WEIGHTED);
  t.set_requires_approval(true);
  EXPECT_EQ(DescribeTarget(t), "team ka-east (weighted), requires approval");
  t.Clear();
  t.set_pool("east-pool");
  EXPECT_EQ(DescribeTarget(t), "pool east-pool");
}

}  // namespace
}  // namespace custodian::clients
