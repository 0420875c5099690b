// The candidate index over one department's ordered rules. Internal to the
// rules engine; not a public API.
//
// Design: candidates are an intersection over attributes. For each
// indexable attribute A the index keeps bitsets over the department's rules
// (bit i = rule i):
//   dontcare(A)   the rules with no indexed clause on A;
//   allowed(A, v) dontcare(A) | the rules whose indexed clause on A may hold
//                 when the customer's A is v.
// A customer's candidates are the AND over attributes of allowed(A, its
// value), or dontcare(A) when it has no (indexed) value for A. Candidates are
// walked in rule order and each is fully evaluated by the caller, so the
// answer is exactly the first rule, in order, whose `when` holds: the index
// only has to be a superset of the rules that can hold.
//
// Indexed clauses are the clauses that must hold whenever the rule's `when`
// holds: those of the `when` block itself and, recursively, of its `all`
// blocks (never inside `any` or `not`). Per attribute:
//   region, industry    under (any listed prefix), eq / in (exact path); one
//                       clause per rule (exact preferred, then fewest values)
//   customer_type,      eq / in: the intersection of all such clauses
//   sales_stage,
//   value_tier
//   tags                any_of (each tag), all_of (one of its tags); one
//                       clause per rule (fewest values)
//   segment             name / any_of (segment indices); one clause per rule
//   annual_revenue,     gt / gte / lt / lte / eq / in: the intersection of
//   employee_count      all of them as one integer interval
//   created_time,       older_than / newer_than: an interval over the age
//   last_activity_time  at - time, in whole seconds (non-strict: a superset)
// Everything else (ne, not_in, not_under, none_of, matches, exists, `any`,
// `not`, attributes.<key>, ...) is left to full evaluation: a rule with no
// indexed clause on A is in dontcare(A). A rule whose clauses on A can hold
// for no value (e.g. annual_revenue gt 5 and lt 3) can never hold and is
// never a candidate.
//
// Integer and age attributes are bucketed: the interval bounds of the rules
// cut the values into at most kMaxBuckets buckets; when there are more
// distinct bounds, neighbouring buckets are merged and a bucket's bitset
// holds every rule whose interval meets it (a superset).
//
// Memory: one bitset is ceil(rules / 64) * 8 bytes, rounded up to a
// multiple of 64 bytes past 512 rules (10,000 rules: 1.25 KiB). A department
// holds about (distinct keys + path keys + buckets + attributes) bitsets, e.g.
// ~1,000 bitsets (1.3 MiB) for the benchmark's 10,000-rule mix. If the total
// would exceed the budget given to Build (default kDefaultMaxBytes), the
// attributes needing the most bitsets are dropped from the index one by one
// (their rules become dontcare there) until it fits; an index with no attribute
// offers every rule.
//
// Thread-safe: immutable after Build. FirstMatch allocates nothing (its
// scratch space is a fixed-size stack buffer) and may run in many threads at
// once.
#ifndef CUSTODIAN_RULES_RULE_INDEX_H_
#define CUSTODIAN_RULES_RULE_INDEX_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "custodian/v1/customer.pb.h"
#include "rules/condition_eval.h"

namespace custodian::rules::internal {

class RuleIndex {
 public:
  // Indexed attributes.
  enum Attr {
    kRegion,
    kIndustry,
    kCustomerType,
    kSalesStage,
    kValueTier,
    kTags,
    kSegment,
    kRevenue,
    kEmployees,
    kCreatedAge,   // at - created_time
    kActivityAge,  // at - last_activity_time
    kNumAttrs,
  };
  static constexpr int kFirstRangeAttr = kRevenue;
  static constexpr int kNumRangeAttrs = kNumAttrs - kFirstRangeAttr;

  // Default memory budget of one department's index.
  static constexpr size_t kDefaultMaxBytes = size_t{64} << 20;
  // Most buckets of an integer or age attribute.
  static constexpr size_t kMaxBuckets = 256;
  // Candidates are computed and walked (up to) this many 64-rule words at a
  // time; bitsets are padded to a multiple of it.
  static constexpr size_t kBlockWords = 8;

  RuleIndex() = default;

  // Builds the index of a department whose rule i has condition *whens[i],
  // in at most about `max_bytes` of bitsets (see above). `segment_names` are
  // the ruleset's segments, by index (for KeysOf).
  static RuleIndex Build(absl::Span<const CompiledCondition* const> whens,
                         absl::Span<const std::string> segment_names,
                         size_t max_bytes = kDefaultMaxBytes);

