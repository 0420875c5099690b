#include "clients/output.h"

#include <cstdint>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace custodian::clients {
namespace {

template <typename T>
T ParseText(const std::string& text) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message))
      << text;
  return message;
}

TEST(DisplayWidthTest, CountsCjkAsTwoColumns) {
  EXPECT_EQ(DisplayWidth(""), 0);
  EXPECT_EQ(DisplayWidth("zhang.wei"), 9);
  EXPECT_EQ(DisplayWidth("张伟"), 4);
  EXPECT_EQ(DisplayWidth("公海 pool"), 9);
  EXPECT_EQ(DisplayWidth("김민준"), 6);     // Hangul
  EXPECT_EQ(DisplayWidth("ＡＢ"), 4);       // fullwidth Latin
  EXPECT_EQ(DisplayWidth("→"), 1);          // ambiguous: narrow
  EXPECT_EQ(DisplayWidth("e\xCC\x81"), 1);  // e + combining acute
  EXPECT_EQ(DisplayWidth("\xFF\xFE"), 2);   // invalid bytes: 1 each
  EXPECT_EQ(DisplayWidth("\xE5\xBC"), 2);   // truncated sequence
}

TEST(TableTest, AlignsColumnsByDisplayWidth) {
  Table table({"ID", "NAME", "STATUS"});
  table.AddRow({"zhang.wei", "张伟", "active"});
  table.AddRow({"li", "Li Na", "away"});
  table.AddRow({"wang.fang", "王芳芳芳", "left"});
  std::ostringstream out;
  table.Render(out);
  EXPECT_EQ(out.str(),
            "ID         NAME      STATUS\n"
            "zhang.wei  张伟      active\n"
            "li         Li Na     away\n"
            "wang.fang  王芳芳芳  left\n");
}

TEST(TableTest, NeverEndsALineInSpaces) {
  Table table({"A", "B", "C"});
  table.AddRow({"x", "", ""});
  table.AddRow({"longer", "y"});
  table.AddRow({"z", "w", "v", "dropped"});
  std::ostringstream out;
  table.Render(out);
  EXPECT_EQ(out.str(),
            "A       B  C\n"
            "x\n"
            "longer  y\n"
            "z       w  v\n");
}

TEST(TableTest, LineBreaksInCellsPrintAsSpaces) {
  Table table({"REASON", "X"});
  table.AddRow({"two\nlines\tand tab", "1"});
  std::ostringstream out;
  table.Render(out);
  EXPECT_EQ(out.str(),
            "REASON             X\n"
            "two lines and tab  1\n");
}

TEST(FormatTest, DurationsUseTheLargestExactUnit) {
  google::protobuf::Duration d;
  EXPECT_EQ(FormatDuration(d), "0s");
  d.set_seconds(7 * 86400);
  EXPECT_EQ(FormatDuration(d), "7d");
  d.set_seconds(36 * 3600);
  EXPECT_EQ(FormatDuration(d), "36h");
  d.set_seconds(90 * 60);
  EXPECT_EQ(FormatDuration(d), "90m");
  d.set_seconds(45);
  EXPECT_EQ(FormatDuration(d), "45s");
  d.set_seconds(1);
  d.set_nanos(500000000);
  EXPECT_EQ(FormatDuration(d), "1.5s");
}

TEST(FormatTest, TimestampsAreUtcSecondsOrDash) {
  google::protobuf::Timestamp t;
  EXPECT_EQ(FormatTimestamp(t), "-");
  t.set_seconds(1780306200);  // 2026-06-01T09:30:00Z
  t.set_nanos(123);
  EXPECT_EQ(FormatTimestamp(t), "2026-06-01T09:30:00Z");
}

