#include "clients/rules_commands.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace custodian::clients {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kExamples = std::string(CUSTODIAN_SOURCE_DIR) + "/examples";

class RulesCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("custodianctl_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  RulesFiles Examples() const {
    return RulesFiles{kExamples + "/ruleset.yaml", kExamples + "/roster.yaml"};
  }

  absl::Time At() const { return *ParseAtFlag("2026-06-01T00:00:00Z"); }

  std::filesystem::path dir_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(RulesCommandsTest, ValidateAcceptsTheExampleAgainstItsRoster) {
  EXPECT_EQ(RunRulesValidate(Examples(), out_, err_), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("ruleset.yaml: valid against"));
}

TEST_F(RulesCommandsTest, ValidateReportsEveryErrorLocated) {
  std::string path = Write("bad.yaml",
                           "ruleset: bad\n"
                           "departments:\n"
                           "  sales:\n"
                           "    rules:\n"
                           "      - id: r1\n"
                           "        when: {region: {gt: 5}}\n"
                           "        assign: {pool: east-pool}\n"
                           "      - id: r1\n"
                           "        when: {colour: red}\n"
                           "        assign: {pool: east-pool}\n");
  EXPECT_EQ(RunRulesValidate({path, ""}, out_, err_), kExitFailed);
  std::vector<std::string> lines =
      absl::StrSplit(err_.str(), '\n', absl::SkipEmpty());
  ASSERT_GE(lines.size(), 3u) << err_.str();
  EXPECT_THAT(err_.str(),
              HasSubstr(path + ":6:"));  // the gt on a path field
  EXPECT_THAT(err_.str(), HasSubstr("departments.sales.rules[0].when.region"));
  EXPECT_THAT(err_.str(), HasSubstr("departments.sales.rules[1].id"));
  EXPECT_THAT(err_.str(), HasSubstr("departments.sales.rules[1].when.colour"));
  EXPECT_EQ(out_.str(), "");
}

TEST_F(RulesCommandsTest, ValidateMissingFileIsAUsageError) {
  EXPECT_EQ(RunRulesValidate({(dir_ / "nope.yaml").string(), ""}, out_, err_),
            kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("nope.yaml"));
}

TEST_F(RulesCommandsTest, EvaluatePrintsOneLinePerCustomerAndDepartment) {
  std::istringstream customers(
      R"({"id":"c-ka","region":"CN/East/Shanghai","industry":"C/C39/C391","customer_type":"enterprise","sales_stage":"qualified","annual_revenue":80000000})"
      "\n\n"
      R"({"id":"c-lead","region":"US/West","sales_stage":"lead"})"
      "\n");
  EXPECT_EQ(
      RunRulesEvaluate(Examples(), customers, "c.jsonl", At(), out_, err_),
      kExitOk)
      << err_.str();
  EXPECT_EQ(
      out_.str(),
      R"({"customer_id":"c-ka","department":"sales","segments":["key_account"],"rule_id":"key-accounts-east","target":{"team":"ka-east","strategy":"best_match"},"requires_approval":true})"
      "\n"
      R"({"customer_id":"c-ka","department":"service","segments":["key_account"],"rule_id":"service-cn","target":{"team":"service-cn","strategy":"least_loaded"},"requires_approval":false})"
      "\n"
      R"({"customer_id":"c-lead","department":"sales","segments":[],"rule_id":"new-leads-to-pool","target":{"pool":"east-pool"},"requires_approval":false})"
      "\n"
      R"({"customer_id":"c-lead","department":"service","segments":[],"rule_id":"fallback","target":{"team":"service-global","strategy":"round_robin"},"requires_approval":false})"
      "\n");
}

