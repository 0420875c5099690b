#include "clients/connection.h"

#include "gtest/gtest.h"

namespace custodian::clients {
namespace {

TEST(ResolveServerAddressTest, FlagBeatsEnvironmentBeatsDefault) {
  EXPECT_EQ(ResolveServerAddress("flag:1", "env:2"), "flag:1");
  EXPECT_EQ(ResolveServerAddress("", "env:2"), "env:2");
  EXPECT_EQ(ResolveServerAddress("", ""), "127.0.0.1:50051");
  EXPECT_EQ(ResolveServerAddress("", nullptr), "127.0.0.1:50051");
}

TEST(ParseTimeoutTest, AcceptsDurationsAndSeconds) {
  EXPECT_EQ(ParseTimeout("30s"), absl::Seconds(30));
  EXPECT_EQ(ParseTimeout("500ms"), absl::Milliseconds(500));
  EXPECT_EQ(ParseTimeout("1h30m"), absl::Minutes(90));
  EXPECT_EQ(ParseTimeout("10"), absl::Seconds(10));
  EXPECT_EQ(ParseTimeout("2.5"), absl::Milliseconds(2500));
}

TEST(ParseTimeoutTest, RejectsNonPositiveAndGarbage) {
  EXPECT_EQ(ParseTimeout("0s"), std::nullopt);
  EXPECT_EQ(ParseTimeout("-1s"), std::nullopt);
  EXPECT_EQ(ParseTimeout("0"), std::nullopt);
  EXPECT_EQ(ParseTimeout("inf"), std::nullopt);
  EXPECT_EQ(ParseTimeout("soon"), std::nullopt);
  EXPECT_EQ(ParseTimeout(""), std::nullopt);
}

TEST(ConnectionTest, SetsTheDeadlineFromTheTimeout) {
  std::unique_ptr<Connection> connection =
      Connection::Open({"127.0.0.1:1", absl::Seconds(7), nullptr, ""});
  grpc::ClientContext context;
  absl::Time before = absl::Now();
  connection->PrepareContext(&context);
  absl::Time deadline = absl::FromChrono(context.deadline());
  EXPECT_GE(deadline, before + absl::Seconds(7));
  EXPECT_LE(deadline, absl::Now() + absl::Seconds(7));
  EXPECT_EQ(connection->address(), "127.0.0.1:1");
  EXPECT_FALSE(connection->IsConnected());
}

}  // namespace
}  // namespace custodian::clients