TEST(FormatTest, DiagnosticsMatchTheOfflineForm) {
  auto d = ParseText<v1::Diagnostic>(R"pb(
    severity: WARNING
    file: "ruleset.yaml"
    line: 12
    column: 9
    field_path: "departments.sales.rules[1]"
    message: "never matches")pb");
  EXPECT_EQ(FormatDiagnostic(d),
            "ruleset.yaml:12:9: departments.sales.rules[1]: warning: never "
            "matches");
  d.set_line(0);
  d.set_severity(v1::ERROR);
  EXPECT_EQ(FormatDiagnostic(d),
            "ruleset.yaml: departments.sales.rules[1]: never matches");
}

TEST(FormatTest, ParsesRepStatusAndOutputFormat) {
  EXPECT_EQ(ParseRepStatus("Away"), v1::AWAY);
  EXPECT_EQ(ParseRepStatus("left"), v1::LEFT);
  EXPECT_EQ(ParseRepStatus("gone"), std::nullopt);
  EXPECT_EQ(ParseOutputFormat("json"), OutputFormat::kJson);
  EXPECT_EQ(ParseOutputFormat("table"), OutputFormat::kTable);
  EXPECT_EQ(ParseOutputFormat("yaml"), std::nullopt);
}

TEST(ToJsonTest, UsesProtoFieldNamesAndPrintsDefaults) {
  auto response = ParseText<v1::ListRulesetVersionsResponse>(R"pb(
    versions { version: 2 name: "acme" active: true }
    active_version: 2)pb");
  EXPECT_EQ(ToJson(response),
            "{\n"
            "  \"versions\": [\n"
            "    {\n"
            "      \"version\": \"2\",\n"
            "      \"name\": \"acme\",\n"
            "      \"source_text\": \"\",\n"
            "      \"file_name\": \"\",\n"
            "      \"created_by\": \"\",\n"
            "      \"active\": true,\n"
            "      \"activations\": [],\n"
            "      \"warnings\": []\n"
            "    }\n"
            "  ],\n"
            "  \"next_page_token\": \"\",\n"
            "  \"active_version\": \"2\",\n"
            "  \"activation_etag\": \"\"\n"
            "}\n");
}

TEST(ToJsonTest, AppendsExtraMembersAndKeepsUtf8) {
  auto response = ParseText<v1::SetRepStatusResponse>(R"pb(
    rep { id: "zhang.wei" name: "张伟" status: AWAY skills: "mfg" }
    previous_status: ACTIVE
    version: 7)pb");
  EXPECT_EQ(ToJson(response, {{"request_id", "abc"}}),
            "{\n"
            "  \"rep\": {\n"
            "    \"id\": \"zhang.wei\",\n"
            "    \"name\": \"张伟\",\n"
            "    \"status\": \"AWAY\",\n"
            "    \"skills\": [\n"
            "      \"mfg\"\n"
            "    ]\n"
            "  },\n"
            "  \"previous_status\": \"ACTIVE\",\n"
            "  \"version\": \"7\",\n"
            "  \"request_id\": \"abc\"\n"
            "}\n");
}

