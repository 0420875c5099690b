// Compiled `when:` blocks (RULES.md "Conditions") and their evaluation: the
// part of the rules engine that decides whether one condition holds for one
// customer. Internal to the engine (rules/compiled_ruleset.cc and
// rules/rule_index.cc); not a public API.
//
// A CompiledCondition is built once from a v1::Condition: field names are
// resolved to FieldRefs, RE2 patterns compiled, value lists turned into hash
// sets, durations into absl::Duration and segment names into indices.
// Evaluating it allocates nothing.
//
// Semantics: a condition on an absent field does not hold, whatever the
// operator, except `exists: false`. Empty strings, unset optional integers
// and unset timestamps are absent; `tags` is always present;
// `attributes.<key>` is absent when the key is missing or its value empty.
//
// Thread-safe: compiled conditions are immutable after CompileCondition
// returns; any number of threads may evaluate them at once.
#ifndef CUSTODIAN_RULES_CONDITION_EVAL_H_
#define CUSTODIAN_RULES_CONDITION_EVAL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "custodian/v1/condition.pb.h"
#include "custodian/v1/customer.pb.h"
#include "rules/fields.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace custodian::rules::internal {

// Segment membership of one customer: a small bitset over segment indices.
// Does not allocate for up to 256 segments.
class SegmentSet {
 public:
  explicit SegmentSet(size_t num_segments)
      : words_((num_segments + 63) / 64, 0) {}
  bool Contains(int index) const {
    return (words_[index >> 6] >> (index & 63)) & 1;
  }
  void Add(int index) { words_[index >> 6] |= uint64_t{1} << (index & 63); }

 private:
  absl::InlinedVector<uint64_t, 4> words_;
};

// Everything a condition may read while it is evaluated.
struct EvalContext {
  const v1::Customer& customer;
  absl::Time at;               // evaluation time for older/newer_than
  const SegmentSet& segments;  // segments evaluated so far
  const std::vector<std::string>& segment_names;  // by segment index
};

// Lists at most this long are searched linearly instead of hashed.
inline constexpr size_t kSmallListMax = 8;

// One operator of a field condition, with its operand precompiled. Hot
// fields first: most evaluations touch only the first cache line.
struct CompiledOp {
  v1::Operator::OpCase op = v1::Operator::OP_NOT_SET;
  bool flag = false;                 // exists
  int64_t num = 0;                   // eq, ne, gt, gte, lt, lte on integers
  absl::Duration duration;           // older_than, newer_than
  std::string str;                   // eq, ne on string-like fields
  std::vector<std::string> strings;  // in/not_in (small), under/not_under,
                                     // tag lists
  std::vector<int64_t> ints;         // in/not_in on integers
  absl::flat_hash_set<std::string> string_set;  // in/not_in/any_of/none_of
                                                // when the list is long
  std::shared_ptr<const re2::RE2> regex;        // matches
  const v1::Operator* source = nullptr;         // for explanations; not owned
};

// A field condition: every operator must hold.
struct CompiledField {
  FieldRef field;
  std::vector<CompiledOp> ops;
};

// `segment: name | {any_of: [...]} | {none_of: [...]}`.
struct CompiledSegmentCondition {
  bool none_of = false;       // false: in at least one; true: in none
  std::vector<int> segments;  // indices into the ruleset's segments
  const v1::SegmentCondition* source = nullptr;  // not owned
};

struct CompiledClause;

// A compiled `when:` block: every clause must hold; no clauses always holds.
// `clauses` are in evaluation order, cheap and selective kinds first (the
// result of an AND does not depend on the order); file_order[k] is the index
// in `clauses` of the block's k-th clause in the file, which explanations
// follow.
struct CompiledCondition {
  std::vector<CompiledClause> clauses;
  std::vector<uint32_t> file_order;
};

struct CompiledClause {
  enum class Kind { kField, kSegment, kAny, kAll, kNot };
  Kind kind = Kind::kField;
  CompiledField field;                  // kField
  CompiledSegmentCondition segment;     // kSegment
  std::vector<CompiledCondition> subs;  // kAny, kAll; kNot: exactly one
};

// Compiles `condition`. `segment_index` maps the names of the segments the
// condition may refer to (for a segment: only those defined before it) to
// their indices. `where` prefixes error messages (e.g. `segment "dormant"`).
// On success fills *out and returns OK. Returns INVALID_ARGUMENT naming the
// field (e.g. `rule "r1" of department "sales": when.any[1].region: ...`)
// for an unknown field, an operator that does not fit its field, a value of
// the wrong type, an invalid path, a bad regular expression or an unknown
// segment.
// REQUIRES: `condition` outlives *out (explanations point into it).
absl::Status CompileCondition(
    const v1::Condition& condition,
    const absl::flat_hash_map<std::string, int>& segment_index,
    absl::string_view where, CompiledCondition* out);

// Whether `condition` holds for the customer of `ctx`. Allocates nothing.
bool Holds(const CompiledCondition& condition, const EvalContext& ctx);

// Why a condition did not hold (RULES.md explain traces).
struct Failure {
  std::string path;       // e.g. "when.any[1].tags"
  std::string condition;  // e.g. "tags any_of [strategic]"
  std::string observed;   // e.g. "[vip, smb]" or "(absent)"
};

// Like Holds, but when the condition does not hold also describes the first
// failing clause in *failure. Inside `any`, every alternative failed and the
// last one is described. Allocates; for explain mode only.
bool Explain(const CompiledCondition& condition, const EvalContext& ctx,
             Failure* failure);

// Whether path `path` is under `prefix`: equal to it or starting with
// `prefix` + "/".
inline bool PathUnder(absl::string_view path, absl::string_view prefix) {
  return path.size() >= prefix.size() &&
         path.compare(0, prefix.size(), prefix) == 0 &&
         (path.size() == prefix.size() || path[prefix.size()] == '/');
}

// A protobuf Timestamp as an absl::Time.
inline absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

// The value of a string, token or path field, or an empty view when the field
// is absent (absent and empty are the same thing).
absl::string_view StringFieldValue(const v1::Customer& customer,
                                   const FieldRef& field);

}  // namespace custodian::rules::internal

#endif  // CUSTODIAN_RULES_CONDITION_EVAL_H_
