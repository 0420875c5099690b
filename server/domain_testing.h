// Test helpers of domain_test: a real RocksDB store in a temp dir, a manual
// clock, small roster and ruleset files, and a full dump of every table to
// prove that a call wrote nothing.
#ifndef CUSTODIAN_SERVER_DOMAIN_TESTING_H_
#define CUSTODIAN_SERVER_DOMAIN_TESTING_H_

#include <stdlib.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gtest/gtest.h"
#include "server/roster_registry.h"
#include "server/ruleset_registry.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"

namespace custodian::server::testing {

// A two-department roster: team ka-east and pool east-pool in sales, team
// service-cn in service.
inline constexpr absl::string_view kRosterYaml = R"(departments:
  - {id: sales, name: Sales}
  - {id: service, name: Service}
reps:
  - {id: zhang.wei, skills: [C]}
  - {id: li.na, status: away}
  - {id: wu.xia}
teams:
  - id: ka-east
    department: sales
    members: [{rep: zhang.wei, capacity: 50}, {rep: li.na}]
  - id: east-pool
    department: sales
    pool: {claim_limit_per_day: 5}
  - id: service-cn
    department: service
    members: [{rep: wu.xia}]
)";

// kRosterYaml without li.na and without team service-cn (and wu.xia).
inline constexpr absl::string_view kRosterWithoutServiceYaml =
    R"(departments:
  - {id: sales, name: Sales}
  - {id: service, name: Service}
reps:
  - {id: zhang.wei, skills: [C]}
teams:
  - id: ka-east
    department: sales
    members: [{rep: zhang.wei, capacity: 50}]
  - id: east-pool
    department: sales
    pool: {claim_limit_per_day: 5}
)";

// A ruleset valid against kRosterYaml; rule service-cn names team
// service-cn.
inline constexpr absl::string_view kRulesetV1Yaml = R"(ruleset: acme
departments:
  sales:
    rules:
      - id: east
        when: {region: {under: CN/East}}
        assign: {team: ka-east}
    fallback: {pool: east-pool}
  service:
    rules:
      - id: service-cn
        when: {region: {under: CN}}
        assign: {team: service-cn, strategy: least_loaded}
)";

// kRulesetV1Yaml with rule `east` changed, a rule `leads` added and the
// service department gone: valid against both rosters above.
inline constexpr absl::string_view kRulesetV2Yaml = R"(ruleset: acme
departments:
  sales:
    rules:
      - id: east
        when: {region: {under: CN/North}}
        assign: {team: ka-east}
      - id: leads
        when: {sales_stage: lead}
        assign: {pool: east-pool}
    fallback: {pool: east-pool}
)";

class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "custodian-domain-XXXXXX")
            .string();
    char* made = mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::unique_ptr<storage::Store> OpenStore(const std::string& dir) {
  storage::RocksDbStoreOptions options;
  options.data_dir = dir;
  options.sync_writes = false;  // tests close the store cleanly
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::RocksDbStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

// Every (table, key) -> value of `store`.
inline std::map<std::pair<int, std::string>, std::string> DumpStore(
    storage::Store& store) {
  std::map<std::pair<int, std::string>, std::string> out;
  absl::StatusOr<std::unique_ptr<storage::Snapshot>> snapshot =
      store.NewSnapshot();
  EXPECT_TRUE(snapshot.ok()) << snapshot.status();
  if (!snapshot.ok()) return out;
  for (int t = 0; t < storage::kNumTables; ++t) {
    std::unique_ptr<storage::ScanIterator> it =
        (*snapshot)->Scan(static_cast<storage::Table>(t), "");
    for (; it->Valid(); it->Next()) {
      out[{t, std::string(it->key())}] = std::string(it->value());
    }
    EXPECT_TRUE(it->status().ok()) << it->status();
  }
  return out;
}

// Counts the keys of `table`.
inline size_t CountKeys(storage::Store& store, storage::Table table) {
  size_t n = 0;
  for (const auto& [key, value] : DumpStore(store)) {
    if (key.first == static_cast<int>(table)) ++n;
  }
  return n;
}

inline absl::Time T0() { return absl::FromUnixSeconds(1767225600); }

// A store in a temp dir with both registries over it; Reopen() closes
// everything and opens it again, as a restart would.
class DomainTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void TearDown() override { Close(); }

  void Open() {
    store_ = OpenStore(dir_.path());
    ASSERT_NE(store_, nullptr);
    auto roster = RosterRegistry::Create({store_.get(), &clock_, {}});
    ASSERT_TRUE(roster.ok()) << roster.status();
    roster_ = std::move(*roster);
    auto rulesets = RulesetRegistry::Create({store_.get(), &clock_, {}});
    ASSERT_TRUE(rulesets.ok()) << rulesets.status();
    rulesets_ = std::move(*rulesets);
  }
  void Close() {
    rulesets_.reset();
    roster_.reset();
    if (store_ != nullptr) {
      EXPECT_TRUE(store_->Close().ok());
      store_.reset();
    }
  }
  void Reopen() {
    Close();
    Open();
  }

  std::map<std::pair<int, std::string>, std::string> Dump() {
    return DumpStore(*store_);
  }

  static v1::ApplyRosterRequest RosterText(absl::string_view text,
                                           absl::string_view request_id) {
    v1::ApplyRosterRequest request;
    request.set_source_text(std::string(text));
    request.set_request_id(std::string(request_id));
    return request;
  }

  v1::ApplyRosterResponse MustApply(absl::string_view text,
                                    absl::string_view request_id) {
    auto response = roster_->Apply(RosterText(text, request_id), "admin");
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : v1::ApplyRosterResponse();
  }

  static v1::CreateRulesetVersionRequest RulesetText(
      absl::string_view text, absl::string_view request_id) {
    v1::CreateRulesetVersionRequest request;
    request.set_source_text(std::string(text));
    request.set_file_name("acme.yaml");
    request.set_request_id(std::string(request_id));
    return request;
  }

  v1::RulesetVersion MustCreate(absl::string_view text,
                                absl::string_view request_id) {
    auto response =
        rulesets_->CreateVersion(RulesetText(text, request_id), "ops");
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : v1::RulesetVersion();
  }

  std::string CurrentActivationEtag() {
    auto list = rulesets_->List(v1::ListRulesetVersionsRequest());
    EXPECT_TRUE(list.ok()) << list.status();
    return list.ok() ? list->activation_etag() : "";
  }

  v1::ActivateRulesetResponse MustActivate(int64_t version,
                                           absl::string_view request_id) {
    v1::ActivateRulesetRequest request;
    request.set_version(version);
    request.set_etag(CurrentActivationEtag());
    request.set_reason("go live");
    request.set_request_id(std::string(request_id));
    auto response = rulesets_->Activate(request, "lead");
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : v1::ActivateRulesetResponse();
  }

  TempDir dir_;
  ManualClock clock_{T0()};
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<RosterRegistry> roster_;
  std::unique_ptr<RulesetRegistry> rulesets_;
};

}  // namespace custodian::server::testing

#endif  // CUSTODIAN_SERVER_DOMAIN_TESTING_H_