TEST(RenderTest, Roster) {
  auto response = ParseText<v1::GetRosterResponse>(R"pb(
    version: 4
    etag: "r4"
    update_time { seconds: 1780306200 }
    updated_by: "admin@acme"
    roster {
      departments { id: "sales" name: "销售部" }
      departments { id: "service" name: "Service" }
      reps {
        id: "zhang.wei"
        name: "张伟"
        status: ACTIVE
        skills: "manufacturing"
        skills: "key_account"
      }
      reps { id: "li.na" name: "Li Na" status: AWAY }
      reps { id: "old.timer" name: "Old Timer" status: LEFT }
      teams {
        id: "ka-east"
        department: "sales"
        members { rep: "zhang.wei" capacity: 200 weight: 1 }
        members { rep: "li.na" weight: 3 }
      }
      teams { id: "empty" department: "service" }
      teams {
        id: "east-pool"
        department: "sales"
        pool {
          claim_limit_per_day: 5
          cooldown { seconds: 604800 }
        }
      }
      teams {
        id: "west-pool"
        department: "sales"
        pool {}
      }
    })pb");
  std::ostringstream out;
  RenderRoster(response, out);
  EXPECT_EQ(out.str(),
            "roster version 4, updated 2026-06-01T09:30:00Z by admin@acme\n"
            "\n"
            "DEPARTMENTS\n"
            "ID       NAME\n"
            "sales    销售部\n"
            "service  Service\n"
            "\n"
            "REPS\n"
            "ID         NAME       STATUS  SKILLS\n"
            "zhang.wei  张伟       active  manufacturing, key_account\n"
            "li.na      Li Na      away\n"
            "old.timer  Old Timer  left\n"
            "\n"
            "TEAMS\n"
            "TEAM     DEPARTMENT  MEMBER     CAPACITY  WEIGHT\n"
            "ka-east  sales       zhang.wei  200       1\n"
            "ka-east  sales       li.na      default   3\n"
            "empty    service     -\n"
            "\n"
            "POOLS\n"
            "POOL       DEPARTMENT  CLAIMS/DAY  COOLDOWN\n"
            "east-pool  sales       5           7d\n"
            "west-pool  sales       unlimited   0s\n");
}

TEST(RenderTest, EmptyRoster) {
  std::ostringstream out;
  RenderRoster(v1::GetRosterResponse(), out);
  EXPECT_EQ(out.str(),
            "no roster yet (apply one with `custodianctl roster apply "
            "FILE`)\n");
}

TEST(RenderTest, RosterChanges) {
  auto response = ParseText<v1::ApplyRosterResponse>(R"pb(
    version: 5
    changes { kind: ADDED resource: "reps/wang.fang" }
    changes {
      kind: MODIFIED
      resource: "reps/zhang.wei"
      changes { field: "status" before: "active" after: "away" }
      changes { field: "skills" before: "" after: "[retail]" }
    }
    changes { kind: REMOVED resource: "teams/old-team" })pb");
  std::ostringstream out;
  RenderRosterChanges(response, out);
  EXPECT_EQ(out.str(),
            "KIND      RESOURCE        FIELD   BEFORE → AFTER\n"
            "added     reps/wang.fang\n"
            "modified  reps/zhang.wei  status  active → away\n"
            "modified  reps/zhang.wei  skills  (none) → [retail]\n"
            "removed   teams/old-team\n"
            "roster version 5\n");

  response.set_dry_run(true);
  response.set_version(4);
  response.clear_changes();
  out.str("");
  RenderRosterChanges(response, out);
  EXPECT_EQ(out.str(),
            "no changes\n"
            "dry run: nothing written (roster version 4)\n");
}

TEST(RenderTest, RulesetVersions) {
  auto response = ParseText<v1::ListRulesetVersionsResponse>(R"pb(
    versions {
      version: 12
      name: "acme-2026"
      create_time { seconds: 1780306200 }
      created_by: "张伟"
      active: true
    }
    versions { version: 9 name: "acme" created_by: "ops" })pb");
  std::ostringstream out;
  RenderRulesetVersions(response, out);
  EXPECT_EQ(out.str(),
            "VERSION  NAME       CREATED               BY    ACTIVE\n"
            "12       acme-2026  2026-06-01T09:30:00Z  张伟  yes\n"
            "9        acme       -                     ops\n");
}

