#include "rules/compiled_ruleset.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "rules/compiled_ruleset_testing.h"
#include "rules/condition_eval.h"
#include "rules/rule_index.h"

namespace custodian::rules {
namespace {

using internal::CompiledCondition;
using internal::EvalContext;
using internal::Failure;
using internal::RuleIndex;
using internal::SegmentSet;

enum class Scan { kIndexed, kLinear };

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(t);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(seconds)) /
                                      absl::Nanoseconds(1)));
}

void FillTrace(absl::string_view name, bool matched, Failure* failure,
               v1::ConditionTrace* trace) {
  trace->set_name(std::string(name));
  trace->set_matched(matched);
  if (!matched) {
    trace->set_failed_path(std::move(failure->path));
    trace->set_failed_condition(std::move(failure->condition));
    trace->set_observed(std::move(failure->observed));
  }
}

class CompiledRulesetImpl final : public CompiledRuleset {
 public:
  // `index_max_bytes`: the memory budget of each department's index.
  static absl::StatusOr<std::unique_ptr<const CompiledRuleset>> Create(
      const v1::Ruleset& ruleset,
      size_t index_max_bytes = RuleIndex::kDefaultMaxBytes) {
    // Not make_unique: the constructor is private.
    std::unique_ptr<CompiledRulesetImpl> impl(new CompiledRulesetImpl(ruleset));
    RETURN_IF_ERROR(impl->Init(index_max_bytes));
    return std::unique_ptr<const CompiledRuleset>(std::move(impl));
  }

  void Evaluate(const v1::Customer& customer, absl::Time at,
                const EvaluateOptions& options,
                v1::Evaluation* out) const override {
    Run(customer, at, options.explain,
        options.explain ? Scan::kLinear : Scan::kIndexed, out);
  }

  const v1::Ruleset& ruleset() const override { return ruleset_; }

  // Evaluate, with the scan forced (explain implies linear).
  void Run(const v1::Customer& customer, absl::Time at, bool explain, Scan scan,
           v1::Evaluation* out) const;

  // Segment membership of `customer` at `at`, without explanations.
  SegmentSet Segments(const v1::Customer& customer, absl::Time at) const;

  const RuleIndex& index(int department) const {
    return departments_[department].index;
  }
  int num_rules(int department) const {
    return static_cast<int>(departments_[department].rules.size());
  }

 private:
  struct Rule {
    const v1::Rule* source;  // into ruleset_
    CompiledCondition when;
  };
  struct Department {
    const v1::DepartmentRules* source;  // into ruleset_
    std::vector<Rule> rules;
    RuleIndex index;
  };

  explicit CompiledRulesetImpl(const v1::Ruleset& ruleset)
      : ruleset_(ruleset) {}

  absl::Status Init(size_t index_max_bytes);

  const v1::Ruleset ruleset_;
  std::vector<std::string> segment_names_;
  std::vector<CompiledCondition> segments_;
  std::vector<Department> departments_;
};

absl::Status CompiledRulesetImpl::Init(size_t index_max_bytes) {
  absl::flat_hash_map<std::string, int> segment_index;
  segments_.resize(ruleset_.segments_size());
  for (int i = 0; i < ruleset_.segments_size(); ++i) {
    const v1::Segment& s = ruleset_.segments(i);
    const std::string where = absl::StrCat("segment \"", s.name(), "\"");
    if (s.name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("segments[", i, "].name: empty"));
    }
    // The segment's own name is not yet known: no self-reference.
    RETURN_IF_ERROR(internal::CompileCondition(s.when(), segment_index, where,
                                               &segments_[i]));
    if (!segment_index.emplace(s.name(), i).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": name: duplicate segment"));
    }
    segment_names_.push_back(s.name());
  }

  absl::flat_hash_set<std::string> department_ids;
  departments_.resize(ruleset_.departments_size());
  for (int d = 0; d < ruleset_.departments_size(); ++d) {
    const v1::DepartmentRules& src = ruleset_.departments(d);
    Department& dept = departments_[d];
    dept.source = &src;
    if (!department_ids.insert(src.department()).second ||
        src.department().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("departments[", d, "].department: empty or duplicate \"",
                       src.department(), "\""));
    }
    absl::flat_hash_set<std::string> rule_ids;
    dept.rules.resize(src.rules_size());
    std::vector<const CompiledCondition*> whens;
    for (int r = 0; r < src.rules_size(); ++r) {
      const v1::Rule& rule = src.rules(r);
      const std::string where = absl::StrCat(
          "rule \"", rule.id(), "\" of department \"", src.department(), "\"");
      if (rule.id().empty() || rule.id() == "fallback" ||
          !rule_ids.insert(rule.id()).second) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": id: empty, reserved or duplicate"));
      }
      if (rule.assign().kind_case() == v1::Target::KIND_NOT_SET) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": assign: no team, rep or pool"));
      }
      dept.rules[r].source = &rule;
      RETURN_IF_ERROR(internal::CompileCondition(rule.when(), segment_index,
                                                 where, &dept.rules[r].when));
      whens.push_back(&dept.rules[r].when);
    }
    dept.index = RuleIndex::Build(whens, segment_names_, index_max_bytes);
  }
  return absl::OkStatus();
}

