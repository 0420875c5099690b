// custodian.v1.RulesetService.SimulateRuleset over a real channel, against a
// real server on a real store (tests/server_testing.h). The server starts
// with the sample roster and ruleset (version 1, active); customers are
// written into its store as CustomerRecords while it is stopped.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "custodian/storage/v1/records.pb.h"
#include "custodian/v1/ruleset_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/ownership_book.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"
#include "tests/server_testing.h"

namespace custodian::server {
namespace {

using testing::BadFields;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::ReadFile;
using testing::SamplePath;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

// The sample ruleset with new leads sent to unassigned-sales instead of
// east-pool.
std::string LeadsToUnassigned() {
  std::string sample = ReadFile(SamplePath("ruleset.yaml"));
  std::string text = absl::StrReplaceAll(
      sample, {{"when: {sales_stage: lead}\n        assign: {pool: east-pool}",
                "when: {sales_stage: lead}\n        assign: {pool: "
                "unassigned-sales}"}});
  EXPECT_NE(text, sample);
  return text;
}

class SimulateApiTest : public testing::ServerFixture {
 protected:
  // Stops the server, writes the customers (id, region, sales stage) into
  // its store, and starts it again.
  void PutCustomers(const std::vector<std::vector<std::string>>& customers) {
    StopServer();
    {
      storage::RocksDbStoreOptions options;
      options.data_dir = dir_.path() + "/data";
      options.create_if_missing = false;
      options.sync_writes = false;
      auto store = storage::RocksDbStore::Open(options);
      ASSERT_TRUE(store.ok()) << store.status();
      absl::Status s = storage::RunInTransaction(
          **store, [&](storage::Transaction& txn) -> absl::Status {
            for (const std::vector<std::string>& c : customers) {
              storage::v1::CustomerRecord record;
              record.mutable_customer()->set_id(c[0]);
              record.mutable_customer()->set_region(c[1]);
              record.mutable_customer()->set_sales_stage(c[2]);
              absl::Status put =
                  txn.Put(storage::Table::kCustomers, CustomerKey(c[0]),
                          record.SerializeAsString());
              if (!put.ok()) return put;
            }
            return absl::OkStatus();
          });
      ASSERT_TRUE(s.ok()) << s;
      ASSERT_TRUE((*store)->Close().ok());
    }
    StartServer();
  }

  grpc::Status Simulate(const v1::SimulateRulesetRequest& request,
                        v1::SimulateRulesetResponse* response) {
    return Call(rulesets_.get(), &v1::RulesetService::Stub::SimulateRuleset,
                request, response);
  }
};

TEST_F(SimulateApiTest, ComparesACandidateWithTheActiveVersion) {
  // l1, l2: new leads, east-pool -> unassigned-sales; q1: unchanged.
  PutCustomers({{"l2", "CN/South/Shenzhen", "lead"},
                {"q1", "US/West", "qualified"},
                {"l1", "US/West", "lead"}});
  ASSERT_EQ(MustCreate(LeadsToUnassigned(), "create-v2").version(), 2);
  const std::string before = State();

  v1::SimulateRulesetRequest request;
  request.set_version(2);
  v1::SimulateRulesetResponse response;
  grpc::Status status = Simulate(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.version(), 2);
  EXPECT_EQ(response.baseline_version(), 1);  // the active one
  EXPECT_EQ(response.scanned_customers(), 3);
  EXPECT_EQ(response.changed_customers(), 2);
  EXPECT_EQ(response.evaluated_at().seconds(),
            absl::ToUnixSeconds(testing::T0()));
  ASSERT_EQ(response.departments_size(), 2);

  const v1::SimulatedDepartment& sales = response.departments(0);
  EXPECT_EQ(sales.department(), "sales");
  EXPECT_EQ(sales.changed(), 2);
  EXPECT_EQ(sales.unchanged(), 1);
  ASSERT_EQ(sales.transitions_size(), 1);
  EXPECT_EQ(sales.transitions(0).from().pool(), "east-pool");
  EXPECT_EQ(sales.transitions(0).to().pool(), "unassigned-sales");
  EXPECT_EQ(sales.transitions(0).count(), 2);
  EXPECT_THAT(sales.transitions(0).sample_customer_ids(),
              ElementsAre("l1", "l2"));
  ASSERT_EQ(sales.rules_size(), 1);
  EXPECT_EQ(sales.rules(0).rule_id(), "new-leads-to-pool");
  EXPECT_EQ(sales.rules(0).count(), 2);

  const v1::SimulatedDepartment& service = response.departments(1);
  EXPECT_EQ(service.department(), "service");
  EXPECT_EQ(service.changed(), 0);
  EXPECT_EQ(service.unchanged(), 3);
  EXPECT_THAT(service.transitions(), IsEmpty());

  // The same comparison the other way round, with one sample.
  request.set_version(1);
  request.set_baseline_version(2);
  request.set_max_samples(1);
  status = Simulate(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.departments(0).transitions_size(), 1);
  EXPECT_EQ(response.departments(0).transitions(0).from().pool(),
            "unassigned-sales");
  EXPECT_THAT(response.departments(0).transitions(0).sample_customer_ids(),
              ElementsAre("l1"));

  EXPECT_EQ(State(), before);  // writes nothing
}

TEST_F(SimulateApiTest, BadRequestNamesEveryField) {
  v1::SimulateRulesetRequest request;
  request.set_version(-1);
  request.set_baseline_version(-2);
  request.set_max_samples(500);
  request.mutable_at()->set_nanos(2000000000);
  v1::SimulateRulesetResponse response;
  grpc::Status status = Simulate(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("version: "));
  EXPECT_THAT(
      BadFields(status),
      UnorderedElementsAre("version", "baseline_version", "at", "max_samples"));
}

TEST_F(SimulateApiTest, MissingVersionIsNotFound) {
  v1::SimulateRulesetRequest request;
  request.set_version(42);
  v1::SimulateRulesetResponse response;
  grpc::Status status = Simulate(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), StartsWith("version: "));
  EXPECT_THAT(status.error_message(), HasSubstr("42"));

  request.set_version(1);
  request.set_baseline_version(43);
  status = Simulate(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), StartsWith("baseline_version: "));
}

}  // namespace
}  // namespace custodian::server
