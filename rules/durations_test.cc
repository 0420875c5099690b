#include "rules/durations.h"

#include "gtest/gtest.h"

namespace custodian::rules {
namespace {

int64_t Seconds(absl::string_view text) {
  absl::StatusOr<google::protobuf::Duration> d = ParseDuration(text);
  EXPECT_TRUE(d.ok()) << text << ": " << d.status();
  return d.ok() ? d->seconds() : -1;
}

google::protobuf::Duration Make(int64_t seconds, int32_t nanos = 0) {
  google::protobuf::Duration d;
  d.set_seconds(seconds);
  d.set_nanos(nanos);
  return d;
}

TEST(DurationsTest, ParsesUnitsAndCombinations) {
  EXPECT_EQ(Seconds("30d"), 30 * 86400);
  EXPECT_EQ(Seconds("12h"), 12 * 3600);
  EXPECT_EQ(Seconds("90m"), 90 * 60);
  EXPECT_EQ(Seconds("45s"), 45);
  EXPECT_EQ(Seconds("1d12h"), 86400 + 12 * 3600);
  EXPECT_EQ(Seconds("1d2h3m4s"), 86400 + 2 * 3600 + 3 * 60 + 4);
  EXPECT_EQ(Seconds("0d"), 0);
}

TEST(DurationsTest, RejectsMalformedText) {
  for (absl::string_view bad : {"", "30", "30x", "d", "-1d", "1.5d", "12h1d",
                                "1d1d", "1d ", " 1d", "1D", "+1d"}) {
    absl::StatusOr<google::protobuf::Duration> d = ParseDuration(bad);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(ParseDuration("30x").status().message(),
            "bad duration \"30x\": expected <integer><unit> parts with units "
            "d, h, m, s in that order, e.g. 30d, 12h, 90m or 1d12h");
}

TEST(DurationsTest, RejectsDurationsLongerThanAHundredYears) {
  EXPECT_TRUE(ParseDuration("36500d").ok());
  EXPECT_EQ(ParseDuration("36501d").status().message(),
            "duration \"36501d\" is longer than 36500d");
  EXPECT_FALSE(ParseDuration("99999999999999999999999d").ok());
}

TEST(DurationsTest, FormatsWithLargestUnits) {
  EXPECT_EQ(FormatDuration(Make(0)), "0s");
  EXPECT_EQ(FormatDuration(Make(86400 + 12 * 3600)), "1d12h");
  EXPECT_EQ(FormatDuration(Make(90 * 60)), "1h30m");
  EXPECT_EQ(FormatDuration(Make(-3600)), "-1h");
  EXPECT_EQ(FormatDuration(Make(1, 500000000)), "1.5s");
}

TEST(DurationsTest, CheckDurationEnforcesSignAndRange) {
  EXPECT_EQ(CheckDuration(Make(60), true), "");
  EXPECT_EQ(CheckDuration(Make(0), false), "");
  EXPECT_EQ(CheckDuration(Make(0), true), "must be positive, got 0s");
  EXPECT_EQ(CheckDuration(Make(-60), false), "must not be negative, got -1m");
  EXPECT_EQ(CheckDuration(Make(kMaxDurationSeconds + 1), false),
            "must be at most 36500d, got 36500d1s");
  EXPECT_EQ(CheckDuration(Make(1, -5), false),
            "malformed duration (seconds 1, nanos -5)");
}

}  // namespace
}  // namespace custodian::rules
