// custodianctl's pool commands end to end (clients/pool_commands.h): `pool
// list|claim|release`, `activity record` and `dupes check` over a real
// channel to the real server (tests/server_testing.h) with the sample
// roster and ruleset (east-pool: 5 claims a day, 30 days of cooldown;
// duplicates matched on tax_id, email_domain and name).
#include <grpcpp/grpcpp.h>

#include <memory>
#include <sstream>
#include <string>

#include "absl/time/time.h"
#include "clients/connection.h"
#include "clients/errors.h"
#include "clients/output.h"
#include "clients/ownership_commands.h"
#include "clients/pool_commands.h"
#include "clients/rules_commands.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/server_testing.h"

namespace custodian::clients {
namespace {

using ::testing::HasSubstr;

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

class PoolCommandsE2eTest : public server::testing::ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    connection_ = Connection::Open({server_->address(), absl::Seconds(30),
                                    /*credentials=*/nullptr, /*token=*/""});
  }

  template <typename F>
  Result Run(F command, OutputFormat format = OutputFormat::kTable) {
    std::ostringstream out;
    std::ostringstream err;
    Result result;
    result.code = command(*connection_, CommandOutput{format, out, err});
    result.out = out.str();
    result.err = err.str();
    return result;
  }

  // A lead: rule new-leads-to-pool puts it in east-pool.
  void AssignLead(const std::string& id, const std::string& name) {
    AssignArgs args;
    args.customer.id = id;
    args.customer.name = name;
    args.customer.region = "CN/South/Shenzhen";
    args.customer.industry = "I/I65";
    args.customer.customer_type = "smb";
    args.customer.sales_stage = "lead";
    args.request_id = "assign-" + id;
    Result r = Run([&](const Connection& c, const CommandOutput& o) {
      return RunAssign(c, args, o);
    });
    ASSERT_EQ(r.code, kExitOk) << r.err;
  }

  std::unique_ptr<Connection> connection_;
};

TEST_F(PoolCommandsE2eTest, ListClaimReleaseAndRecordActivity) {
  AssignLead("c-lead", "深圳星河科技有限公司");

  PoolListArgs list;
  list.department = "sales";
  Result r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunPoolList(c, list, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("c-lead"));
  EXPECT_THAT(r.out, HasSubstr("east-pool"));
  r = Run([&](const Connection& c,
              const CommandOutput& o) { return RunPoolList(c, list, o); },
          OutputFormat::kJson);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  nlohmann::json listed = nlohmann::json::parse(r.out);
  ASSERT_EQ(listed["entries"].size(), 1u);
  EXPECT_EQ(listed["entries"][0]["ownership"]["customer_id"], "c-lead");

  PoolClaimArgs claim{"c-lead", "sales", "liu.yang", "claim-1"};
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunPoolClaim(c, claim, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("claimed c-lead in sales: now liu.yang (team "
                               "mfg-east), active"));

  PoolClaimArgs other{"c-lead", "sales", "huang.min", "claim-2"};
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunPoolClaim(c, other, o);
  });
  EXPECT_EQ(r.code, kExitServerRefused);
  EXPECT_THAT(r.err, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(r.err, HasSubstr("owned by rep \"liu.yang\""));
  EXPECT_THAT(r.err, HasSubstr("appeal"));

  // At the server's (manual) clock: the default, this machine's now, would
  // be in the server's future.
  ActivityRecordArgs visit{
      "c-lead", "sales", "visit",
      absl::FormatTime(absl::RFC3339_full, clock_.Now(), absl::UTCTimeZone()),
      "visit-1"};
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunActivityRecord(c, visit, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("customer c-lead: last activity "));

  PoolReleaseArgs release{
      "c-lead", "sales", "east-pool", "lost_to_competitor", "", "release-1"};
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunPoolRelease(c, release, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(
      r.out, HasSubstr("released c-lead in sales: now pool east-pool, pooled"));

  // east-pool's 30-day cooldown stops liu.yang from taking it back.
  PoolClaimArgs again{"c-lead", "sales", "liu.yang", "claim-3"};
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunPoolClaim(c, again, o);
  });
  EXPECT_EQ(r.code, kExitServerRefused);
  EXPECT_THAT(r.err, HasSubstr("cooldown until"));
}

TEST_F(PoolCommandsE2eTest, BadFlagValuesAreUsageErrorsBeforeAnyCall) {
  PoolReleaseArgs release{"c-1", "sales", "", "bored", "", ""};
  Result r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunPoolRelease(c, release, o);
  });
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--reason"));
  ActivityRecordArgs activity{"c-1", "sales", "call", "yesterday", ""};
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunActivityRecord(c, activity, o);
  });
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--at"));
  PoolListArgs list;
  list.department = "sales";
  list.min_time_in_pool = "forever";
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunPoolList(c, list, o);
  });
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--min-time-in-pool"));
}

TEST_F(PoolCommandsE2eTest, DupesCheckFindsTheOwnerOfAFullWidthVariant) {
  AssignLead("c-lead", "深圳星河科技有限公司");
  PoolClaimArgs claim{"c-lead", "sales", "zhou.tao", "claim-1"};
  ASSERT_EQ(Run([&](const Connection& c, const CommandOutput& o) {
              return RunPoolClaim(c, claim, o);
            }).code,
            kExitOk);

  DupesCheckArgs check;
  check.name = "深圳星河科技股份有限公司";
  Result r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunDupesCheck(c, check, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("c-lead"));
  EXPECT_THAT(r.out, HasSubstr("zhou.tao"));
  EXPECT_THAT(r.out, HasSubstr("1 matching customer(s)"));

  check.name = "Nobody Ltd";
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunDupesCheck(c, check, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("no duplicates (checked: tax_id, email_domain, "
                               "name)"));

  DupesCheckArgs empty;
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunDupesCheck(c, empty, o);
  });
  EXPECT_EQ(r.code, kExitServerRefused);
  EXPECT_THAT(r.err, HasSubstr("INVALID_ARGUMENT"));

  // A new customer with the same company name is routed to its owner.
  AssignArgs dup;
  dup.customer.id = "c-dup";
  dup.customer.name = "深圳星河科技(集团)有限公司";
  dup.customer.region = "CN/South/Shenzhen";
  dup.customer.sales_stage = "lead";
  dup.request_id = "assign-dup";
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunAssign(c, dup, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("zhou.tao"));
}

}  // namespace
}  // namespace custodian::clients
