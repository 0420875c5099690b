// RulesetSimulator over a real store (server/domain_testing.h): customers are
// written directly as CustomerRecords under CustomerKey, and the roster and
// rulesets go through the registries.
#include "server/ruleset_simulator.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "custodian/storage/v1/records.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "server/domain_testing.h"
#include "server/ownership_book.h"
#include "server/request_checks.h"

namespace custodian::server {
namespace {

using ::google::protobuf::util::TimeUtil;
using testing::DomainTest;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::kRosterYaml;
using testing::kRulesetV1Yaml;
using testing::kRulesetV2Yaml;
using ::testing::StartsWith;
using testing::T0;
using ::testing::UnorderedElementsAre;

// Sales: customers idle for over 30 days go to the pool, the others to
// ka-east. Valid against kRosterYaml.
constexpr absl::string_view kDormantYaml = R"(ruleset: acme
departments:
  sales:
    rules:
      - id: dormant
        when: {last_activity_time: {older_than: 30d}}
        assign: {pool: east-pool}
    fallback: {team: ka-east}
)";

struct CustomerSpec {
  std::string id;
  std::string region;
  std::string sales_stage;
};

google::protobuf::Timestamp Proto(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

std::string TargetText(const v1::Target& t) {
  switch (t.kind_case()) {
    case v1::Target::kTeam:
      return "team " + t.team();
    case v1::Target::kPool:
      return "pool " + t.pool();
    case v1::Target::kRep:
      return "rep " + t.rep();
    default:
      return "?";
  }
}

// "from -> to: count [samples]" for each transition of a department.
std::vector<std::string> Transitions(const v1::SimulatedDepartment& d) {
  std::vector<std::string> out;
  for (const v1::TargetTransition& t : d.transitions()) {
    out.push_back(
        absl::StrCat(t.has_from() ? TargetText(t.from()) : "none", " -> ",
                     t.has_to() ? TargetText(t.to()) : "none", ": ", t.count(),
                     " [", absl::StrJoin(t.sample_customer_ids(), ","), "]"));
  }
  return out;
}

// "rule: count [samples]" for each rule of a department.
std::vector<std::string> Rules(const v1::SimulatedDepartment& d) {
  std::vector<std::string> out;
  for (const v1::RuleImpact& r : d.rules()) {
    out.push_back(absl::StrCat(r.rule_id(), ": ", r.count(), " [",
                               absl::StrJoin(r.sample_customer_ids(), ","),
                               "]"));
  }
  return out;
}

class RulesetSimulatorTest : public DomainTest {
 protected:
  // The roster, and versions 1 (kRulesetV1Yaml) and 2 (kRulesetV2Yaml),
  // neither active.
  void Publish() {
    MustApply(kRosterYaml, "roster-1");
    ASSERT_EQ(MustCreate(kRulesetV1Yaml, "create-1").version(), 1);
    ASSERT_EQ(MustCreate(kRulesetV2Yaml, "create-2").version(), 2);
  }

  void Put(const storage::v1::CustomerRecord& record) {
    absl::Status s =
        storage::RunInTransaction(*store_, [&](storage::Transaction& txn) {
          return txn.Put(storage::Table::kCustomers,
                         CustomerKey(record.customer().id()),
                         record.SerializeAsString());
        });
    ASSERT_TRUE(s.ok()) << s;
  }

  void PutCustomer(const CustomerSpec& spec) {
    storage::v1::CustomerRecord record;
    record.mutable_customer()->set_id(spec.id);
    record.mutable_customer()->set_region(spec.region);
    record.mutable_customer()->set_sales_stage(spec.sales_stage);
    Put(record);
  }

  // Under V1 -> V2: a1, a2, a5, a6 move sales ka-east -> east-pool (a2 by
  // rule leads, the others by the fallback), a3 moves east-pool -> ka-east
  // (rule east); a1, a2, a3, a5, a6 lose service-cn (V2 has no service);
  // a4 and a7 change nothing (a7's sales rule changes, not its target).
  void PutSevenCustomers() {
    // Written out of order: the store orders them.
    PutCustomer({"a6", "CN/East/Suzhou", "qualified"});
    PutCustomer({"a1", "CN/East/Shanghai", "qualified"});
    PutCustomer({"a2", "CN/East/Hangzhou", "lead"});
    PutCustomer({"a3", "CN/North/Beijing", "qualified"});
    PutCustomer({"a4", "US/West", "qualified"});
    PutCustomer({"a5", "CN/East/Nanjing", "qualified"});
    PutCustomer({"a7", "", "lead"});
  }

  std::unique_ptr<RulesetSimulator> Simulator(int threads = 2,
                                              size_t batch = 256) {
    RulesetSimulator::Options options;
    options.store = store_.get();
    options.registry = rulesets_.get();
    options.clock = &clock_;
    options.worker_threads = threads;
    options.batch_size = batch;
    auto simulator = RulesetSimulator::Create(options);
    EXPECT_TRUE(simulator.ok()) << simulator.status();
    return simulator.ok() ? *std::move(simulator) : nullptr;
  }

  absl::StatusOr<v1::SimulateRulesetResponse> Simulate(
      const v1::SimulateRulesetRequest& request) {
    return Simulator()->Simulate(request);
  }

  v1::SimulateRulesetResponse MustSimulate(
      const v1::SimulateRulesetRequest& request) {
    auto response = Simulate(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : v1::SimulateRulesetResponse();
  }

  static v1::SimulateRulesetRequest Request(int64_t version,
                                            int64_t baseline = 0) {
    v1::SimulateRulesetRequest request;
    request.set_version(version);
    request.set_baseline_version(baseline);
    return request;
  }
};

TEST_F(RulesetSimulatorTest, CustomerKeyPrefixPrefixesEveryCustomerKey) {
  EXPECT_TRUE(absl::StartsWith(CustomerKey("c1"), CustomerKeyPrefix()));
  EXPECT_TRUE(absl::StartsWith(CustomerKey(""), CustomerKeyPrefix()));
}

TEST_F(RulesetSimulatorTest, CountsChangesPerDepartmentTransitionAndRule) {
  Publish();
  PutSevenCustomers();
  v1::SimulateRulesetRequest request = Request(2, 1);
  request.set_max_samples(3);
  const v1::SimulateRulesetResponse r = MustSimulate(request);

  EXPECT_EQ(r.version(), 2);
  EXPECT_EQ(r.baseline_version(), 1);
  EXPECT_EQ(r.scanned_customers(), 7);
  EXPECT_EQ(r.changed_customers(), 5);
  EXPECT_EQ(r.skipped_customers(), 0);
  EXPECT_EQ(r.snapshot_time().seconds(), absl::ToUnixSeconds(T0()));
  EXPECT_EQ(r.evaluated_at().seconds(), absl::ToUnixSeconds(T0()));
  ASSERT_EQ(r.departments_size(), 2);

  // The candidate's department first, then the one only the baseline has.
  const v1::SimulatedDepartment& sales = r.departments(0);
  EXPECT_EQ(sales.department(), "sales");
  EXPECT_EQ(sales.changed(), 5);
  EXPECT_EQ(sales.unchanged(), 2);
  EXPECT_THAT(Transitions(sales),
              ElementsAre("team ka-east -> pool east-pool: 4 [a1,a2,a5]",
                          "pool east-pool -> team ka-east: 1 [a3]"));
  // Candidate rule order, then the fallback.
  EXPECT_THAT(Rules(sales), ElementsAre("east: 1 [a3]", "leads: 1 [a2]",
                                        "fallback: 3 [a1,a5,a6]"));
  // Only kind and id are set on the targets.
  EXPECT_EQ(sales.transitions(0).from().strategy(), v1::STRATEGY_UNSPECIFIED);

  const v1::SimulatedDepartment& service = r.departments(1);
  EXPECT_EQ(service.department(), "service");
  EXPECT_EQ(service.changed(), 5);
  EXPECT_EQ(service.unchanged(), 2);
  EXPECT_THAT(Transitions(service),
              ElementsAre("team service-cn -> none: 5 [a1,a2,a3]"));
  EXPECT_THAT(Rules(service), ElementsAre(": 5 [a1,a2,a3]"));
}

TEST_F(RulesetSimulatorTest, ReverseDirectionAndDefaultSamples) {
  Publish();
  PutSevenCustomers();
  const v1::SimulateRulesetResponse r = MustSimulate(Request(1, 2));
  ASSERT_EQ(r.departments_size(), 2);
  EXPECT_EQ(r.departments(0).department(), "sales");
  // Five samples by default: all four.
  EXPECT_THAT(Transitions(r.departments(0)),
              ElementsAre("pool east-pool -> team ka-east: 4 [a1,a2,a5,a6]",
                          "team ka-east -> pool east-pool: 1 [a3]"));
  EXPECT_THAT(Rules(r.departments(0)),
              ElementsAre("east: 4 [a1,a2,a5,a6]", "fallback: 1 [a3]"));
  EXPECT_EQ(r.departments(1).department(), "service");
  EXPECT_THAT(Transitions(r.departments(1)),
              ElementsAre("none -> team service-cn: 5 [a1,a2,a3,a5,a6]"));
  EXPECT_THAT(Rules(r.departments(1)),
              ElementsAre("service-cn: 5 [a1,a2,a3,a5,a6]"));
}

TEST_F(RulesetSimulatorTest, ZeroSamplesListsCountsOnly) {
  Publish();
  PutSevenCustomers();
  v1::SimulateRulesetRequest request = Request(2, 1);
  request.set_max_samples(0);
  const v1::SimulateRulesetResponse r = MustSimulate(request);
  EXPECT_THAT(Transitions(r.departments(0)),
              ElementsAre("team ka-east -> pool east-pool: 4 []",
                          "pool east-pool -> team ka-east: 1 []"));
}

TEST_F(RulesetSimulatorTest, BaselineDefaultsToTheActiveVersion) {
  Publish();
  PutSevenCustomers();
  MustActivate(1, "activate-1");
  const v1::SimulateRulesetResponse r = MustSimulate(Request(2));
  EXPECT_EQ(r.baseline_version(), 1);
  EXPECT_EQ(r.changed_customers(), 5);

  MustActivate(2, "activate-2");
  const v1::SimulateRulesetResponse same = MustSimulate(Request(2));
  EXPECT_EQ(same.baseline_version(), 2);
  EXPECT_EQ(same.scanned_customers(), 7);
  EXPECT_EQ(same.changed_customers(), 0);
  ASSERT_EQ(same.departments_size(), 1);
  EXPECT_EQ(same.departments(0).unchanged(), 7);
  EXPECT_THAT(same.departments(0).transitions(), IsEmpty());
  EXPECT_THAT(same.departments(0).rules(), IsEmpty());
}

TEST_F(RulesetSimulatorTest, EvaluatesTimeConditionsAtTheRequestedTime) {
  MustApply(kRosterYaml, "roster-1");
  MustCreate(kRulesetV1Yaml, "create-1");
  MustCreate(kDormantYaml, "create-2");
  storage::v1::CustomerRecord record;
  record.mutable_customer()->set_id("d1");
  *record.mutable_customer()->mutable_last_activity_time() =
      Proto(T0() - absl::Hours(24 * 10));
  Put(record);

  // V1 sends d1 (no region) to the east-pool fallback. At T0 d1 is not
  // dormant under V2: ka-east, a change.
  v1::SimulateRulesetResponse r = MustSimulate(Request(2, 1));
  EXPECT_EQ(r.changed_customers(), 1);
  EXPECT_THAT(Rules(r.departments(0)), ElementsAre("fallback: 1 [d1]"));

  // Sixty days later it is: east-pool under both.
  v1::SimulateRulesetRequest later = Request(2, 1);
  *later.mutable_at() = Proto(T0() + absl::Hours(24 * 60));
  r = MustSimulate(later);
  EXPECT_EQ(r.changed_customers(), 0);
  EXPECT_EQ(r.evaluated_at().seconds(),
            absl::ToUnixSeconds(T0() + absl::Hours(24 * 60)));
  EXPECT_EQ(r.snapshot_time().seconds(), absl::ToUnixSeconds(T0()));
}

TEST_F(RulesetSimulatorTest, SkipsCustomersThatNoLongerValidate) {
  Publish();
  PutSevenCustomers();
  PutCustomer({"b1", "CN//East", "qualified"});  // empty path segment
  PutCustomer({"b0", "CN/East", "Not A Token"});
  const v1::SimulateRulesetResponse r = MustSimulate(Request(2, 1));
  EXPECT_EQ(r.scanned_customers(), 9);
  EXPECT_EQ(r.skipped_customers(), 2);
  EXPECT_THAT(r.skipped_sample_customer_ids(), ElementsAre("b0", "b1"));
  EXPECT_EQ(r.changed_customers(), 5);
  EXPECT_EQ(r.departments(0).changed() + r.departments(0).unchanged(), 7);
}

TEST_F(RulesetSimulatorTest, SamplesAreTheFirstIdsWhateverTheThreading) {
  Publish();
  // 300 customers; every third one moves from ka-east.
  for (int i = 0; i < 300; ++i) {
    PutCustomer({absl::StrCat("c", 1000 + i),
                 i % 3 == 0 ? "CN/East/Shanghai" : "US/West", "qualified"});
  }
  v1::SimulateRulesetRequest request = Request(2, 1);
  request.set_max_samples(4);
  auto single = Simulator(1, 1000)->Simulate(request);
  ASSERT_TRUE(single.ok()) << single.status();
  EXPECT_EQ(single->changed_customers(), 100);
  EXPECT_THAT(Transitions(single->departments(0)),
              ElementsAre("team ka-east -> pool east-pool: 100 "
                          "[c1000,c1003,c1006,c1009]"));
  for (auto [threads, batch] :
       std::vector<std::pair<int, size_t>>{{2, 1}, {4, 7}, {3, 64}}) {
    auto parallel = Simulator(threads, batch)->Simulate(request);
    ASSERT_TRUE(parallel.ok()) << parallel.status();
    EXPECT_EQ(parallel->SerializeAsString(), single->SerializeAsString())
        << threads << " threads, batches of " << batch;
  }
}

TEST_F(RulesetSimulatorTest, WritesNothing) {
  Publish();
  PutSevenCustomers();
  MustActivate(1, "activate-1");
  const auto before = Dump();
  MustSimulate(Request(2));
  MustSimulate(Request(1, 2));
  EXPECT_FALSE(Simulate(Request(0)).ok());
  EXPECT_EQ(Dump(), before);
}

TEST_F(RulesetSimulatorTest, BadFieldsAreInvalidArgumentNamingEach) {
  Publish();
  const auto before = Dump();
  v1::SimulateRulesetRequest request;
  request.set_version(0);
  request.set_baseline_version(-1);
  request.mutable_at()->set_nanos(-1);
  request.set_max_samples(101);
  auto r = Simulate(request);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), StartsWith("version: "));
  std::optional<google::rpc::BadRequest> bad = GetBadRequest(r.status());
  ASSERT_TRUE(bad.has_value());
  std::vector<std::string> fields;
  for (const auto& v : bad->field_violations()) fields.push_back(v.field());
  EXPECT_THAT(fields, UnorderedElementsAre("version", "baseline_version", "at",
                                           "max_samples"));

  request = Request(1, 2);
  request.set_max_samples(-1);
  r = Simulate(request);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), StartsWith("max_samples: "));

  request = Request(1, 2);
  request.mutable_at()->set_seconds(int64_t{1} << 40);
  r = Simulate(request);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), StartsWith("at: "));
  EXPECT_EQ(Dump(), before);
}