TEST_F(RulesCommandsTest, EvaluateReportsABadLineAndGoesOn) {
  std::istringstream customers(R"({"id":"c-1","region":"US/West"})"
                               "\n"
                               R"({"id":"c-2","region":"CN//East"})"
                               "\n"
                               R"({"id":"c-3","annual_revenue":"lots"})"
                               "\n"
                               R"({"id":"c-4","region":"US/West"})"
                               "\n");
  EXPECT_EQ(
      RunRulesEvaluate(Examples(), customers, "c.jsonl", At(), out_, err_),
      kExitFailed);
  EXPECT_THAT(err_.str(), HasSubstr("c.jsonl:2"));
  EXPECT_THAT(err_.str(), HasSubstr("customer.region"));
  EXPECT_THAT(err_.str(), HasSubstr("c.jsonl:3"));
  EXPECT_THAT(err_.str(), HasSubstr("customer.annual_revenue"));
  // c-1 and c-4, two departments each.
  std::vector<std::string> lines =
      absl::StrSplit(out_.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_THAT(lines[0], StartsWith(R"({"customer_id":"c-1")"));
  EXPECT_THAT(lines[3], StartsWith(R"({"customer_id":"c-4")"));
}

TEST_F(RulesCommandsTest, ExplainTracesEveryEarlierRule) {
  RulesFiles files{kExamples + "/ruleset.yaml", ""};
  EXPECT_EQ(RunRulesExplain(files,
                            R"({"id":"c-x","region":"CN/North/Beijing",)"
                            R"("sales_stage":"lead"})",
                            At(), out_, err_),
            kExitOk)
      << err_.str();
  const std::string text = out_.str();
  EXPECT_THAT(text, HasSubstr("customer c-x at 2026-06-01T00:00:00+00:00"));
  EXPECT_THAT(text,
              HasSubstr("sales: rule new-leads-to-pool -> pool east-pool"));
  EXPECT_THAT(text, HasSubstr("1. key-accounts-east: skipped, when.region"));
  EXPECT_THAT(text, HasSubstr("CN/North/Beijing"));
  EXPECT_THAT(text, HasSubstr("3. new-leads-to-pool: matched"));
  EXPECT_THAT(text, HasSubstr("service: rule service-cn -> team service-cn"));
}

TEST_F(RulesCommandsTest, TheExampleTestsPass) {
  EXPECT_EQ(RunRulesTest(Examples(), kExamples + "/ruleset_test.yaml", At(),
                         out_, err_),
            kExitOk)
      << out_.str() << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("7 passed, 0 failed"));
}

TEST_F(RulesCommandsTest, AFailingTestPrintsADiffAndExits1) {
  std::string tests =
      Write("t.yaml",
            "tests:\n"
            "  - name: wrong on purpose\n"
            "    customer: {id: c-1, region: US/West}\n"
            "    expect:\n"
            "      sales: {rule: new-leads-to-pool}\n"
            "  - name: right\n"
            "    customer: {id: c-2, region: US/West}\n"
            "    expect:\n"
            "      sales: {rule: fallback, pool: unassigned-sales}\n");
  EXPECT_EQ(RunRulesTest(Examples(), tests, At(), out_, err_), kExitFailed)
      << err_.str();
  EXPECT_EQ(out_.str(), "FAIL  wrong on purpose  (" + tests +
                            ":2:5)\n"
                            "      sales.rule:\n"
                            "      - new-leads-to-pool\n"
                            "      + fallback\n"
                            "PASS  right\n"
                            "1 passed, 1 failed\n");
}

TEST_F(RulesCommandsTest, ABrokenTestFileIsLocated) {
  std::string tests = Write("t.yaml",
                            "tests:\n"
                            "  - name: x\n"
                            "    customer: {id: c-1}\n"
                            "    expect:\n"
                            "      legal: {rule: x}\n");
  EXPECT_EQ(RunRulesTest(Examples(), tests, At(), out_, err_), kExitFailed);
  EXPECT_THAT(err_.str(),
              HasSubstr(tests + ":5:7: tests[0].expect.legal: department "
                                "\"legal\" has no rules in the ruleset"));
}

