#include "rules/rule_index.h"

#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace custodian::rules::internal {
namespace {

// One way a rule could be registered: under every value of `values` in `dim`
// (for kSegment, the values are decimal segment indices).
struct KeyOption {
  KeyOption(RuleIndex::Dim d, std::vector<std::string> v)
      : dim(d), values(std::move(v)) {}
  KeyOption(RuleIndex::Dim d, int64_t bound) : dim(d), int_bound(bound) {}
  KeyOption(RuleIndex::Dim d, absl::Duration bound)
      : dim(d), age_bound(bound) {}

  RuleIndex::Dim dim;
  std::vector<std::string> values;  // exact, path and segment dims
  int64_t int_bound = 0;            // kRevenue*, kEmployees*
  absl::Duration age_bound;         // k*Age*
};

// The range key options of one operator on an integer or timestamp field.
void RangeOptions(const CompiledField& field, const CompiledOp& op,
                  std::vector<KeyOption>* options) {
  using D = RuleIndex;
  const bool revenue = field.field.id == FieldId::kAnnualRevenue;
  const bool employees = field.field.id == FieldId::kEmployeeCount;
  const bool created = field.field.id == FieldId::kCreatedTime;
  const bool activity = field.field.id == FieldId::kLastActivityTime;
  // Bounds are made non-strict: the index only needs a superset.
  switch (op.op) {
    case v1::Operator::kGt:
    case v1::Operator::kGte:
      if (revenue || employees) {
        options->push_back(
            KeyOption(revenue ? D::kRevenueMin : D::kEmployeesMin, op.num));
      }
      break;
    case v1::Operator::kLt:
    case v1::Operator::kLte:
      if (revenue || employees) {
        options->push_back(
            KeyOption(revenue ? D::kRevenueMax : D::kEmployeesMax, op.num));
      }
      break;
    case v1::Operator::kOlderThan:  // at - time > d
      if (created || activity) {
        options->push_back(KeyOption(
            created ? D::kCreatedAgeMin : D::kActivityAgeMin, op.duration));
      }
      break;
    case v1::Operator::kNewerThan:  // at - time < d
      if (created || activity) {
        options->push_back(KeyOption(
            created ? D::kCreatedAgeMax : D::kActivityAgeMax, op.duration));
      }
      break;
    default:
      break;
  }
}

std::optional<RuleIndex::Dim> DimOf(FieldId id) {
  switch (id) {
    case FieldId::kRegion:
      return RuleIndex::kRegion;
    case FieldId::kIndustry:
      return RuleIndex::kIndustry;
    case FieldId::kCustomerType:
      return RuleIndex::kCustomerType;
    case FieldId::kSalesStage:
      return RuleIndex::kSalesStage;
    case FieldId::kValueTier:
      return RuleIndex::kValueTier;
    case FieldId::kTags:
      return RuleIndex::kTags;
    default:
      return std::nullopt;
  }
}

bool IsPathDim(RuleIndex::Dim dim) {
  return dim == RuleIndex::kRegion || dim == RuleIndex::kIndustry;
}

// Appends the key options of the positive clauses of `c` that must hold
// whenever `c` holds: its own clauses and, recursively, those of its `all`
// blocks.
void CollectOptions(const CompiledCondition& c,
                    std::vector<KeyOption>* options) {
  for (const CompiledClause& clause : c.clauses) {
    switch (clause.kind) {
      case CompiledClause::Kind::kField: {
        std::optional<RuleIndex::Dim> dim = DimOf(clause.field.field.id);
        if (!dim.has_value()) {
          for (const CompiledOp& op : clause.field.ops) {
            RangeOptions(clause.field, op, options);
          }
          break;
        }
        for (const CompiledOp& op : clause.field.ops) {
          const v1::Operator& src = *op.source;
          switch (op.op) {
            case v1::Operator::kEq:
              options->push_back({*dim, {src.eq().string_value()}});
              break;
            case v1::Operator::kIn: {
              KeyOption o(*dim, std::vector<std::string>());
              for (const v1::Value& v : src.in().values()) {
                o.values.push_back(v.string_value());
              }
              options->push_back(std::move(o));
              break;
            }
            case v1::Operator::kUnder:
              options->push_back(
                  {*dim,
                   {src.under().values().begin(), src.under().values().end()}});
              break;
            case v1::Operator::kAnyOf:
              options->push_back({*dim,
                                  {src.any_of().values().begin(),
                                   src.any_of().values().end()}});
              break;
            case v1::Operator::kAllOf:
              for (const std::string& tag : src.all_of().values()) {
                options->push_back({*dim, {tag}});
              }
              break;
            default:
              break;
          }
        }
        break;
      }
      case CompiledClause::Kind::kSegment:
        if (!clause.segment.none_of) {
          KeyOption o(RuleIndex::kSegment, std::vector<std::string>());
          for (int s : clause.segment.segments) {
            o.values.push_back(absl::StrCat(s));
          }
          options->push_back(std::move(o));
        }
        break;
      case CompiledClause::Kind::kAll:
        for (const CompiledCondition& sub : clause.subs) {
          CollectOptions(sub, options);
        }
        break;
      case CompiledClause::Kind::kAny:
      case CompiledClause::Kind::kNot:
        break;
    }
  }
}

// Estimates of how likely a customer is to hit a key, from the keys the
// department's rules use (no customer data is available at compile time).
class Selectivity {
 public:
  void Observe(const KeyOption& o) {
    if (o.dim >= RuleIndex::kFirstRangeDim) return;
    for (const std::string& v : o.values) {
      if (IsPathDim(o.dim)) {
        // Record every prefix as a child of its parent prefix.
        absl::string_view p = v;
        size_t start = 0;
        while (true) {
          size_t slash = p.find('/', start);
          absl::string_view parent =
              start == 0 ? absl::string_view() : p.substr(0, start - 1);
          absl::string_view self =
              slash == absl::string_view::npos ? p : p.substr(0, slash);
          children_[o.dim][std::string(parent)].insert(std::string(self));
          if (slash == absl::string_view::npos) break;
          start = slash + 1;
        }
      } else {
        distinct_[o.dim].insert(v);
      }
    }
  }