  // Calls matches(i) for the candidate rules i of `customer` (member of the
  // segments in `segments`, evaluated at `at`) in increasing order, each at
  // most once, until it returns true, and returns that i; returns -1 when none
  // does. A rule that is not a candidate cannot match.
  template <typename Matches>
  int FirstMatch(const v1::Customer& customer, const SegmentSet& segments,
                 absl::Time at, Matches&& matches) const;

  // The clauses rule i is indexed on, by attribute, e.g.
  // "region under CN/East; customer_type in a|b; annual_revenue [5, max]", or
  // "" when it is indexed on none (a candidate for every customer), or
  // "never" when its clauses on some attribute can hold for no value.
  const std::string& KeysOf(int rule) const { return keys_[rule]; }

  // The names of the attributes the index uses, in Attr order.
  std::vector<std::string> IndexedAttributes() const;

  // Bytes held by the index's bitsets.
  size_t BitsetBytes() const { return words_.size() * sizeof(uint64_t); }

 private:
  // A customer's constraint on one attribute: the OR of bitsets
  // ptrs[begin, begin + n), estimated to hold `count` rules.
  struct Group {
    uint32_t begin;
    uint32_t n;
    uint32_t count;
  };
  // Most bitsets one customer's constraints may use; past it a constraint
  // is left out (the candidates are then a superset).
  static constexpr size_t kMaxSources = 64;
  // A customer's constraints, one group per indexed attribute.
  struct Sources {
    const uint64_t* ptrs[kMaxSources];
    Group groups[kNumAttrs];
    uint32_t num_ptrs = 0;
    uint32_t num_groups = 0;  // sorted by count, ascending
  };
  struct PathKey {
    uint32_t below;  // bitset for paths strictly under the key
    uint32_t equal;  // bitset for the key itself
  };
  struct PathAttr {
    absl::flat_hash_map<std::string, PathKey> keys;
  };
  struct RangeAttr {
    std::vector<int64_t> cuts;  // increasing; bucket b: [cuts[b-1], cuts[b])
    std::vector<uint32_t> buckets;  // cuts.size() + 1 bitsets
  };

  class Builder;

  const uint64_t* Bits(uint32_t bitset) const {
    return words_.data() + size_t{bitset} * stride_;
  }
  // Adds one group of bitsets (a customer's constraint on one attribute),
  // unless it constrains nothing.
  void AddGroup(const uint32_t* bitsets, size_t n, Sources* s) const;
  void AddGroup(uint32_t bitset, Sources* s) const { AddGroup(&bitset, 1, s); }
  // Fills *s with the customer's constraints, sorted most selective first.
  void Gather(const v1::Customer& customer, const SegmentSet& segments,
              absl::Time at, Sources* s) const;
  uint32_t PathBitset(int attr, absl::string_view path) const;
  uint32_t RangeBitset(int range, int64_t value) const;
  // Writes the candidates among rules [64 * word, 64 * (word + block_))
  // to cand[0, block_); returns false when there are none.
  bool Block(const Sources& s, size_t word, uint64_t* cand) const;

  size_t num_rules_ = 0;
  size_t block_ = 1;   // words per block: kBlockWords, or fewer if all fit
  size_t stride_ = 0;  // words per bitset, a multiple of block_
  std::vector<uint64_t> words_;   // bitset k: words_[k * stride_, ...)
  std::vector<uint32_t> counts_;  // bits set, by bitset
  uint32_t all_ = 0;              // every rule that can hold
  bool active_[kNumAttrs] = {};   // attribute is indexed
  uint32_t dontcare_[kNumAttrs] = {};
  PathAttr paths_[2];                                     // kRegion, kIndustry
  absl::flat_hash_map<std::string, uint32_t> tokens_[4];  // ..kTags
  std::vector<int64_t> segment_bitsets_;  // by segment index; -1: none
  RangeAttr ranges_[kNumRangeAttrs];
  std::vector<std::string> keys_;  // by rule, for KeysOf
};

template <typename Matches>
int RuleIndex::FirstMatch(const v1::Customer& customer,
                          const SegmentSet& segments, absl::Time at,
                          Matches&& matches) const {
  if (num_rules_ == 0) return -1;
  Sources sources;
  Gather(customer, segments, at, &sources);
  uint64_t cand[kBlockWords];
  for (size_t word = 0; word < stride_; word += block_) {
    if (!Block(sources, word, cand)) continue;
    for (size_t k = 0; k < block_; ++k) {
      for (uint64_t w = cand[k]; w != 0; w &= w - 1) {
        const int rule =
            static_cast<int>((word + k) * 64 + std::countr_zero(w));
        if (matches(rule)) return rule;
      }
    }
  }
  return -1;
}

}  // namespace custodian::rules::internal

#endif  // CUSTODIAN_RULES_RULE_INDEX_H_