TEST_F(RulesCommandsTest, ValidateJsonIsOneDocumentWithEveryDiagnostic) {
  std::string path = Write("bad.yaml",
                           "ruleset: bad\n"
                           "departments:\n"
                           "  sales:\n"
                           "    rules:\n"
                           "      - id: r1\n"
                           "        when: {region: {gt: 5}}\n"
                           "        assign: {pool: east-pool}\n");
  EXPECT_EQ(RunRulesValidate({path, ""}, OutputFormat::kJson, out_, err_),
            kExitFailed);
  EXPECT_EQ(err_.str(), "");
  nlohmann::json doc = nlohmann::json::parse(out_.str());
  EXPECT_EQ(doc["valid"], false);
  ASSERT_GE(doc["diagnostics"].size(), 1u) << out_.str();
  const nlohmann::json& first = doc["diagnostics"][0];
  EXPECT_EQ(first["severity"], "ERROR");
  EXPECT_EQ(first["file"], path);
  EXPECT_EQ(first["line"], 6);
  EXPECT_EQ(first["field_path"], "departments.sales.rules[0].when.region.gt");
  EXPECT_FALSE(doc.contains("ruleset"));
}

TEST_F(RulesCommandsTest, ValidateJsonAcceptsTheExample) {
  EXPECT_EQ(RunRulesValidate(Examples(), OutputFormat::kJson, out_, err_),
            kExitOk)
      << err_.str();
  nlohmann::json doc = nlohmann::json::parse(out_.str());
  EXPECT_EQ(doc["valid"], true);
  EXPECT_TRUE(doc["diagnostics"].is_array());
  EXPECT_EQ(err_.str(), "");
}

TEST_F(RulesCommandsTest, ValidateJsonMissingFileIsAUsageError) {
  EXPECT_EQ(RunRulesValidate({(dir_ / "nope.yaml").string(), ""},
                             OutputFormat::kJson, out_, err_),
            kExitUsage);
  EXPECT_EQ(out_.str(), "");
  EXPECT_THAT(err_.str(), HasSubstr("nope.yaml"));
}

TEST_F(RulesCommandsTest, ExplainJsonIsTheEvaluation) {
  RulesFiles files{kExamples + "/ruleset.yaml", ""};
  EXPECT_EQ(RunRulesExplain(files,
                            R"({"id":"c-x","region":"CN/North/Beijing",)"
                            R"("sales_stage":"lead"})",
                            At(), OutputFormat::kJson, out_, err_),
            kExitOk)
      << err_.str();
  nlohmann::json doc = nlohmann::json::parse(out_.str());
  EXPECT_EQ(doc["customer_id"], "c-x");
  bool found = false;
  for (const auto& d : doc["departments"]) {
    if (d["department"] == "sales") {
      found = true;
      EXPECT_EQ(d["rule_id"], "new-leads-to-pool");
      EXPECT_FALSE(d["rule_traces"].empty());
    }
  }
  EXPECT_TRUE(found) << out_.str();
}

TEST_F(RulesCommandsTest, TestJsonListsEveryTestWithItsMismatches) {
  std::string tests =
      Write("t.yaml",
            "tests:\n"
            "  - name: wrong on purpose\n"
            "    customer: {id: c-1, region: US/West}\n"
            "    expect:\n"
            "      sales: {rule: new-leads-to-pool}\n"
            "  - name: right\n"
            "    customer: {id: c-2, region: US/West}\n"
            "    expect:\n"
            "      sales: {rule: fallback, pool: unassigned-sales}\n");
  EXPECT_EQ(
      RunRulesTest(Examples(), tests, At(), OutputFormat::kJson, out_, err_),
      kExitFailed)
      << err_.str();
  nlohmann::json expected = {{"tests",
                              {{{"name", "wrong on purpose"},
                                {"file", tests},
                                {"line", 2},
                                {"column", 5},
                                {"passed", false},
                                {"mismatches",
                                 {{{"what", "sales.rule"},
                                   {"expected", "new-leads-to-pool"},
                                   {"actual", "fallback"}}}}},
                               {{"name", "right"},
                                {"file", tests},
                                {"line", 6},
                                {"column", 5},
                                {"passed", true},
                                {"mismatches", nlohmann::json::array()}}}},
                             {"passed", 1},
                             {"failed", 1}};
  EXPECT_EQ(nlohmann::json::parse(out_.str()), expected) << out_.str();
}

}  // namespace
}  // namespace custodian::clients
