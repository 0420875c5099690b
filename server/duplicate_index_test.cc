#include "server/duplicate_index.h"

#include <algorithm>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/pool_testing.h"

namespace custodian::server {
namespace {

using testing::MakeCustomer;

// CN/North goes to team t (round robin r1, r2, ...), the rest to pool p1;
// duplicates matched on every key.
constexpr absl::string_view kRouteRuleset = R"(ruleset: acme
departments:
  sales:
    rules:
      - id: north
        when: {region: {under: CN/North}}
        assign: {team: t}
    fallback: {pool: p1}
policies:
  duplicates:
    match_on: [tax_id, email_domain, name]
    on_match: route_to_existing_owner
  protection: {new_owner: 14d}
)";

class DuplicateIntakeTest : public testing::PoolTest {
 protected:
  absl::string_view RulesetYaml() const override { return kRouteRuleset; }

  v1::Customer North(absl::string_view id, absl::string_view name) {
    v1::Customer c = MakeCustomer(id, "CN/North/Beijing");
    c.set_name(std::string(name));
    return c;
  }

  // The key's marker: the customer it names ("" for none), or "(none)"
  // when the key has no marker.
  std::string Marker(v1::MatchKey kind, absl::string_view value) {
    auto snapshot = store_->NewSnapshot();
    EXPECT_TRUE(snapshot.ok());
    std::string v;
    absl::Status s = (*snapshot)->Get(storage::Table::kIndexes,
                                      DuplicateMarkerKey(kind, value), &v);
    if (absl::IsNotFound(s)) return "(none)";
    EXPECT_TRUE(s.ok()) << s;
    return v;
  }

  bool HasEntry(v1::MatchKey kind, absl::string_view value,
                absl::string_view customer) {
    auto snapshot = store_->NewSnapshot();
    EXPECT_TRUE(snapshot.ok());
    std::string v;
    return (*snapshot)
        ->Get(storage::Table::kIndexes,
              DuplicateIndexKey(kind, value, customer), &v)
        .ok();
  }

  // Whether `customer` is listed under the key: named by its marker or
  // with an entry.
  bool Indexed(v1::MatchKey kind, absl::string_view value,
               absl::string_view customer) {
    return Marker(kind, value) == customer || HasEntry(kind, value, customer);
  }

  // The ids FindDuplicates gives for a probe customer with name `name`,
  // matching on the name alone.
  std::vector<std::string> MatchesByName(absl::string_view name) {
    v1::Customer probe = MakeCustomer("probe");
    probe.set_name(std::string(name));
    google::protobuf::RepeatedField<int> on_name;
    on_name.Add(v1::NAME);
    auto snapshot = store_->NewSnapshot();
    EXPECT_TRUE(snapshot.ok());
    auto found = FindDuplicates(**snapshot, probe, on_name);
    EXPECT_TRUE(found.ok()) << found.status();
    std::vector<std::string> ids;
    if (found.ok()) {
      for (const v1::DuplicateMatch& m : *found) ids.push_back(m.customer_id());
    }
    return ids;
  }

