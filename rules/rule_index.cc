#include "rules/rule_index.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace custodian::rules::internal {
namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

constexpr const char* kAttrNames[RuleIndex::kNumAttrs] = {
    "region",         "industry",     "customer_type",     "sales_stage",
    "value_tier",     "tags",         "segment",           "annual_revenue",
    "employee_count", "created_time", "last_activity_time"};

// floor(d / 1s), saturated. Monotonic, so that age > d implies
// FloorSeconds(age) >= FloorSeconds(d) and age < d implies <=.
int64_t FloorSeconds(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return kMax;
  if (d == -absl::InfiniteDuration()) return kMin;
  int64_t s = absl::ToInt64Seconds(d);  // truncates toward zero
  if (absl::Seconds(s) > d) --s;
  return s;
}

// The indexed clause(s) of one rule on a path attribute.
struct PathClause {
  bool set = false;
  bool exact = false;  // eq / in; else under
  std::vector<std::string> values;
};

// An integer interval [lo, hi]; lo > hi: no value.
struct Interval {
  bool set = false;
  int64_t lo = kMin;
  int64_t hi = kMax;
  void AtLeast(int64_t v) {
    set = true;
    lo = std::max(lo, v);
  }
  void AtMost(int64_t v) {
    set = true;
    hi = std::min(hi, v);
  }
  void Never() {
    set = true;
    lo = kMax;
    hi = kMin;
  }
};

// What one rule is indexed on, per attribute.
struct RuleKeys {
  PathClause paths[2];  // kRegion, kIndustry
  // kCustomerType, kSalesStage, kValueTier: the allowed values; kTags: the
  // tags of which the customer must carry at least one.
  bool token_set[4] = {};
  std::vector<std::string> tokens[4];
  bool segment_set = false;
  std::vector<int> segments;
  Interval ranges[RuleIndex::kNumRangeAttrs];

  bool Has(int attr) const {
    if (attr <= RuleIndex::kIndustry) return paths[attr].set;
    if (attr <= RuleIndex::kTags) {
      return token_set[attr - RuleIndex::kCustomerType];
    }
    if (attr == RuleIndex::kSegment) return segment_set;
    return ranges[attr - RuleIndex::kFirstRangeAttr].set;
  }
  // Whether some clause can hold for no value at all.
  bool Never() const {
    for (int t = 0; t < 3; ++t) {
      if (token_set[t] && tokens[t].empty()) return true;
    }
    for (const Interval& r : ranges) {
      if (r.set && r.lo > r.hi) return true;
    }
    return false;
  }
};