TEST_F(RulesetSimulatorTest, MissingVersionIsNotFoundNamingTheField) {
  Publish();
  auto r = Simulate(Request(9, 1));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), StartsWith("version: "));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("9"));

  r = Simulate(Request(1, 8));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()),
              StartsWith("baseline_version: "));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("8"));
}

TEST_F(RulesetSimulatorTest, NoActiveVersionIsFailedPrecondition) {
  Publish();
  auto r = Simulate(Request(2));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(r.status().message()),
              StartsWith("baseline_version: "));
  ASSERT_TRUE(GetPreconditionFailure(r.status()).has_value());
  // Naming the baseline works without an active version.
  EXPECT_TRUE(Simulate(Request(2, 1)).ok());
}

TEST_F(RulesetSimulatorTest, CancelledStopsTheScan) {
  Publish();
  PutSevenCustomers();
  auto r = Simulator()->Simulate(Request(2, 1), [] { return true; });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
}

TEST_F(RulesetSimulatorTest, EmptyStoreCountsNothing) {
  Publish();
  const v1::SimulateRulesetResponse r = MustSimulate(Request(2, 1));
  EXPECT_EQ(r.scanned_customers(), 0);
  EXPECT_EQ(r.changed_customers(), 0);
  ASSERT_EQ(r.departments_size(), 2);
  EXPECT_EQ(r.departments(0).changed(), 0);
  EXPECT_EQ(r.departments(0).unchanged(), 0);
}

TEST_F(RulesetSimulatorTest, CreateRejectsBadOptions) {
  RulesetSimulator::Options options;
  options.worker_threads = 0;
  auto simulator = RulesetSimulator::Create(options);
  ASSERT_EQ(simulator.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(simulator.status().message()),
              HasSubstr("options.store"));
  EXPECT_THAT(std::string(simulator.status().message()),
              HasSubstr("options.worker_threads"));
}

}  // namespace
}  // namespace custodian::server