  void Rename(v1::Customer& c, absl::string_view name,
              absl::string_view request_id) {
    c.set_name(std::string(name));
    v1::UpdateCustomerRequest update;
    *update.mutable_customer() = c;
    update.set_request_id(std::string(request_id));
    absl::StatusOr<v1::AssignResponse> answer =
        assigner_->UpdateCustomer(update, "crm");
    ASSERT_TRUE(answer.ok()) << answer.status();
  }
};

TEST_F(DuplicateIntakeTest, IndexesKeysInTheCustomersCommit) {
  v1::Customer c = North("n1", "华为技术有限公司");
  c.set_tax_id("91440300MA5F");
  c.set_email_domain("Huawei.COM");
  AssignCustomer(c);
  // The first customer with a key is named by its marker, with no entry.
  EXPECT_EQ(Marker(v1::NAME, "华为技术"), "n1");
  EXPECT_EQ(Marker(v1::TAX_ID, "91440300MA5F"), "n1");
  EXPECT_EQ(Marker(v1::EMAIL_DOMAIN, "huawei.com"), "n1");
  EXPECT_FALSE(HasEntry(v1::NAME, "华为技术", "n1"));

  // Changing a key moves it: the old marker names no one.
  Rename(c, "华为终端有限公司", "update-1");
  EXPECT_FALSE(Indexed(v1::NAME, "华为技术", "n1"));
  EXPECT_EQ(Marker(v1::NAME, "华为技术"), "");
  EXPECT_EQ(Marker(v1::NAME, "华为终端"), "n1");
  EXPECT_TRUE(Indexed(v1::TAX_ID, "91440300MA5F", "n1"));

  // Back to the old name: the marker exists, so an entry.
  Rename(c, "华为技术有限公司", "update-2");
  EXPECT_EQ(Marker(v1::NAME, "华为技术"), "");
  EXPECT_TRUE(HasEntry(v1::NAME, "华为技术", "n1"));
  EXPECT_EQ(Marker(v1::NAME, "华为终端"), "");
  EXPECT_EQ(MatchesByName("华为技术"), std::vector<std::string>{"n1"});
  EXPECT_TRUE(MatchesByName("华为终端").empty());
}

// The key's later customers get entries; when the customer its marker
// names leaves the key, the others are still found, and one that leaves
// loses its entry.
TEST_F(DuplicateIntakeTest, AKeysCustomersAreItsMarkersAndItsEntries) {
  v1::Customer a = North("a", "Acme Robotics");
  v1::Customer b = North("b", "ACME robotics ltd");
  v1::Customer c = North("c", "Acme Robotics Co.");
  AssignCustomer(a);
  clock_.Advance(absl::Minutes(1));
  AssignCustomer(b);
  clock_.Advance(absl::Minutes(1));
  AssignCustomer(c);
  EXPECT_EQ(Marker(v1::NAME, "acmerobotics"), "a");
  EXPECT_FALSE(HasEntry(v1::NAME, "acmerobotics", "a"));
  EXPECT_TRUE(HasEntry(v1::NAME, "acmerobotics", "b"));
  EXPECT_TRUE(HasEntry(v1::NAME, "acmerobotics", "c"));
  EXPECT_EQ(MatchesByName("Acme Robotics"),
            (std::vector<std::string>{"a", "b", "c"}));

  Rename(a, "Zeta Labs", "rename-a");
  EXPECT_EQ(Marker(v1::NAME, "acmerobotics"), "");
  EXPECT_EQ(MatchesByName("Acme Robotics"),
            (std::vector<std::string>{"b", "c"}));
  Rename(b, "Omega Labs", "rename-b");
  EXPECT_FALSE(HasEntry(v1::NAME, "acmerobotics", "b"));
  EXPECT_EQ(MatchesByName("Acme Robotics"), std::vector<std::string>{"c"});
  // A new customer with the key is routed to the one left.
  AssignCustomer(North("d", "Acme Robotics"));
  ASSERT_EQ(Get("d").explanation().duplicates_size(), 1);
  EXPECT_EQ(Get("d").explanation().duplicates(0).customer_id(), "c");
}

TEST_F(DuplicateIntakeTest, MarksEachKeyOnceAndBackfillsOldStores) {
  v1::Customer c = North("n1", "Acme Co., Ltd.");
  c.set_tax_id("T-1");
  AssignCustomer(c);
  auto marked = [&](v1::MatchKey kind, absl::string_view value) {
    auto snapshot = store_->NewSnapshot();
    EXPECT_TRUE(snapshot.ok());
    std::string v;
    return (*snapshot)
        ->Get(storage::Table::kIndexes, DuplicateMarkerKey(kind, value), &v)
        .ok();
  };
  EXPECT_TRUE(marked(v1::NAME, "acme"));
  EXPECT_TRUE(marked(v1::TAX_ID, "T-1"));
  EXPECT_FALSE(marked(v1::EMAIL_DOMAIN, ""));
  v1::Customer probe = MakeCustomer("probe");
  probe.set_name("ACME co ltd");
  google::protobuf::RepeatedField<int> on_name;
  on_name.Add(v1::NAME);
  auto find = [&] {
    auto snapshot = store_->NewSnapshot();
    EXPECT_TRUE(snapshot.ok());
    auto found = FindDuplicates(**snapshot, probe, on_name);
    EXPECT_TRUE(found.ok()) << found.status();
    return found.ok() ? found->size() : size_t{99};
  };
  EXPECT_EQ(find(), 1u);

  // A store from before markers: an entry for every customer of a key, and
  // no markers.
  {
    auto txn = store_->Begin();
    ASSERT_TRUE(txn.ok());
    for (auto [kind, value] :
         {std::pair{v1::NAME, "acme"}, std::pair{v1::TAX_ID, "T-1"}}) {
      ASSERT_TRUE((*txn)
                      ->Delete(storage::Table::kIndexes,
                               DuplicateMarkerKey(kind, value))
                      .ok());
      ASSERT_TRUE((*txn)
                      ->Put(storage::Table::kIndexes,
                            DuplicateIndexKey(kind, value, "n1"), "")
                      .ok());
    }
    ASSERT_TRUE((*txn)->Commit().ok());
  }
  EXPECT_EQ(find(), 0u);  // unmarked keys are not looked up
  auto written = BackfillDuplicateMarkers(*store_, /*batch_size=*/1);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 2);
  EXPECT_EQ(Marker(v1::NAME, "acme"), "");  // names no one: n1 has an entry
  EXPECT_EQ(Marker(v1::TAX_ID, "T-1"), "");
  EXPECT_EQ(find(), 1u);
  // Once per store.
  auto again = BackfillDuplicateMarkers(*store_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 0);
}