std::vector<std::string> Unique(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

void SetPath(bool exact, std::vector<std::string> values, PathClause* c) {
  values = Unique(std::move(values));
  // Exact keys are more selective than prefixes; then fewer values.
  if (c->set && (c->exact && !exact)) return;
  if (c->set && c->exact == exact && c->values.size() <= values.size()) return;
  c->set = true;
  c->exact = exact;
  c->values = std::move(values);
}

// Intersects the allowed values of a token attribute with `values`.
void AllowTokens(std::vector<std::string> values, RuleKeys* k, int t) {
  values = Unique(std::move(values));
  if (!k->token_set[t]) {
    k->token_set[t] = true;
    k->tokens[t] = std::move(values);
    return;
  }
  std::vector<std::string> both;
  std::set_intersection(k->tokens[t].begin(), k->tokens[t].end(),
                        values.begin(), values.end(), std::back_inserter(both));
  k->tokens[t] = std::move(both);
}

// One clause per rule: the one with the fewest tags.
void SetTags(std::vector<std::string> values, RuleKeys* k) {
  constexpr int t = RuleIndex::kTags - RuleIndex::kCustomerType;
  values = Unique(std::move(values));
  if (k->token_set[t] && k->tokens[t].size() <= values.size()) return;
  k->token_set[t] = true;
  k->tokens[t] = std::move(values);
}

void CollectField(const CompiledField& field, RuleKeys* k) {
  const FieldId id = field.field.id;
  for (const CompiledOp& op : field.ops) {
    switch (id) {
      case FieldId::kRegion:
      case FieldId::kIndustry: {
        PathClause* c = &k->paths[id == FieldId::kRegion ? 0 : 1];
        if (op.op == v1::Operator::kUnder) SetPath(false, op.strings, c);
        if (op.op == v1::Operator::kEq) SetPath(true, {op.str}, c);
        if (op.op == v1::Operator::kIn) SetPath(true, op.strings, c);
        break;
      }
      case FieldId::kCustomerType:
      case FieldId::kSalesStage:
      case FieldId::kValueTier: {
        const int t = id == FieldId::kCustomerType ? 0
                      : id == FieldId::kSalesStage ? 1
                                                   : 2;
        if (op.op == v1::Operator::kEq) AllowTokens({op.str}, k, t);
        if (op.op == v1::Operator::kIn) AllowTokens(op.strings, k, t);
        break;
      }
      case FieldId::kTags:
        if (op.op == v1::Operator::kAnyOf) SetTags(op.strings, k);
        // all_of: the customer needs each tag; index on the first.
        if (op.op == v1::Operator::kAllOf && !op.strings.empty()) {
          SetTags({op.strings[0]}, k);
        }
        break;
      case FieldId::kAnnualRevenue:
      case FieldId::kEmployeeCount: {
        Interval& r =
            k->ranges[(id == FieldId::kAnnualRevenue ? RuleIndex::kRevenue
                                                     : RuleIndex::kEmployees) -
                      RuleIndex::kFirstRangeAttr];
        switch (op.op) {
          case v1::Operator::kGt:
            if (op.num == kMax) {
              r.Never();
            } else {
              r.AtLeast(op.num + 1);
            }
            break;
          case v1::Operator::kGte:
            r.AtLeast(op.num);
            break;
          case v1::Operator::kLt:
            if (op.num == kMin) {
              r.Never();
            } else {
              r.AtMost(op.num - 1);
            }
            break;
          case v1::Operator::kLte:
            r.AtMost(op.num);
            break;
          case v1::Operator::kEq:
            r.AtLeast(op.num);
            r.AtMost(op.num);
            break;
          case v1::Operator::kIn:
            if (!op.ints.empty()) {
              r.AtLeast(*std::min_element(op.ints.begin(), op.ints.end()));
              r.AtMost(*std::max_element(op.ints.begin(), op.ints.end()));
            }
            break;
          default:
            break;
        }
        break;
      }
      case FieldId::kCreatedTime:
      case FieldId::kLastActivityTime: {
        Interval& r =
            k->ranges[(id == FieldId::kCreatedTime ? RuleIndex::kCreatedAge
                                                   : RuleIndex::kActivityAge) -
                      RuleIndex::kFirstRangeAttr];
        // older_than d: age > d; newer_than d: age < d (non-strict here).
        if (op.op == v1::Operator::kOlderThan) {
          r.AtLeast(FloorSeconds(op.duration));
        }
        if (op.op == v1::Operator::kNewerThan) {
          r.AtMost(FloorSeconds(op.duration));
        }
        break;
      }
      default:
        break;
    }
  }
}

// Collects the clauses of `c` that must hold whenever `c` holds: its own
// and, recursively, those of its `all` blocks.
void Collect(const CompiledCondition& c, RuleKeys* k) {
  for (const CompiledClause& clause : c.clauses) {
    switch (clause.kind) {
      case CompiledClause::Kind::kField:
        CollectField(clause.field, k);
        break;
      case CompiledClause::Kind::kSegment:
        if (!clause.segment.none_of &&
            (!k->segment_set ||
             clause.segment.segments.size() < k->segments.size())) {
          k->segment_set = true;
          k->segments = clause.segment.segments;
          std::sort(k->segments.begin(), k->segments.end());
          k->segments.erase(std::unique(k->segments.begin(), k->segments.end()),
                            k->segments.end());
        }
        break;
      case CompiledClause::Kind::kAll:
        for (const CompiledCondition& sub : clause.subs) Collect(sub, k);
        break;
      case CompiledClause::Kind::kAny:
      case CompiledClause::Kind::kNot:
        break;
    }
  }
}

std::string FormatBound(int attr, int64_t v) {
  if (v == kMin) return "min";
  if (v == kMax) return "max";
  if (attr >= RuleIndex::kCreatedAge) {
    return absl::FormatDuration(absl::Seconds(v));
  }
  return absl::StrCat(v);
}

// The cuts of at most kMaxBuckets buckets separating the intervals' bounds.
std::vector<int64_t> Cuts(const std::vector<const Interval*>& intervals) {
  std::vector<int64_t> points;
  for (const Interval* r : intervals) {
    if (r->lo != kMin) points.push_back(r->lo);
    if (r->hi != kMax) points.push_back(r->hi + 1);
  }
  std::sort(points.begin(), points.end());
  points.erase(std::unique(points.begin(), points.end()), points.end());
  constexpr size_t kMaxCuts = RuleIndex::kMaxBuckets - 1;
  if (points.size() <= kMaxCuts) return points;
  // Evenly spaced among the distinct bounds; merged buckets hold the union
  // of their rules.
  std::vector<int64_t> cuts;
  for (size_t k = 1; k <= kMaxCuts; ++k) {
    cuts.push_back(points[k * points.size() / (kMaxCuts + 1)]);
  }
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  return cuts;
}

}  // namespace

