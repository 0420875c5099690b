// The candidate index over one department's ordered rules. Internal to the
// rules engine; not a public API.
//
// Each rule is registered under ONE key, picked from its positive top-level
// clauses (clauses of the rule's `when` and of top-level `all` blocks, never
// inside `any` or `not`):
//   region, industry             under / eq / in   (path prefix keys)
//   customer_type, sales_stage,  eq / in           (exact token keys)
//   value_tier
//   tags                         any_of (each tag), all_of (one of its tags)
//   segment                      name / any_of     (segment indices)
//   annual_revenue,              gt / gte / lt / lte (range buckets)
//   employee_count
//   created_time,                older_than / newer_than (range buckets
//   last_activity_time           over the age at - time)
// A rule with several such clauses is registered under the one estimated to
// be the most selective (see rule_index.cc); a rule with none goes to the
// always-candidate list. A rule registered under a key can only match a
// customer that hits that key, so the candidates of a customer (the union of
// the lists of every key the customer hits, plus the always list) are a
// superset of the rules that can match it. FirstMatch walks them in rule
// order with a k-way merge, so the first candidate that matches is exactly
// the first rule a linear scan would pick.
//
// Thread-safe: immutable after Build; FirstMatch allocates nothing for up to
// 16 candidate lists and may run in many threads at once.
#ifndef CUSTODIAN_RULES_RULE_INDEX_H_
#define CUSTODIAN_RULES_RULE_INDEX_H_

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "custodian/v1/customer.pb.h"
#include "rules/condition_eval.h"

namespace custodian::rules::internal {

class RuleIndex {
 public:
  // Index dimensions, i.e. the kinds of key a rule can be registered under.
  enum Dim {
    kRegion,
    kIndustry,
    kCustomerType,
    kSalesStage,
    kValueTier,
    kTags,
    kSegment,
    // Range dimensions: "Min" keys need value >= bound, "Max" value <= bound.
    kRevenueMin,
    kRevenueMax,
    kEmployeesMin,
    kEmployeesMax,
    kCreatedAgeMin,  // ages: at - created_time / last_activity_time
    kCreatedAgeMax,
    kActivityAgeMin,
    kActivityAgeMax,
    kNumDims,
  };
  static constexpr int kFirstRangeDim = kRevenueMin;

  RuleIndex() = default;

  // Builds the index of a department whose rule i has condition *whens[i].
  // `segment_names` are the ruleset's segments, by index (for KeyOf).
  static RuleIndex Build(absl::Span<const CompiledCondition* const> whens,
                         absl::Span<const std::string> segment_names);

  // Calls matches(i) for the candidate rules i of `customer` (member of the
  // segments in `segments`, evaluated at `at`) in increasing order, each at
  // most once, until it returns true, and returns that i; returns -1 when none
  // does. A rule that is not a candidate cannot match.
  template <typename Matches>
  int FirstMatch(const v1::Customer& customer, const SegmentSet& segments,
                 absl::Time at, Matches&& matches) const;

  // The key rule i is registered under, e.g. "region:CN/East|CN/North",
  // "tags:vip", "segment:key_account", or "" for the always list.
  const std::string& KeyOf(int rule) const { return keys_[rule]; }

 private:
  using List = std::vector<uint32_t>;  // rule positions, increasing
  struct Cursor {
    const uint32_t* it;
    const uint32_t* end;
  };
  using Cursors = absl::InlinedVector<Cursor, 16>;

  static void Add(const List* list, Cursors* cursors) {
    if (list != nullptr && !list->empty()) {
      cursors->push_back({list->data(), list->data() + list->size()});
    }
  }
  const List* Find(Dim dim, absl::string_view key) const {
    auto it = maps_[dim].find(key);
    return it == maps_[dim].end() ? nullptr : &it->second;
  }
  // Adds the lists of `path` and of each of its "/"-prefixes.
  void AddPath(Dim dim, absl::string_view path, Cursors* cursors) const;

 public:
  // Rules keyed on one bound of a numeric value (an integer field, or the age
  // of a timestamp), bucketed: cuts split the values into buckets, and
  // lists[b] holds every rule whose bound a value in bucket b may satisfy.
  template <typename T>
  struct RangeDim {
    bool lower = true;        // rules need value >= bound (else <= bound)
    std::vector<T> cuts;      // increasing
    std::vector<List> lists;  // cuts.size() + 1 buckets; empty: no rules