TEST(RenderTest, RulesetVersion) {
  auto version = ParseText<v1::RulesetVersion>(R"pb(
    version: 3
    name: "acme"
    file_name: "ruleset.yaml"
    create_time { seconds: 1780306200 }
    created_by: "ops"
    active: true
    ruleset {
      departments {
        department: "sales"
        rules { id: "a" }
        rules { id: "b" }
        fallback { pool: "east-pool" }
      }
      departments { department: "service" }
    }
    activations {
      version: 3
      previous_version: 2
      activate_time { seconds: 1780306200 }
      activated_by: "ops"
      reason: "Q3 territories"
    }
    warnings {
      severity: WARNING
      file: "ruleset.yaml"
      line: 4
      column: 7
      field_path: "departments.sales.rules[1]"
      message: "shadowed by rules[0]"
    })pb");
  std::ostringstream out;
  RenderRulesetVersion(version, out);
  EXPECT_EQ(out.str(),
            "version     3 (active)\n"
            "name        acme\n"
            "file        ruleset.yaml\n"
            "created     2026-06-01T09:30:00Z by ops\n"
            "\n"
            "DEPARTMENT  RULES  FALLBACK\n"
            "sales       2      yes\n"
            "service     0      no\n"
            "\n"
            "ACTIVATIONS\n"
            "ACTIVATED             BY   PREVIOUS  REASON\n"
            "2026-06-01T09:30:00Z  ops  2         Q3 territories\n"
            "\n"
            "WARNINGS\n"
            "ruleset.yaml:4:7: departments.sales.rules[1]: warning: shadowed "
            "by rules[0]\n");
}

TEST(RenderTest, RulesetDiff) {
  auto response = ParseText<v1::DiffRulesetsResponse>(R"pb(
    from_version: 3
    to_version: 4
    diff {
      name { field: "ruleset" before: "acme" after: "acme-2026" }
      departments {
        department: "sales"
        kind: MODIFIED
        rules {
          kind: ADDED
          rule_id: "ka-north"
          old_position: -1
          new_position: 0
          changes { field: "when.region" after: "{under: [CN/North]}" }
          changes { field: "assign" after: "team ka-north (best_match)" }
        }
        rules {
          kind: MODIFIED
          rule_id: "ka-east"
          changes {
            field: "assign"
            before: "team ka-east (round_robin)"
            after: "team ka-east (weighted)"
          }
          changes { field: "position" before: "0" after: "1" }
        }
        rules {
          kind: REMOVED
          rule_id: "legacy"
          changes { field: "assign" before: "pool old-pool" }
        }
        fallback { field: "fallback" before: "pool east-pool" after: "" }
      }
      departments {
        department: "marketing"
        kind: ADDED
        rules { kind: ADDED rule_id: "all" }
      }
      segments {
        kind: ADDED
        name: "dormant"
        changes { field: "when" after: "{last_activity: {before: 90d}}" }
      }
      segments {
        kind: MODIFIED
        name: "key_account"
        changes {
          field: "when"
          before: "{value: {gt: 1000}}"
          after: "{value: {gt: 5000}}"
        }
      }
      segments { kind: REMOVED name: "churned" }
      policies { field: "policies.on_drift" before: "queue" after: "apply" }
    })pb");
  std::ostringstream out;
  RenderRulesetDiff(response, out);
  EXPECT_EQ(out.str(),
            "ruleset 3 → 4\n"
            "~ ruleset: acme → acme-2026\n"
            "department sales\n"
            "  + rule ka-north\n"
            "      when.region: {under: [CN/North]}\n"
            "      assign: team ka-north (best_match)\n"
            "  ~ rule ka-east: assign: team ka-east (round_robin) → team "
            "ka-east (weighted)\n"
            "  ~ rule ka-east: position: 0 → 1\n"
            "  - rule legacy\n"
            "      assign: pool old-pool\n"
            "  ~ fallback: pool east-pool → (none)\n"
            "department marketing (added)\n"
            "  + rule all\n"
            "segments\n"
            "  + segment dormant\n"
            "      when: {last_activity: {before: 90d}}\n"
            "  ~ segment key_account: when: {value: {gt: 1000}} → {value: "
            "{gt: 5000}}\n"
            "  - segment churned\n"
            "policies\n"
            "  ~ policies.on_drift: queue → apply\n");
}

TEST(RenderTest, IdenticalRulesetsHaveNoDifferences) {
  v1::DiffRulesetsResponse response;
  response.set_from_version(2);
  response.set_to_version(2);
  std::ostringstream out;
  RenderRulesetDiff(response, out);
  EXPECT_EQ(out.str(), "ruleset 2 → 2\nno differences\n");
}

}  // namespace
}  // namespace custodian::clients