class RuleIndex::Builder {
 public:
  explicit Builder(RuleIndex* index) : index_(*index) {}

  uint32_t New() {
    const uint32_t b = static_cast<uint32_t>(index_.counts_.size());
    index_.words_.resize(index_.words_.size() + index_.stride_, 0);
    index_.counts_.push_back(0);
    return b;
  }
  uint32_t Copy(uint32_t from) {
    const uint32_t b = New();
    std::copy_n(index_.Bits(from), index_.stride_, Mutable(b));
    return b;
  }
  uint64_t* Mutable(uint32_t b) {
    return index_.words_.data() + size_t{b} * index_.stride_;
  }
  void Set(uint32_t b, uint32_t rule) {
    Mutable(b)[rule >> 6] |= uint64_t{1} << (rule & 63);
  }
  void Or(uint32_t dst, uint32_t src) {
    uint64_t* d = Mutable(dst);
    const uint64_t* s = index_.Bits(src);
    for (size_t w = 0; w < index_.stride_; ++w) d[w] |= s[w];
  }
  void Count() {
    for (size_t b = 0; b < index_.counts_.size(); ++b) {
      const uint64_t* w = index_.Bits(static_cast<uint32_t>(b));
      uint32_t n = 0;
      for (size_t k = 0; k < index_.stride_; ++k) n += std::popcount(w[k]);
      index_.counts_[b] = n;
    }
  }

 private:
  RuleIndex& index_;
};