    // (bound, rule) pairs in increasing rule order.
    static RangeDim Build(bool lower,
                          const std::vector<std::pair<T, uint32_t>>& bounds);
    const List* Lookup(T value) const {
      if (lists.empty()) return nullptr;
      return &lists[std::upper_bound(cuts.begin(), cuts.end(), value) -
                    cuts.begin()];
    }
  };

 private:
  std::array<absl::flat_hash_map<std::string, List>, kSegment> maps_;
  std::array<RangeDim<int64_t>, 4> int_ranges_;         // kRevenueMin..
  std::array<RangeDim<absl::Duration>, 4> age_ranges_;  // kCreatedAgeMin..
  std::vector<List> by_segment_;  // kSegment keys, by segment index
  List always_;
  std::vector<std::string> keys_;  // by rule, for KeyOf
};

inline void RuleIndex::AddPath(Dim dim, absl::string_view path,
                               Cursors* cursors) const {
  if (maps_[dim].empty() || path.empty()) return;
  for (size_t i = path.find('/'); i != absl::string_view::npos;
       i = path.find('/', i + 1)) {
    Add(Find(dim, path.substr(0, i)), cursors);
  }
  Add(Find(dim, path), cursors);
}

template <typename Matches>
int RuleIndex::FirstMatch(const v1::Customer& customer,
                          const SegmentSet& segments, absl::Time at,
                          Matches&& matches) const {
  Cursors cursors;
  Add(&always_, &cursors);
  AddPath(kRegion, customer.region(), &cursors);
  AddPath(kIndustry, customer.industry(), &cursors);
  const std::pair<Dim, const std::string*> tokens[] = {
      {kCustomerType, &customer.customer_type()},
      {kSalesStage, &customer.sales_stage()},
      {kValueTier, &customer.value_tier()},
  };
  for (const auto& [dim, value] : tokens) {
    if (!maps_[dim].empty() && !value->empty()) {
      Add(Find(dim, *value), &cursors);
    }
  }
  if (!maps_[kTags].empty()) {
    for (const std::string& tag : customer.tags()) {
      Add(Find(kTags, tag), &cursors);
    }
  }
  for (size_t s = 0; s < by_segment_.size(); ++s) {
    if (segments.Contains(static_cast<int>(s))) Add(&by_segment_[s], &cursors);
  }
  // Range keys: an absent value satisfies no bound.
  if (customer.has_annual_revenue()) {
    Add(int_ranges_[0].Lookup(customer.annual_revenue()), &cursors);
    Add(int_ranges_[1].Lookup(customer.annual_revenue()), &cursors);
  }
  if (customer.has_employee_count()) {
    Add(int_ranges_[2].Lookup(customer.employee_count()), &cursors);
    Add(int_ranges_[3].Lookup(customer.employee_count()), &cursors);
  }
  if (customer.has_created_time() &&
      (!age_ranges_[0].lists.empty() || !age_ranges_[1].lists.empty())) {
    const absl::Duration age = at - ToTime(customer.created_time());
    Add(age_ranges_[0].Lookup(age), &cursors);
    Add(age_ranges_[1].Lookup(age), &cursors);
  }
  if (customer.has_last_activity_time() &&
      (!age_ranges_[2].lists.empty() || !age_ranges_[3].lists.empty())) {
    const absl::Duration age = at - ToTime(customer.last_activity_time());
    Add(age_ranges_[2].Lookup(age), &cursors);
    Add(age_ranges_[3].Lookup(age), &cursors);
  }

  // k-way merge in rule order; equal heads (a rule reached through two keys
  // of one list, e.g. `under: [CN, CN/East]`) are visited once.
  while (!cursors.empty()) {
    uint32_t best = *cursors[0].it;
    for (size_t k = 1; k < cursors.size(); ++k) {
      best = std::min(best, *cursors[k].it);
    }
    if (matches(static_cast<int>(best))) return static_cast<int>(best);
    for (size_t k = 0; k < cursors.size();) {
      Cursor& c = cursors[k];
      if (*c.it == best && ++c.it == c.end) {
        c = cursors.back();
        cursors.pop_back();
        continue;
      }
      ++k;
    }
  }
  return -1;
}

}  // namespace custodian::rules::internal

#endif  // CUSTODIAN_RULES_RULE_INDEX_H_