// The backfill leaves a marker that exists alone: rewriting it to name no
// one would lose the customer it names, which has no entry.
TEST_F(DuplicateIntakeTest, BackfillKeepsTheCustomerAMarkerNames) {
  AssignCustomer(North("a", "Acme Robotics"));
  AssignCustomer(North("b", "Acme Robotics Ltd"));
  ASSERT_EQ(Marker(v1::NAME, "acmerobotics"), "a");
  ASSERT_TRUE(HasEntry(v1::NAME, "acmerobotics", "b"));
  auto written = BackfillDuplicateMarkers(*store_, /*batch_size=*/1);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 0);
  EXPECT_EQ(Marker(v1::NAME, "acmerobotics"), "a");
  EXPECT_EQ(MatchesByName("Acme Robotics"),
            (std::vector<std::string>{"a", "b"}));
}

TEST_F(DuplicateIntakeTest, RoutesANewDuplicateToTheExistingOwner) {
  AssignCustomer(North("n1", "华为技术有限公司"));
  ASSERT_EQ(Get("n1").rep(), "r1");
  // Full-width letters, another legal suffix: the same company.
  AssignCustomer(North("n2", "华为技术股份有限公司"));
  v1::Ownership o = Get("n2");
  EXPECT_EQ(o.rep(), "r1");  // round robin alone would give r2
  EXPECT_EQ(o.state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(o.team(), "t");
  EXPECT_EQ(o.explanation().target_used(), "duplicate");
  ASSERT_EQ(o.explanation().duplicates_size(), 1);
  EXPECT_EQ(o.explanation().duplicates(0).customer_id(), "n1");
  EXPECT_EQ(o.explanation().duplicates(0).key(), "name");
  EXPECT_EQ(o.explanation().duplicates(0).value(), "华为技术");
  std::vector<v1::OwnershipEvent> events = Events("n2");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].cause(), v1::OwnershipEvent::DUPLICATE_OF);
  EXPECT_EQ(Owned("r1"), 2);
  // The rules' pick was given back: r2 owns nothing.
  EXPECT_EQ(Owned("r2"), 0);
}

