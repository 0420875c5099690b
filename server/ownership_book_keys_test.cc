// Apart from ownership_book_test.cc: it includes server/team_allocator.h
// (roster.pb.h), which cannot share a translation unit with ownership.pb.h
// (see server/ownership_keys.h).
#include "gtest/gtest.h"
#include "server/ownership_keys.h"
#include "server/team_allocator.h"
#include "storage/keys.h"

namespace custodian::server {
namespace {

TEST(OwnedCounterKeyTest, IsTheTeamAllocatorKey) {
  EXPECT_EQ(OwnedCounterKeyOf("sales", "zhang.wei"),
            TeamAllocator::OwnedCounterKey("sales", "zhang.wei"));
  EXPECT_EQ(OwnedCounterKeyOf("sales", "zhang.wei"), storage::KeyBuilder()
                                                         .AddString("owned")
                                                         .AddString("sales")
                                                         .AddString("zhang.wei")
                                                         .Build());
  EXPECT_NE(OwnedCounterKeyOf("sales", "zhang.wei"),
            OwnedCounterKeyOf("service", "zhang.wei"));
}

}  // namespace
}  // namespace custodian::server
