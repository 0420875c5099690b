#include "storage/keys.h"

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace custodian::storage {
namespace {

TEST(KeysTest, RoundTripsEveryComponentType) {
  const std::string weird("a\0b\x01\xff\0", 6);
  const absl::Time t = absl::FromUnixMicros(-1234567);
  std::string key = KeyBuilder()
                        .AddString("customer-1")
                        .AddString(weird)
                        .AddString("")
                        .AddUint64(std::numeric_limits<uint64_t>::max())
                        .AddInt64(std::numeric_limits<int64_t>::min())
                        .AddInt64(-1)
                        .AddTime(t)
                        .Build();
  KeyReader r(key);
  std::string s1, s2, s3;
  uint64_t u;
  int64_t i1, i2;
  absl::Time t2;
  ASSERT_TRUE(r.ReadString(&s1).ok());
  ASSERT_TRUE(r.ReadString(&s2).ok());
  ASSERT_TRUE(r.ReadString(&s3).ok());
  ASSERT_TRUE(r.ReadUint64(&u).ok());
  ASSERT_TRUE(r.ReadInt64(&i1).ok());
  ASSERT_TRUE(r.ReadInt64(&i2).ok());
  ASSERT_TRUE(r.ReadTime(&t2).ok());
  EXPECT_TRUE(r.done());
  EXPECT_EQ(s1, "customer-1");
  EXPECT_EQ(s2, weird);
  EXPECT_EQ(s3, "");
  EXPECT_EQ(u, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(i1, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(i2, -1);
  EXPECT_EQ(t2, t);
}

TEST(KeysTest, EncodesAsDocumented) {
  EXPECT_EQ(KeyBuilder().AddString(std::string("a\0b", 3)).Build(),
            std::string("a\0\xff"
                        "b\0\x01",
                        6));
  EXPECT_EQ(KeyBuilder().AddUint64(0x0102030405060708).Build(),
            "\x01\x02\x03\x04\x05\x06\x07\x08");
  EXPECT_EQ(KeyBuilder().AddInt64(0).Build(),
            std::string("\x80\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(KeyBuilder().AddInt64(-1).Build(),
            "\x7f\xff\xff\xff\xff\xff\xff\xff");
}

TEST(KeysTest, StringComponentIsNotAPrefixOfALongerOne) {
  std::string c1 = KeyBuilder().AddString("c1").Build();
  std::string c10 = KeyBuilder().AddString("c10").AddString("sales").Build();
  EXPECT_NE(c10.compare(0, c1.size(), c1), 0);
  std::string c1_sales =
      KeyBuilder().AddString("c1").AddString("sales").Build();
  EXPECT_EQ(c1_sales.compare(0, c1.size(), c1), 0);
}

TEST(KeysTest, ReaderRejectsMalformedKeys) {
  std::string s;
  uint64_t u;
  KeyReader unterminated("abc");
  EXPECT_EQ(unterminated.ReadString(&s).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unterminated.remaining(), "abc");  // did not advance
  const std::string bad_escape_key("a\0\x05", 3);
  KeyReader bad_escape(bad_escape_key);
  EXPECT_EQ(bad_escape.ReadString(&s).code(),
            absl::StatusCode::kInvalidArgument);
  const std::string trailing_zero_key("a\0", 2);
  KeyReader trailing_zero(trailing_zero_key);
  EXPECT_EQ(trailing_zero.ReadString(&s).code(),
            absl::StatusCode::kInvalidArgument);
  KeyReader short_int("1234567");
  EXPECT_EQ(short_int.ReadUint64(&u).code(),
            absl::StatusCode::kInvalidArgument);
  KeyReader skip("ab");
  EXPECT_TRUE(skip.Skip(1).ok());
  EXPECT_EQ(skip.Skip(2).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(skip.remaining(), "b");
}

TEST(KeysTest, PrefixUpperBound) {
  EXPECT_EQ(PrefixUpperBound(""), "");
  EXPECT_EQ(PrefixUpperBound("a"), "b");
  EXPECT_EQ(PrefixUpperBound("a\xff\xff"), "b");
  EXPECT_EQ(PrefixUpperBound("\xff\xff"), "");
  EXPECT_EQ(PrefixUpperBound(std::string("a\0", 2)), "a\x01");
  // Every extension of the prefix sorts below the bound.
  std::string prefix = KeyBuilder().AddString("c1").Build();
  std::string bound = PrefixUpperBound(prefix);
  EXPECT_LT(prefix + "\xff\xff\xff", bound);
  EXPECT_LT(KeyBuilder().AddString("c1").Build(), bound);
  EXPECT_GE(KeyBuilder().AddString("c1\x01").Build(), bound);
}

// A tuple whose i-th component always has the type kLayout[i].
using Component = std::variant<std::string, uint64_t, int64_t>;
using Tuple = std::vector<Component>;
enum class Kind { kString, kUint, kInt };
constexpr Kind kLayout[] = {Kind::kString, Kind::kUint, Kind::kString,
                            Kind::kInt, Kind::kString};

Tuple RandomTuple(std::mt19937_64& rng) {
  // Small alphabets and value sets so that ties, prefixes and extremes are
  // common.
  static const char kChars[] = {'\0', '\x01', 'a', 'b', '\xfe', '\xff'};
  static const uint64_t kUints[] = {0,
                                    1,
                                    2,
                                    255,
                                    256,
                                    uint64_t{1} << 63,
                                    std::numeric_limits<uint64_t>::max()};
  static const int64_t kInts[] = {
      std::numeric_limits<int64_t>::min(), -256, -1, 0, 1, 255,
      std::numeric_limits<int64_t>::max()};
  Tuple t;
  size_t n = 1 + rng() % std::size(kLayout);
  for (size_t i = 0; i < n; ++i) {
    switch (kLayout[i]) {
      case Kind::kString: {
        std::string s;
        size_t len = rng() % 4;
        for (size_t j = 0; j < len; ++j) s.push_back(kChars[rng() % 6]);
        t.emplace_back(std::move(s));
        break;
      }
      case Kind::kUint:
        t.emplace_back(kUints[rng() % std::size(kUints)]);
        break;
      case Kind::kInt:
        t.emplace_back(kInts[rng() % std::size(kInts)]);
        break;
    }
  }
  return t;
}

std::string Encode(const Tuple& t) {
  KeyBuilder b;
  for (const Component& c : t) {
    if (auto* s = std::get_if<std::string>(&c)) b.AddString(*s);
    if (auto* u = std::get_if<uint64_t>(&c)) b.AddUint64(*u);
    if (auto* i = std::get_if<int64_t>(&c)) b.AddInt64(*i);
  }
  return std::move(b).Build();
}

int Sign(int x) { return (x > 0) - (x < 0); }

int CompareTuples(const Tuple& a, const Tuple& b) {
  // std::string compares bytes as unsigned char, as the encoding does.
  if (a < b) return -1;
  if (b < a) return 1;
  return 0;
}

TEST(KeysTest, EncodedOrderEqualsTupleOrder) {
  std::mt19937_64 rng(20240611);
  for (int i = 0; i < 50000; ++i) {
    Tuple a = RandomTuple(rng);
    Tuple b = RandomTuple(rng);
    std::string ea = Encode(a), eb = Encode(b);
    ASSERT_EQ(Sign(ea.compare(eb)), CompareTuples(a, b))
        << "pair " << i << " disagrees";
  }
}

TEST(KeysTest, DecodesRandomTuples) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 5000; ++i) {
    Tuple t = RandomTuple(rng);
    std::string key = Encode(t);
    KeyReader r(key);
    Tuple back;
    for (size_t j = 0; j < t.size(); ++j) {
      switch (kLayout[j]) {
        case Kind::kString: {
          std::string s;
          ASSERT_TRUE(r.ReadString(&s).ok());
          back.emplace_back(s);
          break;
        }
        case Kind::kUint: {
          uint64_t u;
          ASSERT_TRUE(r.ReadUint64(&u).ok());
          back.emplace_back(u);
          break;
        }
        case Kind::kInt: {
          int64_t v;
          ASSERT_TRUE(r.ReadInt64(&v).ok());
          back.emplace_back(v);
          break;
        }
      }
    }
    EXPECT_TRUE(r.done());
    ASSERT_EQ(back, t);
  }
}

}  // namespace
}  // namespace custodian::storage
