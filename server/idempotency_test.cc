#include "server/idempotency.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "custodian/v1/customer.pb.h"
#include "custodian/v1/roster_service.pb.h"
#include "custodian/v1/ruleset_service.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"
#include "server/domain_testing.h"
#include "server/request_checks.h"

namespace custodian::server {
namespace {

using testing::DumpStore;
using testing::OpenStore;
using testing::T0;
using testing::TempDir;

constexpr absl::string_view kMethod = "custodian.v1.Test/Do";

class IdempotencyTest : public ::testing::Test {
 protected:
  IdempotencyTest() : store_(OpenStore(dir_.path())) {}

  // Looks up in a fresh transaction (rolled back).
  absl::StatusOr<std::optional<std::string>> Lookup(absl::string_view id,
                                                    absl::string_view fp,
                                                    absl::Time now) {
    auto txn = store_->Begin();
    if (!txn.ok()) return txn.status();
    return idem_.Lookup(**txn, kMethod, id, fp, now);
  }

  absl::Status Record(absl::string_view id, absl::string_view fp,
                      absl::string_view answer, absl::Time now) {
    return storage::RunInTransaction(*store_, [&](storage::Transaction& txn) {
      return idem_.Record(txn, kMethod, id, fp, answer, now);
    });
  }

  TempDir dir_;
  std::unique_ptr<storage::Store> store_;
  Idempotency idem_{IdempotencyOptions{absl::Hours(24)}};
};

// The bytes are protobuf's deterministic encoding (map entries in key
// order), whatever order the map was filled in.
TEST(SerializeDeterministicTest, IsTheDeterministicEncoding) {
  v1::Customer forward;
  v1::Customer backward;
  for (int i = 0; i < 50; ++i) {
    (*forward.mutable_attributes())[absl::StrCat("k", i)] = absl::StrCat(i);
    (*backward.mutable_attributes())[absl::StrCat("k", 49 - i)] =
        absl::StrCat(49 - i);
  }
  forward.set_id("c-1");
  forward.set_name(std::string(300, 'x'));
  backward.set_id("c-1");
  backward.set_name(std::string(300, 'x'));
  std::string reference;
  {
    google::protobuf::io::StringOutputStream stream(&reference);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    forward.SerializeToCodedStream(&out);
  }
  EXPECT_EQ(SerializeDeterministic(forward), reference);
  EXPECT_EQ(SerializeDeterministic(backward), reference);
  v1::Customer parsed;
  ASSERT_TRUE(parsed.ParseFromString(SerializeDeterministic(forward)));
  EXPECT_EQ(parsed.attributes().at("k7"), "7");
  EXPECT_EQ(parsed.name().size(), 300u);
  EXPECT_EQ(SerializeDeterministic(v1::Customer()), "");
}

TEST(RequestFingerprintTest, IgnoresRequestIdOnly) {
  v1::SetRepStatusRequest a;
  a.set_rep("li.na");
  a.set_status(v1::LEFT);
  a.set_reason("quit");
  a.set_request_id("r1");
  v1::SetRepStatusRequest b = a;
  b.set_request_id("r2");
  EXPECT_EQ(RequestFingerprint(a), RequestFingerprint(b));
  EXPECT_EQ(RequestFingerprint(a).size(), 32u);
  b.set_reason("retired");
  EXPECT_NE(RequestFingerprint(a), RequestFingerprint(b));
}

TEST(RequestFingerprintTest, IgnoresTheEtagPrecondition) {
  v1::ActivateRulesetRequest a;
  a.set_version(2);
  a.set_etag("etag-before");
  a.set_reason("fy27");
  a.set_request_id("r1");
  v1::ActivateRulesetRequest b = a;
  b.set_etag("etag-after");
  EXPECT_EQ(RequestFingerprint(a), RequestFingerprint(b));
  b.set_version(3);
  EXPECT_NE(RequestFingerprint(a), RequestFingerprint(b));
}

TEST(IdempotencyOptionsTest, WindowMustBePositiveAndFinite) {
  EXPECT_TRUE(ValidateIdempotencyOptions({absl::Seconds(1)}).ok());
  EXPECT_EQ(ValidateIdempotencyOptions({absl::ZeroDuration()}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateIdempotencyOptions({absl::InfiniteDuration()}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(IdempotencyTest, AbsentThenRecordedAnswer) {
  auto first = Lookup("r1", "fp", T0());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->has_value());
  ASSERT_TRUE(Record("r1", "fp", "answer-bytes", T0()).ok());
  auto again = Lookup("r1", "fp", T0() + absl::Hours(1));
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ(**again, "answer-bytes");
}

TEST_F(IdempotencyTest, SameIdOtherRequestIsInvalidArgumentNamingRequestId) {
  ASSERT_TRUE(Record("r1", "fp", "answer", T0()).ok());
  auto other = Lookup("r1", "other-fp", T0());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(other.status().message(),
            "request_id: \"r1\" was already used for a different request");
  ASSERT_TRUE(GetBadRequest(other.status()).has_value());
  EXPECT_EQ(GetBadRequest(other.status())->field_violations(0).field(),
            "request_id");
}

TEST_F(IdempotencyTest, ExpiresExactlyAtTheWindow) {
  ASSERT_TRUE(Record("r1", "fp", "answer", T0()).ok());
  auto before =
      Lookup("r1", "fp", T0() + absl::Hours(24) - absl::Microseconds(1));
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE(before->has_value());
  auto at = Lookup("r1", "fp", T0() + absl::Hours(24));
  ASSERT_TRUE(at.ok());
  EXPECT_FALSE(at->has_value());
  // Expired: another request may reuse the id.
  auto reuse = Lookup("r1", "other-fp", T0() + absl::Hours(24));
  ASSERT_TRUE(reuse.ok());
  EXPECT_FALSE(reuse->has_value());
}

TEST_F(IdempotencyTest, SweepDeletesOnlyDueRecordsOldestFirst) {
  ASSERT_TRUE(Record("a", "fp", "1", T0()).ok());
  ASSERT_TRUE(Record("b", "fp", "2", T0() + absl::Hours(1)).ok());
  ASSERT_TRUE(Record("c", "fp", "3", T0() + absl::Hours(2)).ok());
  EXPECT_EQ(testing::CountKeys(*store_, storage::Table::kIdempotency), 6u);

  // At T0+25h, a and b are due; with max 1 only a goes.
  auto swept = idem_.SweepExpired(*store_, T0() + absl::Hours(25), 1);
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(*swept, 1u);
  EXPECT_EQ(testing::CountKeys(*store_, storage::Table::kIdempotency), 4u);
  swept = idem_.SweepExpired(*store_, T0() + absl::Hours(25), 10);
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 1u);
  swept = idem_.SweepExpired(*store_, T0() + absl::Hours(25), 10);
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 0u);
  EXPECT_EQ(testing::CountKeys(*store_, storage::Table::kIdempotency), 2u);
  auto c = Lookup("c", "fp", T0() + absl::Hours(25));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ(**c, "3");
}

TEST_F(IdempotencyTest, SweepKeepsARecordReusedAfterExpiry) {
  ASSERT_TRUE(Record("a", "fp", "old", T0()).ok());
  // Reused after expiry: a new record, with its own index entry.
  ASSERT_TRUE(Record("a", "fp2", "new", T0() + absl::Hours(30)).ok());
  EXPECT_EQ(testing::CountKeys(*store_, storage::Table::kIdempotency), 3u);
  auto swept = idem_.SweepExpired(*store_, T0() + absl::Hours(31), 10);
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 1u);  // the stale index entry only
  auto a = Lookup("a", "fp2", T0() + absl::Hours(31));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ(**a, "new");
  EXPECT_EQ(testing::CountKeys(*store_, storage::Table::kIdempotency), 2u);
}

}  // namespace
}  // namespace custodian::server