namespace custodian::clients {
namespace {

v1::SimulateRulesetResponse ParseTextForSimulation(const std::string& text) {
  v1::SimulateRulesetResponse message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message))
      << text;
  return message;
}

TEST(FormatCountTest, GroupsThousands) {
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(1000), "1,000");
  EXPECT_EQ(FormatCount(1234567), "1,234,567");
  EXPECT_EQ(FormatCount(-10000), "-10,000");
  EXPECT_EQ(FormatCount(INT64_MIN), "-9,223,372,036,854,775,808");
}

TEST(RenderSimulationTest, PrintsDepartmentsTransitionsAndRules) {
  const auto response = ParseTextForSimulation(R"pb(
    version: 2
    baseline_version: 1
    evaluated_at { seconds: 1767225600 }
    snapshot_time { seconds: 1767225660 }
    scanned_customers: 10002
    changed_customers: 1235
    skipped_customers: 2
    skipped_sample_customer_ids: "bad-1"
    departments {
      department: "sales"
      changed: 1234
      unchanged: 8766
      transitions {
        from { team: "ka-east" }
        to { pool: "east-pool" }
        count: 1200
        sample_customer_ids: [ "c1", "c2" ]
      }
      transitions {
        to { rep: "zhang.wei" }
        count: 34
        sample_customer_ids: [ "c3" ]
      }
      rules { rule_id: "leads" count: 34 sample_customer_ids: "c3" }
      rules {
        rule_id: "fallback"
        count: 1200
        sample_customer_ids: [ "c1", "c2" ]
      }
    }
    departments {
      department: "service"
      changed: 1
      unchanged: 9999
      transitions {
        from { team: "service-cn" }
        count: 1
        sample_customer_ids: "c9"
      }
      rules { rule_id: "" count: 1 sample_customer_ids: "c9" }
    }
    departments { department: "marketing" unchanged: 10000 }
  )pb");
  std::ostringstream out;
  RenderSimulation(response, out);
  EXPECT_EQ(out.str(),
            "version 2 against version 1, evaluated at 2026-01-01T00:00:00Z "
            "(snapshot 2026-01-01T00:01:00Z)\n"
            "10,002 customers scanned, 1,235 change target in at least one "
            "department\n"
            "2 skipped: stored attributes no longer validate (bad-1, …)\n"
            "\n"
            "sales: 1,234 of 10,000 customers change target\n"
            "  FROM          TO              CUSTOMERS  SAMPLES\n"
            "  team ka-east  pool east-pool  1,200      c1, c2, …\n"
            "  none          rep zhang.wei   34         c3, …\n"
            "\n"
            "  RULE        CUSTOMERS  SAMPLES\n"
            "  leads       34         c3, …\n"
            "  (fallback)  1,200      c1, c2, …\n"
            "\n"
            "service: 1 of 10,000 customers change target\n"
            "  FROM             TO    CUSTOMERS  SAMPLES\n"
            "  team service-cn  none  1          c9\n"
            "\n"
            "  RULE        CUSTOMERS  SAMPLES\n"
            "  (no match)  1          c9\n"
            "\n"
            "marketing: 0 of 10,000 customers change target\n");
}

TEST(RenderSimulationTest, JsonHasEveryCountAndProtoFieldNames) {
  const auto response = ParseTextForSimulation(R"pb(
    version: 2
    baseline_version: 1
    scanned_customers: 3
    departments { department: "sales" unchanged: 3 }
  )pb");
  const std::string json = ToJson(response);
  EXPECT_THAT(json, ::testing::HasSubstr("\"scanned_customers\": \"3\""));
  EXPECT_THAT(json, ::testing::HasSubstr("\"changed_customers\": \"0\""));
  EXPECT_THAT(json, ::testing::HasSubstr("\"transitions\": []"));
}

}  // namespace
}  // namespace custodian::clients