RuleIndex RuleIndex::Build(absl::Span<const CompiledCondition* const> whens,
                           absl::Span<const std::string> segment_names,
                           size_t max_bytes) {
  RuleIndex index;
  const size_t n = whens.size();
  index.num_rules_ = n;
  const size_t words = std::max<size_t>((n + 63) / 64, 1);
  index.block_ = std::min(words, kBlockWords);
  index.stride_ = (words + index.block_ - 1) / index.block_ * index.block_;
  index.keys_.resize(n);
  index.segment_bitsets_.assign(segment_names.size(), -1);
  if (n == 0) return index;

  std::vector<RuleKeys> rules(n);
  std::vector<bool> never(n);
  for (size_t i = 0; i < n; ++i) {
    Collect(*whens[i], &rules[i]);
    never[i] = rules[i].Never();
  }

  // Bitsets each attribute needs (an upper bound), for the memory budget.
  size_t needed[kNumAttrs] = {};
  {
    absl::flat_hash_set<std::string> values[kNumAttrs];
    std::vector<const Interval*> intervals[kNumRangeAttrs];
    for (size_t i = 0; i < n; ++i) {
      if (never[i]) continue;
      const RuleKeys& k = rules[i];
      for (int a = 0; a < kNumAttrs; ++a) {
        if (!k.Has(a)) continue;
        if (a <= kIndustry) {
          values[a].insert(k.paths[a].values.begin(), k.paths[a].values.end());
        } else if (a <= kTags) {
          const auto& v = k.tokens[a - kCustomerType];
          values[a].insert(v.begin(), v.end());
        } else if (a == kSegment) {
          for (int s : k.segments) values[a].insert(absl::StrCat(s));
        } else {
          intervals[a - kFirstRangeAttr].push_back(
              &k.ranges[a - kFirstRangeAttr]);
        }
      }
    }
    for (int a = 0; a < kNumAttrs; ++a) {
      size_t count;
      if (a <= kIndustry) {
        count = 2 * values[a].size();
      } else if (a < kFirstRangeAttr) {
        count = values[a].size();
      } else {
        const auto& iv = intervals[a - kFirstRangeAttr];
        count = iv.empty() ? 0 : Cuts(iv).size() + 1;
      }
      // + dontcare.
      needed[a] = count == 0 ? 0 : count + 1;
      index.active_[a] = count > 0;
    }
    const size_t bitset_bytes = index.stride_ * sizeof(uint64_t);
    while (true) {
      size_t total = 1;  // all_
      int largest = -1;
      for (int a = 0; a < kNumAttrs; ++a) {
        if (!index.active_[a]) continue;
        total += needed[a];
        if (largest < 0 || needed[a] > needed[largest]) largest = a;
      }
      if (largest < 0 || total * bitset_bytes <= max_bytes) break;
      index.active_[largest] = false;
    }
  }

  Builder b(&index);
  index.all_ = b.New();
  for (size_t i = 0; i < n; ++i) {
    if (!never[i]) b.Set(index.all_, static_cast<uint32_t>(i));
  }
  for (int a = 0; a < kNumAttrs; ++a) {
    if (!index.active_[a]) continue;
    const uint32_t dc = index.dontcare_[a] = b.New();
    for (size_t i = 0; i < n; ++i) {
      if (!never[i] && !rules[i].Has(a)) b.Set(dc, static_cast<uint32_t>(i));
    }
    if (a <= kIndustry) {
      // Keys shortest first, so that a key's nearest ancestor key is done.
      absl::flat_hash_map<std::string, std::pair<std::vector<uint32_t>,
                                                 std::vector<uint32_t>>>
          rules_of;  // key -> (under rules, exact rules)
      for (size_t i = 0; i < n; ++i) {
        if (never[i] || !rules[i].Has(a)) continue;
        const PathClause& c = rules[i].paths[a];
        for (const std::string& v : c.values) {
          auto& lists = rules_of[v];
          (c.exact ? lists.second : lists.first)
              .push_back(static_cast<uint32_t>(i));
        }
      }
      std::vector<std::string> keys;
      for (const auto& [key, lists] : rules_of) keys.push_back(key);
      std::sort(keys.begin(), keys.end(),
                [](const std::string& x, const std::string& y) {
                  return x.size() != y.size() ? x.size() < y.size() : x < y;
                });
      auto& map = index.paths_[a].keys;
      for (const std::string& key : keys) {
        uint32_t base = dc;
        for (size_t s = key.rfind('/'); s != std::string::npos && s > 0;
             s = key.rfind('/', s - 1)) {
          auto it = map.find(absl::string_view(key).substr(0, s));
          if (it != map.end()) {
            base = it->second.below;
            break;
          }
        }
        const auto& [under, exact] = rules_of[key];
        PathKey pk{base, base};
        if (!under.empty()) {
          pk.below = b.Copy(base);
          for (uint32_t r : under) b.Set(pk.below, r);
          pk.equal = pk.below;
        }
        if (!exact.empty()) {
          pk.equal = b.Copy(pk.below);
          for (uint32_t r : exact) b.Set(pk.equal, r);
        }
        map.emplace(key, pk);
      }
    } else if (a <= kTags) {
      auto& map = index.tokens_[a - kCustomerType];
      for (size_t i = 0; i < n; ++i) {
        if (never[i] || !rules[i].Has(a)) continue;
        for (const std::string& v : rules[i].tokens[a - kCustomerType]) {
          auto it = map.find(v);
          if (it == map.end()) it = map.emplace(v, b.Copy(dc)).first;
          b.Set(it->second, static_cast<uint32_t>(i));
        }
      }
    } else if (a == kSegment) {
      for (size_t i = 0; i < n; ++i) {
        if (never[i] || !rules[i].Has(a)) continue;
        for (int s : rules[i].segments) {
          if (static_cast<size_t>(s) >= index.segment_bitsets_.size()) {
            index.segment_bitsets_.resize(s + 1, -1);
          }
          int64_t& bits = index.segment_bitsets_[s];
          if (bits < 0) bits = b.Copy(dc);
          b.Set(static_cast<uint32_t>(bits), static_cast<uint32_t>(i));
        }
      }
    } else {
      const int r = a - kFirstRangeAttr;
      std::vector<const Interval*> intervals;
      for (size_t i = 0; i < n; ++i) {
        if (!never[i] && rules[i].Has(a))
          intervals.push_back(&rules[i].ranges[r]);
      }
      RangeAttr& range = index.ranges_[r];
      range.cuts = Cuts(intervals);
      for (size_t k = 0; k <= range.cuts.size(); ++k) {
        range.buckets.push_back(b.Copy(dc));
      }
      for (size_t i = 0; i < n; ++i) {
        if (never[i] || !rules[i].Has(a)) continue;
        const Interval& iv = rules[i].ranges[r];
        // Buckets meeting [lo, hi]: from lo's bucket to hi's.
        const size_t first =
            std::upper_bound(range.cuts.begin(), range.cuts.end(), iv.lo) -
            range.cuts.begin();
        const size_t last =
            std::upper_bound(range.cuts.begin(), range.cuts.end(), iv.hi) -
            range.cuts.begin();
        for (size_t k = first; k <= last; ++k) {
          b.Set(range.buckets[k], static_cast<uint32_t>(i));
        }
      }
    }
  }
  b.Count();

  // Descriptions, for KeysOf.
  for (size_t i = 0; i < n; ++i) {
    if (never[i]) {
      index.keys_[i] = "never";
      continue;
    }
    const RuleKeys& k = rules[i];
    std::vector<std::string> parts;
    for (int a = 0; a < kNumAttrs; ++a) {
      if (!index.active_[a] || !k.Has(a)) continue;
      if (a <= kIndustry) {
        parts.push_back(absl::StrCat(kAttrNames[a],
                                     k.paths[a].exact ? " in " : " under ",
                                     absl::StrJoin(k.paths[a].values, "|")));
      } else if (a <= kTags) {
        parts.push_back(
            absl::StrCat(kAttrNames[a], a == kTags ? " any_of " : " in ",
                         absl::StrJoin(k.tokens[a - kCustomerType], "|")));
      } else if (a == kSegment) {
        std::vector<std::string> names;
        for (int s : k.segments) {
          names.push_back(static_cast<size_t>(s) < segment_names.size()
                              ? segment_names[s]
                              : absl::StrCat(s));
        }
        parts.push_back(absl::StrCat("segment in ", absl::StrJoin(names, "|")));
      } else {
        const Interval& iv = k.ranges[a - kFirstRangeAttr];
        parts.push_back(absl::StrCat(
            kAttrNames[a], a >= kCreatedAge ? " age [" : " [",
            FormatBound(a, iv.lo), ", ", FormatBound(a, iv.hi), "]"));
      }
    }
    index.keys_[i] = absl::StrJoin(parts, "; ");
  }
  return index;
}