TEST_F(DuplicateIntakeTest, TheOldestMatchWinsAndAllAreListed) {
  v1::Customer a1 = North("a1", "Acme Robotics");
  a1.set_tax_id("TAX-1");
  AssignCustomer(a1);  // r1
  clock_.Advance(absl::Hours(1));
  v1::Customer a2 = North("a2", "Acme Trading");
  a2.set_email_domain("acme.com");
  AssignCustomer(a2);  // r2
  ASSERT_EQ(Get("a2").rep(), "r2");
  clock_.Advance(absl::Hours(1));
  v1::Customer a3 = North("a0", "Something Else");  // sorts first by id
  a3.set_tax_id("TAX-1");
  a3.set_email_domain("ACME.com");
  AssignCustomer(a3);
  v1::Ownership o = Get("a0");
  EXPECT_EQ(o.rep(), "r1");  // a1's owner: a1 is the oldest
  ASSERT_EQ(o.explanation().duplicates_size(), 2);
  EXPECT_EQ(o.explanation().duplicates(0).customer_id(), "a1");
  EXPECT_EQ(o.explanation().duplicates(0).key(), "tax_id");
  EXPECT_EQ(o.explanation().duplicates(1).customer_id(), "a2");
  EXPECT_EQ(o.explanation().duplicates(1).key(), "email_domain");
}

// Evaluate gives the answer Assign then gives: routed to the match's
// owner, with the same explanation, and writes nothing.
TEST_F(DuplicateIntakeTest, EvaluateShowsTheRoutingAssignMakes) {
  AssignCustomer(North("n1", "华为技术有限公司"));
  ASSERT_EQ(Get("n1").rep(), "r1");
  v1::EvaluateRequest evaluate;
  *evaluate.mutable_customer() = North("n2", "华为技术股份有限公司");
  absl::StatusOr<v1::AssignResponse> dry = assigner_->Evaluate(evaluate);
  ASSERT_TRUE(dry.ok()) << dry.status();
  ASSERT_EQ(dry->departments_size(), 1);
  const v1::Ownership& predicted = dry->departments(0).ownership();
  EXPECT_EQ(predicted.rep(), "r1");
  EXPECT_EQ(predicted.explanation().target_used(), "duplicate");
  ASSERT_EQ(predicted.explanation().duplicates_size(), 1);
  EXPECT_EQ(predicted.explanation().duplicates(0).customer_id(), "n1");
  {  // Nothing written.
    auto snapshot = store_->NewSnapshot();
    ASSERT_TRUE(snapshot.ok());
    std::string v;
    EXPECT_TRUE(absl::IsNotFound((*snapshot)->Get(
        storage::Table::kOwnerships, OwnershipKey("n2", "sales"), &v)));
    EXPECT_TRUE(absl::IsNotFound(
        (*snapshot)->Get(storage::Table::kCustomers, CustomerKey("n2"), &v)));
  }
  EXPECT_EQ(Owned("r1"), 1);

  AssignCustomer(evaluate.customer());
  v1::Ownership assigned = Get("n2");
  v1::Ownership expected = predicted;
  expected.set_last_event_sequence(assigned.last_event_sequence());
  EXPECT_EQ(assigned.SerializeAsString(), expected.SerializeAsString())
      << "evaluated: " << predicted.ShortDebugString()
      << "\nassigned: " << assigned.ShortDebugString();

  // r1 is now full (capacity 2): both give the rules' choice.
  v1::EvaluateRequest third;
  *third.mutable_customer() = North("n3", "华为技术");
  dry = assigner_->Evaluate(third);
  ASSERT_TRUE(dry.ok()) << dry.status();
  const v1::Ownership& by_rules = dry->departments(0).ownership();
  EXPECT_NE(by_rules.rep(), "r1");
  EXPECT_EQ(by_rules.explanation().duplicates_size(), 2);
  AssignCustomer(third.customer());
  EXPECT_EQ(Events("n3")[0].cause(), v1::OwnershipEvent::RULE);
  expected = by_rules;
  expected.set_last_event_sequence(Get("n3").last_event_sequence());
  EXPECT_EQ(Get("n3").SerializeAsString(), expected.SerializeAsString())
      << "evaluated: " << by_rules.ShortDebugString()
      << "\nassigned: " << Get("n3").ShortDebugString();
}