  // The estimated probability that a customer hits one of o's values.
  double Probability(const KeyOption& o) const {
    // Thresholds: the customer distribution is unknowable here; a middling
    // estimate prefers equality and path keys but beats the always list.
    if (o.dim >= RuleIndex::kFirstRangeDim) return 0.5;
    double p = 0;
    for (const std::string& v : o.values) p += ValueProbability(o.dim, v);
    return std::min(p, 1.0);
  }

 private:
  double ValueProbability(RuleIndex::Dim dim, absl::string_view v) const {
    if (IsPathDim(dim)) {
      // One over the branching of every level: CN/East/Shanghai among 7
      // areas of CN and 10 cities of CN/East is 1/70.
      double p = 1;
      size_t start = 0;
      while (true) {
        size_t slash = v.find('/', start);
        absl::string_view parent =
            start == 0 ? absl::string_view() : v.substr(0, start - 1);
        auto it = children_[dim].find(parent);
        // +1: values no rule names exist too.
        if (it != children_[dim].end()) p /= (it->second.size() + 1);
        if (slash == absl::string_view::npos) break;
        start = slash + 1;
      }
      return p;
    }
    const double n = distinct_[dim].size() + 1;
    switch (dim) {
      case RuleIndex::kTags:
        return 3 / n;  // a customer carries a few tags
      case RuleIndex::kSegment:
        return 0.5;  // membership is unknowable here; prefer other keys
      default:
        return 1 / n;
    }
  }

  std::array<absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>>,
             RuleIndex::kNumDims>
      children_;
  std::array<absl::flat_hash_set<std::string>, RuleIndex::kNumDims> distinct_;
};

constexpr const char* kDimNames[RuleIndex::kNumDims] = {
    "region",
    "industry",
    "customer_type",
    "sales_stage",
    "value_tier",
    "tags",
    "segment",
    "annual_revenue>=",
    "annual_revenue<=",
    "employee_count>=",
    "employee_count<=",
    "created_time age>=",
    "created_time age<=",
    "last_activity_time age>=",
    "last_activity_time age<="};

}  // namespace