std::vector<std::string> RuleIndex::IndexedAttributes() const {
  std::vector<std::string> names;
  for (int a = 0; a < kNumAttrs; ++a) {
    if (active_[a]) names.push_back(kAttrNames[a]);
  }
  return names;
}

void RuleIndex::AddGroup(const uint32_t* bitsets, size_t n, Sources* s) const {
  // Too many: leave the constraint out.
  if (s->num_ptrs + n > kMaxSources) return;
  const uint32_t all = counts_[all_];
  uint32_t count = 0;
  for (size_t k = 0; k < n; ++k) {
    // A bitset holding every rule constrains nothing.
    if (counts_[bitsets[k]] >= all) return;
    count += counts_[bitsets[k]];
  }
  Group& g = s->groups[s->num_groups++];
  g = {s->num_ptrs, static_cast<uint32_t>(n), std::min(count, all)};
  for (size_t k = 0; k < n; ++k) s->ptrs[s->num_ptrs++] = Bits(bitsets[k]);
}

uint32_t RuleIndex::PathBitset(int attr, absl::string_view path) const {
  const auto& map = paths_[attr].keys;
  if (path.empty()) return dontcare_[attr];
  if (auto it = map.find(path); it != map.end()) return it->second.equal;
  // The deepest proper prefix that is a key.
  for (size_t s = path.rfind('/'); s != absl::string_view::npos && s > 0;
       s = path.rfind('/', s - 1)) {
    if (auto it = map.find(path.substr(0, s)); it != map.end()) {
      return it->second.below;
    }
  }
  return dontcare_[attr];
}

uint32_t RuleIndex::RangeBitset(int range, int64_t value) const {
  const RangeAttr& r = ranges_[range];
  return r.buckets[std::upper_bound(r.cuts.begin(), r.cuts.end(), value) -
                   r.cuts.begin()];
}