SegmentSet CompiledRulesetImpl::Segments(const v1::Customer& customer,
                                         absl::Time at) const {
  SegmentSet set(segments_.size());
  const EvalContext ctx{customer, at, set, segment_names_};
  for (size_t i = 0; i < segments_.size(); ++i) {
    if (internal::Holds(segments_[i], ctx)) set.Add(static_cast<int>(i));
  }
  return set;
}

void CompiledRulesetImpl::Run(const v1::Customer& customer, absl::Time at,
                              bool explain, Scan scan,
                              v1::Evaluation* out) const {
  out->Clear();
  out->set_customer_id(customer.id());
  SetTimestamp(at, out->mutable_evaluated_at());

  SegmentSet segments(segments_.size());
  const EvalContext ctx{customer, at, segments, segment_names_};
  Failure failure;
  for (size_t i = 0; i < segments_.size(); ++i) {
    bool in;
    if (explain) {
      in = internal::Explain(segments_[i], ctx, &failure);
      FillTrace(segment_names_[i], in, &failure, out->add_segment_traces());
    } else {
      in = internal::Holds(segments_[i], ctx);
    }
    if (in) {
      segments.Add(static_cast<int>(i));
      out->add_segments(segment_names_[i]);
    }
  }

  for (const Department& dept : departments_) {
    v1::DepartmentDecision* decision = out->add_departments();
    decision->set_department(dept.source->department());
    int match = -1;
    if (explain) {
      for (size_t r = 0; r < dept.rules.size() && match < 0; ++r) {
        const Rule& rule = dept.rules[r];
        const bool held = internal::Explain(rule.when, ctx, &failure);
        FillTrace(rule.source->id(), held, &failure,
                  decision->add_rule_traces());
        if (held) match = static_cast<int>(r);
      }
    } else if (scan == Scan::kLinear) {
      for (size_t r = 0; r < dept.rules.size(); ++r) {
        if (internal::Holds(dept.rules[r].when, ctx)) {
          match = static_cast<int>(r);
          break;
        }
      }
    } else {
      match = dept.index.FirstMatch(customer, segments, at, [&](int r) {
        return internal::Holds(dept.rules[r].when, ctx);
      });
    }
    if (match >= 0) {
      const v1::Rule& rule = *dept.rules[match].source;
      decision->set_kind(v1::RULE);
      decision->set_rule_id(rule.id());
      *decision->mutable_target() = rule.assign();
      if (rule.has_overflow()) *decision->mutable_overflow() = rule.overflow();
    } else if (dept.source->has_fallback()) {
      decision->set_kind(v1::FALLBACK);
      decision->set_rule_id("fallback");
      *decision->mutable_target() = dept.source->fallback();
    } else {
      decision->set_kind(v1::NO_MATCH);
    }
  }
}

const CompiledRulesetImpl& Impl(const CompiledRuleset& compiled) {
  return static_cast<const CompiledRulesetImpl&>(compiled);
}

}  // namespace

absl::StatusOr<std::unique_ptr<const CompiledRuleset>> CompiledRuleset::Compile(
    const v1::Ruleset& ruleset) {
  return CompiledRulesetImpl::Create(ruleset);
}

namespace testing {

void EvaluateLinear(const CompiledRuleset& compiled,
                    const v1::Customer& customer, absl::Time at,
                    v1::Evaluation* out) {
  Impl(compiled).Run(customer, at, /*explain=*/false, Scan::kLinear, out);
}

absl::StatusOr<std::unique_ptr<const CompiledRuleset>> CompileWithIndexBudget(
    const v1::Ruleset& ruleset, size_t index_max_bytes) {
  return CompiledRulesetImpl::Create(ruleset, index_max_bytes);
}

std::string IndexKeysOf(const CompiledRuleset& compiled, int department,
                        int rule) {
  return Impl(compiled).index(department).KeysOf(rule);
}

std::vector<std::string> IndexedAttributes(const CompiledRuleset& compiled,
                                           int department) {
  return Impl(compiled).index(department).IndexedAttributes();
}

size_t IndexBytes(const CompiledRuleset& compiled, int department) {
  return Impl(compiled).index(department).BitsetBytes();
}

int CountCandidates(const CompiledRuleset& compiled, int department,
                    const v1::Customer& customer, absl::Time at) {
  const CompiledRulesetImpl& impl = Impl(compiled);
  const SegmentSet segments = impl.Segments(customer, at);
  int count = 0;
  impl.index(department).FirstMatch(customer, segments, at, [&](int) {
    ++count;
    return false;
  });
  return count;
}

}  // namespace testing
}  // namespace custodian::rules