RuleIndex RuleIndex::Build(absl::Span<const CompiledCondition* const> whens,
                           absl::Span<const std::string> segment_names) {
  RuleIndex index;
  index.keys_.resize(whens.size());
  std::vector<std::vector<KeyOption>> options(whens.size());
  Selectivity selectivity;
  for (size_t i = 0; i < whens.size(); ++i) {
    CollectOptions(*whens[i], &options[i]);
    for (const KeyOption& o : options[i]) selectivity.Observe(o);
  }
  std::array<std::vector<std::pair<int64_t, uint32_t>>, 4> int_bounds;
  std::array<std::vector<std::pair<absl::Duration, uint32_t>>, 4> age_bounds;
  for (size_t i = 0; i < whens.size(); ++i) {
    const uint32_t pos = static_cast<uint32_t>(i);
    const KeyOption* best = nullptr;
    double best_p = 2;
    for (const KeyOption& o : options[i]) {
      const double p = selectivity.Probability(o);
      if (p < best_p ||
          (p == best_p && o.values.size() < best->values.size())) {
        best = &o;
        best_p = p;
      }
    }
    if (best == nullptr) {
      index.always_.push_back(pos);
      continue;
    }
    if (best->dim >= kFirstRangeDim) {
      const int r = best->dim - kFirstRangeDim;
      if (r < 4) {
        int_bounds[r].emplace_back(best->int_bound, pos);
        index.keys_[i] = absl::StrCat(kDimNames[best->dim], best->int_bound);
      } else {
        age_bounds[r - 4].emplace_back(best->age_bound, pos);
        index.keys_[i] = absl::StrCat(kDimNames[best->dim],
                                      absl::FormatDuration(best->age_bound));
      }
      continue;
    }
    std::vector<std::string> names;
    for (const std::string& v : best->values) {
      List* list;
      if (best->dim == kSegment) {
        const size_t s = std::stoul(v);
        if (index.by_segment_.size() <= s) index.by_segment_.resize(s + 1);
        list = &index.by_segment_[s];
        names.push_back(s < segment_names.size() ? segment_names[s] : v);
      } else {
        list = &index.maps_[best->dim][v];
        names.push_back(v);
      }
      if (list->empty() || list->back() != pos) list->push_back(pos);
    }
    index.keys_[i] =
        absl::StrCat(kDimNames[best->dim], ":", absl::StrJoin(names, "|"));
  }
  for (int r = 0; r < 4; ++r) {
    // Even offsets are "Min" dimensions (value >= bound).
    index.int_ranges_[r] =
        RangeDim<int64_t>::Build(/*lower=*/r % 2 == 0, int_bounds[r]);
    index.age_ranges_[r] =
        RangeDim<absl::Duration>::Build(/*lower=*/r % 2 == 0, age_bounds[r]);
  }
  return index;
}

template <typename T>
RuleIndex::RangeDim<T> RuleIndex::RangeDim<T>::Build(
    bool lower, const std::vector<std::pair<T, uint32_t>>& bounds) {
  // At most this many buckets: candidates are then within about 1/64 of the
  // rules of the dimension of the exact set.
  constexpr size_t kMaxCuts = 63;
  RangeDim dim;
  dim.lower = lower;
  if (bounds.empty()) return dim;
  std::vector<T> distinct;
  for (const auto& [bound, rule] : bounds) distinct.push_back(bound);
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  if (distinct.size() <= kMaxCuts) {
    dim.cuts = distinct;
  } else {
    for (size_t k = 1; k <= kMaxCuts; ++k) {
      dim.cuts.push_back(distinct[k * distinct.size() / (kMaxCuts + 1)]);
    }
    dim.cuts.erase(std::unique(dim.cuts.begin(), dim.cuts.end()),
                   dim.cuts.end());
  }
  // A value in bucket b satisfies cuts[b-1] <= value < cuts[b].
  //   lower (value >= bound): bound <= value < cuts[b]  => bound < cuts[b]
  //   upper (value <= bound): bound >= value >= cuts[b-1]
  const size_t k = dim.cuts.size();
  dim.lists.resize(k + 1);
  for (const auto& [bound, rule] : bounds) {
    for (size_t b = 0; b <= k; ++b) {
      const bool candidate = lower ? (b == k || bound < dim.cuts[b])
                                   : (b == 0 || !(bound < dim.cuts[b - 1]));
      if (candidate) dim.lists[b].push_back(rule);
    }
  }
  return dim;
}

template struct RuleIndex::RangeDim<int64_t>;
template struct RuleIndex::RangeDim<absl::Duration>;

}  // namespace custodian::rules::internal