void RuleIndex::Gather(const v1::Customer& customer, const SegmentSet& segments,
                       absl::Time at, Sources* s) const {
  if (active_[kRegion]) AddGroup(PathBitset(kRegion, customer.region()), s);
  if (active_[kIndustry]) {
    AddGroup(PathBitset(kIndustry, customer.industry()), s);
  }
  const std::string* tokens[] = {&customer.customer_type(),
                                 &customer.sales_stage(),
                                 &customer.value_tier()};
  for (int t = 0; t < 3; ++t) {
    if (!active_[kCustomerType + t]) continue;
    const auto& map = tokens_[t];
    auto it = tokens[t]->empty() ? map.end() : map.find(*tokens[t]);
    AddGroup(it == map.end() ? dontcare_[kCustomerType + t] : it->second, s);
  }
  // Multi-valued attributes: the OR over the customer's values; with more
  // values than kMaxSources, no constraint.
  uint32_t any[kMaxSources];
  size_t n = 0;
  if (active_[kTags]) {
    const auto& map = tokens_[kTags - kCustomerType];
    for (const std::string& tag : customer.tags()) {
      if (auto it = map.find(tag); it != map.end() && n < kMaxSources) {
        any[n++] = it->second;
      }
    }
    if (n == 0) any[n++] = dontcare_[kTags];
    if (n < kMaxSources) AddGroup(any, n, s);
  }
  if (active_[kSegment]) {
    n = 0;
    for (size_t k = 0; k < segment_bitsets_.size() && n < kMaxSources; ++k) {
      if (segment_bitsets_[k] >= 0 && segments.Contains(static_cast<int>(k))) {
        any[n++] = static_cast<uint32_t>(segment_bitsets_[k]);
      }
    }
    if (n == 0) any[n++] = dontcare_[kSegment];
    if (n < kMaxSources) AddGroup(any, n, s);
  }
  // An absent value satisfies no indexed clause: dontcare only.
  if (active_[kRevenue]) {
    AddGroup(
        customer.has_annual_revenue()
            ? RangeBitset(kRevenue - kFirstRangeAttr, customer.annual_revenue())
            : dontcare_[kRevenue],
        s);
  }
  if (active_[kEmployees]) {
    AddGroup(customer.has_employee_count()
                 ? RangeBitset(kEmployees - kFirstRangeAttr,
                               customer.employee_count())
                 : dontcare_[kEmployees],
             s);
  }
  if (active_[kCreatedAge]) {
    AddGroup(
        customer.has_created_time()
            ? RangeBitset(kCreatedAge - kFirstRangeAttr,
                          FloorSeconds(at - ToTime(customer.created_time())))
            : dontcare_[kCreatedAge],
        s);
  }
  if (active_[kActivityAge]) {
    AddGroup(customer.has_last_activity_time()
                 ? RangeBitset(
                       kActivityAge - kFirstRangeAttr,
                       FloorSeconds(at - ToTime(customer.last_activity_time())))
                 : dontcare_[kActivityAge],
             s);
  }
  if (s->num_groups == 0) {
    // Nothing constrains the customer: every rule that can hold.
    s->groups[0] = {0, 1, counts_[all_]};
    s->ptrs[0] = Bits(all_);
    s->num_groups = s->num_ptrs = 1;
    return;
  }
  // Most selective first, so that blocks empty out sooner (insertion sort:
  // a handful of groups).
  for (uint32_t i = 1; i < s->num_groups; ++i) {
    const Group g = s->groups[i];
    uint32_t j = i;
    for (; j > 0 && s->groups[j - 1].count > g.count; --j) {
      s->groups[j] = s->groups[j - 1];
    }
    s->groups[j] = g;
  }
}

bool RuleIndex::Block(const Sources& s, size_t word, uint64_t* cand) const {
  const size_t width = block_;
  uint64_t tmp[kBlockWords];
  for (uint32_t g = 0; g < s.num_groups; ++g) {
    const Group& group = s.groups[g];
    const uint64_t* const* p = s.ptrs + group.begin;
    uint64_t* dst = g == 0 ? cand : tmp;
    for (size_t k = 0; k < width; ++k) dst[k] = p[0][word + k];
    for (uint32_t j = 1; j < group.n; ++j) {
      for (size_t k = 0; k < width; ++k) dst[k] |= p[j][word + k];
    }
    uint64_t any = 0;
    if (g == 0) {
      for (size_t k = 0; k < width; ++k) any |= cand[k];
    } else {
      for (size_t k = 0; k < width; ++k) {
        cand[k] &= tmp[k];
        any |= cand[k];
      }
    }
    if (any == 0) return false;
  }
  return true;
}

}  // namespace custodian::rules::internal
