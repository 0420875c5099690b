#include "rules/recycling.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "rules/condition_eval.h"

namespace custodian::rules {
namespace {

using internal::CompiledCondition;
using internal::EvalContext;
using internal::SegmentSet;

class RecyclingMatcherImpl final : public RecyclingMatcher {
 public:
  explicit RecyclingMatcherImpl(v1::Ruleset ruleset)
      : ruleset_(std::move(ruleset)) {}

  absl::Status Init() {
    absl::flat_hash_map<std::string, int> segment_index;
    segments_.resize(ruleset_.segments_size());
    for (int i = 0; i < ruleset_.segments_size(); ++i) {
      const v1::Segment& s = ruleset_.segments(i);
      RETURN_IF_ERROR(internal::CompileCondition(
          s.when(), segment_index, absl::StrCat("segment \"", s.name(), "\""),
          &segments_[i]));
      segment_index.emplace(s.name(), i);
      segment_names_.push_back(s.name());
    }
    const v1::Policies& p = ruleset_.policies();
    rules_.resize(p.recycling_size());
    for (int i = 0; i < p.recycling_size(); ++i) {
      RETURN_IF_ERROR(internal::CompileCondition(
          p.recycling(i).when(), segment_index,
          absl::StrCat("policies.recycling[", i, "]"), &rules_[i]));
    }
    return absl::OkStatus();
  }

  int Match(absl::string_view department, const v1::Customer& customer,
            absl::Time at) const override {
    SegmentSet set(segments_.size());
    const EvalContext ctx{customer, at, set, segment_names_};
    for (size_t i = 0; i < segments_.size(); ++i) {
      if (internal::Holds(segments_[i], ctx)) set.Add(static_cast<int>(i));
    }
    const v1::Policies& p = ruleset_.policies();
    for (int i = 0; i < p.recycling_size(); ++i) {
      if (p.recycling(i).department() != department) continue;
      if (internal::Holds(rules_[i], ctx)) return i;
    }
    return -1;
  }

  bool HasRulesFor(absl::string_view department) const override {
    for (const v1::RecyclingRule& r : ruleset_.policies().recycling()) {
      if (r.department() == department) return true;
    }
    return false;
  }

  const v1::Ruleset& ruleset() const override { return ruleset_; }

 private:
  // Conditions point into ruleset_: it never moves after construction.
  const v1::Ruleset ruleset_;
  std::vector<CompiledCondition> segments_;
  std::vector<std::string> segment_names_;
  std::vector<CompiledCondition> rules_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<const RecyclingMatcher>>
RecyclingMatcher::Compile(const v1::Ruleset& ruleset) {
  auto impl = std::make_unique<RecyclingMatcherImpl>(ruleset);
  RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<const RecyclingMatcher>(std::move(impl));
}

}  // namespace custodian::rules