// Customers with a common key assigned at the same moment see each other
// in commit order: the k-th to commit lists the k before it.
TEST_F(DuplicateIntakeTest, ConcurrentIntakesWithACommonKeySeeEachOther) {
  constexpr int kCustomers = 12;
  std::vector<std::thread> threads;
  for (int i = 0; i < kCustomers; ++i) {
    threads.emplace_back([this, i] {
      v1::Customer c = North(absl::StrCat("k", i), absl::StrCat("Firm ", i));
      c.set_tax_id("TAX-COMMON");
      v1::AssignRequest r;
      *r.mutable_customer() = c;
      r.set_request_id(absl::StrCat("assign-k", i));
      absl::StatusOr<v1::AssignResponse> answer = assigner_->Assign(r, "crm");
      EXPECT_TRUE(answer.ok()) << answer.status();
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<std::pair<int64_t, int>> by_commit;  // (sequence, matches)
  for (int i = 0; i < kCustomers; ++i) {
    std::vector<v1::OwnershipEvent> events = Events(absl::StrCat("k", i));
    ASSERT_EQ(events.size(), 1u);
    by_commit.emplace_back(events[0].sequence(),
                           events[0].after().explanation().duplicates_size());
  }
  std::sort(by_commit.begin(), by_commit.end());
  for (int k = 0; k < kCustomers; ++k) {
    EXPECT_EQ(by_commit[k].second, k) << "the " << k << "-th to commit";
  }
}

TEST_F(DuplicateIntakeTest, APooledMatchRoutesToItsPool) {
  v1::Customer c = MakeCustomer("e1", "CN/East/Shanghai");  // fallback p1
  c.set_tax_id("TAX-9");
  AssignCustomer(c);
  MustClaim("e1", "r3");
  MustRelease("e1", "p2");
  v1::Customer dup = MakeCustomer("e2", "CN/East/Hangzhou");
  dup.set_tax_id("TAX-9");
  AssignCustomer(dup);
  v1::Ownership o = Get("e2");
  EXPECT_EQ(o.state(), v1::Ownership::POOLED);
  EXPECT_EQ(o.pool(), "p2");  // the rules alone would say p1
  EXPECT_EQ(Events("e2")[0].cause(), v1::OwnershipEvent::DUPLICATE_OF);
}

TEST_F(DuplicateIntakeTest, AFullOwnerLeavesTheRulesChoice) {
  AssignCustomer(North("n1", "Acme"));      // r1, capacity 2
  AssignCustomer(North("n2", "Acme Ltd"));  // routed to r1: now full
  ASSERT_EQ(Get("n2").rep(), "r1");
  AssignCustomer(North("n3", "ACME Inc."));
  v1::Ownership o = Get("n3");
  EXPECT_NE(o.rep(), "r1");
  EXPECT_EQ(Events("n3")[0].cause(), v1::OwnershipEvent::RULE);
  ASSERT_EQ(o.explanation().duplicates_size(), 2);  // still listed
}

TEST_F(DuplicateIntakeTest, AnExistingCustomerIsNotRerouted) {
  AssignCustomer(North("n1", "Acme"));          // r1
  AssignCustomer(North("n2", "Different Co"));  // r2
  v1::UpdateCustomerRequest update;
  *update.mutable_customer() = North("n2", "Acme GmbH");
  update.set_request_id("update-n2");
  ASSERT_TRUE(assigner_->UpdateCustomer(update, "crm").ok());
  EXPECT_EQ(Get("n2").rep(), "r2");
}

TEST_F(DuplicateIntakeTest, CheckDuplicatesShowsOwnersAndProtection) {
  AssignCustomer(North("n1", "华为技术有限公司"));  // r1, since T0
  AssignCustomer(MakeCustomer("e1", "CN/East/Shanghai"));
  auto before = Dump();
  v1::CheckDuplicatesRequest r;
  r.mutable_customer()->set_name("ＨＵＡＷＥＩ");  // no match
  auto none = desk_->CheckDuplicates(r);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->candidates().empty());
  EXPECT_THAT(none->match_on(),
              ::testing::ElementsAre("tax_id", "email_domain", "name"));

  r.mutable_customer()->set_name("华为技术股份有限公司");
  auto found = desk_->CheckDuplicates(r);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->candidates_size(), 1);
  const v1::DuplicateCandidate& c = found->candidates(0);
  EXPECT_EQ(c.match().customer_id(), "n1");
  EXPECT_EQ(c.match().key(), "name");
  ASSERT_EQ(c.owners_size(), 1);
  EXPECT_EQ(c.owners(0).department(), "sales");
  EXPECT_EQ(c.owners(0).state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(c.owners(0).rep(), "r1");
  EXPECT_EQ(c.owners(0).protected_until().seconds(),
            absl::ToUnixSeconds(testing::T0() + absl::Hours(24 * 14)));
  // The protection ends at since + 14 days exactly.
  clock_.Set(testing::T0() + absl::Hours(24 * 14));
  found = desk_->CheckDuplicates(r);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_FALSE(found->candidates(0).owners(0).has_protected_until());
  // Its own id is not a match.
  r.mutable_customer()->set_id("n1");
  EXPECT_TRUE(desk_->CheckDuplicates(r)->candidates().empty());
  EXPECT_EQ(Dump(), before);
}

TEST_F(DuplicateIntakeTest, CheckDuplicatesNamesEveryBadField) {
  struct Case {
    void (*mutate)(v1::Customer&);
    const char* field;
  };
  const Case cases[] = {
      {[](v1::Customer&) {}, "needs at least one of"},
      {[](v1::Customer& c) { c.set_name(std::string(257, 'a')); },
       "customer.name"},
      {[](v1::Customer& c) { c.set_tax_id(std::string(300, '1')); },
       "customer.tax_id"},
      {[](v1::Customer& c) { c.set_email_domain(std::string(300, 'e')); },
       "customer.email_domain"},
      {[](v1::Customer& c) { c.set_name("bad \xff name"); }, "customer.name"},
      {[](v1::Customer& c) { c.set_email_domain("\xc3"); },
       "customer.email_domain"},
      {[](v1::Customer& c) {
         c.set_name("Acme");
         c.set_id("bad id\n");
       },
       "customer.id"},
  };
  for (const Case& c : cases) {
    v1::CheckDuplicatesRequest r;
    c.mutate(*r.mutable_customer());
    absl::Status s = desk_->CheckDuplicates(r).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr(c.field)) << s;
  }
  absl::Status s =
      desk_->CheckDuplicates(v1::CheckDuplicatesRequest()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("customer"));
}

constexpr absl::string_view kFlagRuleset = R"(ruleset: acme
departments:
  sales:
    rules:
      - id: north
        when: {region: {under: CN/North}}
        assign: {team: t}
    fallback: {pool: p1}
policies:
  duplicates: {match_on: [name], on_match: flag_only}
)";

class FlagOnlyTest : public DuplicateIntakeTest {
 protected:
  absl::string_view RulesetYaml() const override { return kFlagRuleset; }
};

TEST_F(FlagOnlyTest, AssignsNormallyAndRecordsTheMatch) {
  AssignCustomer(North("n1", "Acme Co., Ltd."));
  v1::Customer dup = North("n2", "ACME LIMITED");
  dup.set_tax_id("TAX-X");  // tax_id is not in match_on
  AssignCustomer(dup);
  v1::Ownership o = Get("n2");
  EXPECT_EQ(o.rep(), "r2");
  EXPECT_EQ(o.explanation().target_used(), "rule");
  ASSERT_EQ(o.explanation().duplicates_size(), 1);
  EXPECT_EQ(o.explanation().duplicates(0).customer_id(), "n1");
  EXPECT_EQ(Events("n2")[0].cause(), v1::OwnershipEvent::RULE);
}

}  // namespace
}  // namespace custodian::server
