// Micro benchmarks of ruleset evaluation (rules/compiled_ruleset.h).
//
// A generated ruleset with 3 departments of N rules each (N = 10 ... 10,000)
// in a realistic mix, evaluated against a fixed pool of 1024 generated
// customers, cycled through; one iteration is one customer evaluated for all
// three departments, written into an Evaluation proto reused across
// iterations. BM_EvaluateIndexed is the production path; BM_EvaluateLinear
// is the first-match linear scan baseline; BM_EvaluateExplain is explain
// mode (linear, with traces).
//
// Rule mix per department (fixed seed), mostly specific rules as large
// rulesets are, so that long scans happen:
//   40%  region under CN/<area>/<city>, industry under <section>/<division>,
//        customer_type in [2 of 4]
//   20%  region under <city>, customer_type in [1], sales_stage in [2 of 6]
//   10%  region under CN/<area>, industry under <sec>/<div>/<group>
//    8%  tags any_of [1-2 of 12], region under <city>
//    7%  segment key_account or dormant, region under <city>, customer_type
//    5%  sales_stage eq, industry under <division>, annual_revenue gte X
//    5%  value_tier eq, industry under <group>
//    5%  opaque=0: annual_revenue gte X, employee_count lt Y,
//        last_activity_time newer_than Nd (thresholds only: range keys);
//        opaque=1: not {sales_stage in [won, lost]}, attributes.source eq,
//        name matches (nothing indexable: always a candidate)
// plus a fallback pool, and three segments (key_account, dormant, new).
//
// BM_EvaluateThresholdMix is a second, differently mixed scenario that leans
// on the index's range and multi-valued keys (rules mostly share broad keys
// and differ by thresholds):
//   30%  tags any_of [1-2 of 12], annual_revenue gte X, employee_count lt Y
//   25%  region under CN/<area>, value_tier eq, last_activity_time
//        newer_than Nd
//   20%  segment key_account / dormant / new, industry under <section>,
//        annual_revenue between X and 10X
//   15%  customer_type eq, sales_stage in [2 of 6], created_time
//        older_than Nd
//   10%  any [region under <city>, tags any_of [1]] and employee_count
//        gte Y (only the threshold is indexable)
//
// BM_ScalingRatio evaluates the realistic mix at 100 and at 10,000 rules
// per department in alternation within each iteration and reports the
// per-customer CPU time of each (ns_100, ns_10000) and their ratio, so that
// the 100 -> 10,000 growth is read from one run.
#include <time.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "custodian/v1/customer.pb.h"
#include "custodian/v1/evaluation.pb.h"
#include "custodian/v1/ruleset.pb.h"
#include "rules/compiled_ruleset.h"
#include "rules/compiled_ruleset_testing.h"

namespace custodian::rules {
namespace {

// 2026-01-01T00:00:00Z.
const absl::Time kAt = absl::FromUnixSeconds(1767225600);
constexpr int kNumCustomers = 1024;

const char* const kAreas[] = {"East",    "North",     "South",    "West",
                              "Central", "Northeast", "Southwest"};
constexpr int kCitiesPerArea = 10;
constexpr int kSections = 20;            // A..T
constexpr int kDivisionsPerSection = 5;  // e.g. C39
constexpr int kGroupsPerDivision = 4;    // e.g. C391
const char* const kTypes[] = {"enterprise", "smb", "individual", "government"};
const char* const kStages[] = {"lead",        "qualified", "proposal",
                               "negotiation", "won",       "lost"};
const char* const kTiers[] = {"high", "medium", "low"};
const char* const kTags[] = {
    "strategic", "vip",    "partner", "renewal", "churn_risk", "public_sector",
    "startup",   "export", "cn",      "smb",     "pilot",      "referral"};

// Rule mixes: the realistic one (without or with the opaque class) and the
// threshold-heavy one.
enum class Mix { kRealistic, kOpaque, kThresholds };

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  int Uniform(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng_);
  }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T, size_t N>
  const T& Pick(const T (&values)[N]) {
    return values[Uniform(0, N - 1)];
  }

  std::string Area() { return absl::StrCat("CN/", Pick(kAreas)); }
  std::string City() {
    return absl::StrCat(Area(), "/City", Uniform(0, kCitiesPerArea - 1));
  }
  std::string Division() {
    const char section = static_cast<char>('A' + Uniform(0, kSections - 1));
    return absl::StrCat(std::string(1, section), "/", std::string(1, section),
                        10 + Uniform(0, kDivisionsPerSection - 1));
  }
  std::string Group() {
    const std::string division = Division();
    return absl::StrCat(division, "/", division.substr(2),
                        Uniform(1, kGroupsPerDivision));
  }
  int64_t Revenue() {
    // Log-uniform between 10^4 and 10^9.
    return static_cast<int64_t>(
        std::pow(10.0, std::uniform_real_distribution<double>(4, 9)(rng_)));
  }

  v1::Customer Customer(int i) {
    v1::Customer c;
    c.set_id(absl::StrCat("c-", i));
    c.set_name(absl::StrCat("Customer ", i));
    if (Chance(0.95)) {
      c.set_region(Chance(0.2)
                       ? absl::StrCat(City(), "/District", Uniform(1, 5))
                       : City());
    }
    if (Chance(0.9)) c.set_industry(Group());
    if (Chance(0.95)) c.set_customer_type(Pick(kTypes));
    if (Chance(0.95)) c.set_sales_stage(Pick(kStages));
    if (Chance(0.6)) c.set_value_tier(Pick(kTiers));
    if (Chance(0.9)) c.set_annual_revenue(Revenue());
    if (Chance(0.7)) c.set_employee_count(Uniform(1, 20000));
    for (int k = Uniform(0, 3); k > 0; --k) c.add_tags(Pick(kTags));
    c.mutable_last_activity_time()->set_seconds(absl::ToUnixSeconds(kAt) -
                                                86400 * Uniform(0, 365));
    c.mutable_created_time()->set_seconds(absl::ToUnixSeconds(kAt) -
                                          86400 * Uniform(0, 1000));
    (*c.mutable_attributes())["source"] = Chance(0.5) ? "web" : "event";
    return c;
  }

  // Appends `field: {under: [path]}`.
  static void Under(const std::string& field, const std::string& path,
                    v1::Condition* c) {
    v1::FieldCondition* f = c->add_clauses()->mutable_field();
    f->set_field(field);
    f->add_operators()->mutable_under()->add_values(path);
  }
  // Appends `field: [values...]` (or `not_in`).
  static void In(const std::string& field,
                 const std::vector<std::string>& values, v1::Condition* c,
                 bool negate = false) {
    v1::FieldCondition* f = c->add_clauses()->mutable_field();
    f->set_field(field);
    v1::ValueList* list = negate ? f->add_operators()->mutable_not_in()
                                 : f->add_operators()->mutable_in();
    for (const std::string& v : values) list->add_values()->set_string_value(v);
  }
  static v1::Operator* Op(const std::string& field, v1::Condition* c) {
    v1::FieldCondition* f = c->add_clauses()->mutable_field();
    f->set_field(field);
    return f->add_operators();
  }

  // The threshold-heavy mix (see the file comment).
  void FillThresholdRule(v1::Condition* when) {
    const int kind = Uniform(0, 99);
    if (kind < 30) {
      v1::FieldCondition* f = when->add_clauses()->mutable_field();
      f->set_field("tags");
      v1::StringList* any = f->add_operators()->mutable_any_of();
      for (int k = Uniform(1, 2); k > 0; --k) any->add_values(Pick(kTags));
      Op("annual_revenue", when)->set_gte(Revenue());
      Op("employee_count", when)->set_lt(Uniform(10, 20000));
    } else if (kind < 55) {
      Under("region", Area(), when);
      Op("value_tier", when)->mutable_eq()->set_string_value(Pick(kTiers));
      Op("last_activity_time", when)
          ->mutable_newer_than()
          ->set_seconds(86400 * Uniform(1, 365));
    } else if (kind < 75) {
      static const char* const kSegmentNames[] = {"key_account", "dormant",
                                                  "new"};
      when->add_clauses()->mutable_segment()->set_name(Pick(kSegmentNames));
      Under("industry", Division().substr(0, 1), when);
      const int64_t revenue = Revenue();
      v1::FieldCondition* f = when->add_clauses()->mutable_field();
      f->set_field("annual_revenue");
      f->add_operators()->set_gte(revenue);
      f->add_operators()->set_lt(revenue * 10);
    } else if (kind < 90) {
      Op("customer_type", when)->mutable_eq()->set_string_value(Pick(kTypes));
      In("sales_stage", {Pick(kStages), Pick(kStages)}, when);
      Op("created_time", when)
          ->mutable_older_than()
          ->set_seconds(86400 * Uniform(1, 1000));
    } else {
      v1::ConditionList* any = when->add_clauses()->mutable_any();
      Under("region", City(), any->add_conditions());
      Op("tags", any->add_conditions())
          ->mutable_any_of()
          ->add_values(Pick(kTags));
      Op("employee_count", when)->set_gte(Uniform(10, 20000));
    }
  }

  // `opaque`: the 5% class has nothing the index can use (else thresholds).
  void FillRule(bool opaque, v1::Condition* when) {
    const int kind = Uniform(0, 99);
    if (kind < 40) {
      Under("region", City(), when);
      Under("industry", Division(), when);
      In("customer_type", {Pick(kTypes), Pick(kTypes)}, when);
    } else if (kind < 60) {
      Under("region", City(), when);
      In("customer_type", {Pick(kTypes)}, when);
      In("sales_stage", {Pick(kStages), Pick(kStages)}, when);
    } else if (kind < 70) {
      Under("region", Area(), when);
      Under("industry", Group(), when);
    } else if (kind < 78) {
      v1::FieldCondition* f = when->add_clauses()->mutable_field();
      f->set_field("tags");
      v1::StringList* any = f->add_operators()->mutable_any_of();
      for (int k = Uniform(1, 2); k > 0; --k) any->add_values(Pick(kTags));
      Under("region", City(), when);
    } else if (kind < 85) {
      when->add_clauses()->mutable_segment()->set_name(
          Chance(0.5) ? "key_account" : "dormant");
      Under("region", City(), when);
      Op("customer_type", when)->mutable_eq()->set_string_value(Pick(kTypes));
    } else if (kind < 90) {
      Op("sales_stage", when)->mutable_eq()->set_string_value(Pick(kStages));
      Under("industry", Division(), when);
      Op("annual_revenue", when)->set_gte(Revenue());
    } else if (kind < 95) {
      Op("value_tier", when)->mutable_eq()->set_string_value(Pick(kTiers));
      Under("industry", Group(), when);
    } else if (!opaque) {
      // Thresholds only: range-indexed.
      Op("annual_revenue", when)->set_gte(Revenue() * 10);
      Op("employee_count", when)->set_lt(Uniform(10, 200));
      Op("last_activity_time", when)
          ->mutable_newer_than()
          ->set_seconds(86400 * Uniform(1, 14));
    } else {
      // Nothing indexable: always a candidate.
      v1::Condition* inner = when->add_clauses()->mutable_not_();
      In("sales_stage", {"won", "lost"}, inner);
      Op("attributes.source", when)->mutable_eq()->set_string_value("event");
      Op("name", when)
          ->set_matches(absl::StrCat("Customer 1", Uniform(0, 9), "[0-9]"));
    }
  }

  v1::Ruleset Ruleset(int rules_per_department, Mix mix) {
    v1::Ruleset r;
    r.set_name("bench");
    {
      v1::Segment* s = r.add_segments();
      s->set_name("key_account");
      v1::ConditionList* any = s->mutable_when()->add_clauses()->mutable_any();
      Op("annual_revenue", any->add_conditions())->set_gte(50000000);
      Op("tags", any->add_conditions())
          ->mutable_any_of()
          ->add_values("strategic");
    }
    {
      v1::Segment* s = r.add_segments();
      s->set_name("dormant");
      Op("last_activity_time", s->mutable_when())
          ->mutable_older_than()
          ->set_seconds(180 * 86400);
    }
    {
      v1::Segment* s = r.add_segments();
      s->set_name("new");
      Op("created_time", s->mutable_when())
          ->mutable_newer_than()
          ->set_seconds(30 * 86400);
    }
    for (const char* dept : {"sales", "service", "marketing"}) {
      v1::DepartmentRules* d = r.add_departments();
      d->set_department(dept);
      for (int i = 0; i < rules_per_department; ++i) {
        v1::Rule* rule = d->add_rules();
        rule->set_id(absl::StrCat("rule-", i));
        if (mix == Mix::kThresholds) {
          FillThresholdRule(rule->mutable_when());
        } else {
          FillRule(mix == Mix::kOpaque, rule->mutable_when());
        }
        rule->mutable_assign()->set_team(absl::StrCat("team-", i % 50));
        rule->mutable_assign()->set_strategy(v1::ROUND_ROBIN);
        if (i % 4 == 0) rule->mutable_overflow()->set_pool("overflow");
      }
      d->mutable_fallback()->set_pool(absl::StrCat("unassigned-", dept));
    }
    return r;
  }

 private:
  std::mt19937 rng_;
};

struct Fixture {
  std::unique_ptr<const CompiledRuleset> compiled;
  std::vector<v1::Customer> customers;
};

// One fixture per size, built once and shared by every benchmark and
// repetition.
const Fixture& GetFixture(int rules_per_department, Mix mix) {
  static auto* fixtures = new std::map<std::pair<int, Mix>, Fixture>();
  const std::pair<int, Mix> key(rules_per_department, mix);
  auto it = fixtures->find(key);
  if (it != fixtures->end()) return it->second;
  Generator gen(42);
  Fixture f;
  auto compiled =
      CompiledRuleset::Compile(gen.Ruleset(rules_per_department, mix));
  if (!compiled.ok()) {
    std::fprintf(stderr, "compile failed: %s\n",
                 std::string(compiled.status().message()).c_str());
    std::abort();
  }
  f.compiled = *std::move(compiled);
  Generator customers(7);
  for (int i = 0; i < kNumCustomers; ++i) {
    f.customers.push_back(customers.Customer(i));
  }
  return fixtures->emplace(key, std::move(f)).first->second;
}

enum class Mode { kIndexed, kLinear, kExplain };

Mix MixOf(const benchmark::State& state) {
  return state.range(1) != 0 ? Mix::kOpaque : Mix::kRealistic;
}

void RunEvaluate(benchmark::State& state, Mode mode, Mix mix) {
  const Fixture& f = GetFixture(static_cast<int>(state.range(0)), mix);
  v1::Evaluation out;
  size_t i = 0;
  int64_t rule_decisions = 0, evaluations = 0;
  for (auto _ : state) {
    const v1::Customer& customer = f.customers[i++ & (kNumCustomers - 1)];
    switch (mode) {
      case Mode::kIndexed:
        f.compiled->Evaluate(customer, kAt, {}, &out);
        break;
      case Mode::kLinear:
        testing::EvaluateLinear(*f.compiled, customer, kAt, &out);
        break;
      case Mode::kExplain:
        f.compiled->Evaluate(customer, kAt, {.explain = true}, &out);
        break;
    }
    benchmark::DoNotOptimize(out);
    for (const v1::DepartmentDecision& d : out.departments()) {
      rule_decisions += d.kind() == v1::RULE;
    }
    ++evaluations;
  }
  state.SetItemsProcessed(state.iterations());
  // Share of department decisions made by a rule (the rest: fallback).
  state.counters["rule_share"] = evaluations == 0
                                     ? 0
                                     : static_cast<double>(rule_decisions) /
                                           static_cast<double>(evaluations * 3);
}

void BM_EvaluateIndexed(benchmark::State& state) {
  RunEvaluate(state, Mode::kIndexed, MixOf(state));
}
void BM_EvaluateLinear(benchmark::State& state) {
  RunEvaluate(state, Mode::kLinear, MixOf(state));
}
void BM_EvaluateExplain(benchmark::State& state) {
  RunEvaluate(state, Mode::kExplain, MixOf(state));
}
void BM_EvaluateThresholdMix(benchmark::State& state) {
  RunEvaluate(state, Mode::kIndexed, Mix::kThresholds);
}

int64_t ThreadCpuNanos() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// One iteration: the same 64 customers through the 100-rule and the
// 10,000-rule realistic rulesets, alternately.
void BM_ScalingRatio(benchmark::State& state) {
  const Fixture& small = GetFixture(100, Mix::kRealistic);
  const Fixture& large = GetFixture(10000, Mix::kRealistic);
  constexpr int kBatch = 64;
  v1::Evaluation out;
  size_t i = 0;
  int64_t small_ns = 0, large_ns = 0, customers = 0;
  for (auto _ : state) {
    for (const Fixture* f : {&small, &large}) {
      const int64_t start = ThreadCpuNanos();
      for (int k = 0; k < kBatch; ++k) {
        f->compiled->Evaluate(f->customers[(i + k) & (kNumCustomers - 1)], kAt,
                              {}, &out);
        benchmark::DoNotOptimize(out);
      }
      (f == &small ? small_ns : large_ns) += ThreadCpuNanos() - start;
    }
    i += kBatch;
    customers += kBatch;
  }
  if (customers == 0) return;
  state.counters["ns_100"] =
      static_cast<double>(small_ns) / static_cast<double>(customers);
  state.counters["ns_10000"] =
      static_cast<double>(large_ns) / static_cast<double>(customers);
  state.counters["ratio"] = small_ns == 0 ? 0
                                          : static_cast<double>(large_ns) /
                                                static_cast<double>(small_ns);
}

// Average candidates the index offers per customer and department, as a
// counter (no timing of interest).
void BM_IndexCandidates(benchmark::State& state) {
  const Fixture& f =
      GetFixture(static_cast<int>(state.range(0)),
                 state.range(1) == 2 ? Mix::kThresholds : MixOf(state));
  int64_t candidates = 0, n = 0;
  for (auto _ : state) {
    for (const v1::Customer& c : f.customers) {
      for (int d = 0; d < 3; ++d) {
        candidates += testing::CountCandidates(*f.compiled, d, c, kAt);
        ++n;
      }
    }
  }
  state.counters["candidates"] =
      static_cast<double>(candidates) / static_cast<double>(n);
  state.counters["index_KiB"] =
      static_cast<double>(testing::IndexBytes(*f.compiled, 0)) / 1024;
}

BENCHMARK(BM_EvaluateIndexed)
    ->ArgNames({"rules", "opaque"})
    ->ArgsProduct({{10, 100, 1000, 10000}, {0, 1}});
BENCHMARK(BM_EvaluateLinear)
    ->ArgNames({"rules", "opaque"})
    ->ArgsProduct({{10, 100, 1000, 10000}, {0}});
BENCHMARK(BM_EvaluateExplain)->ArgNames({"rules", "opaque"})->Args({100, 0});
BENCHMARK(BM_EvaluateThresholdMix)
    ->ArgNames({"rules"})
    ->Arg(100)
    ->Arg(1000)
    ->Arg(10000);
BENCHMARK(BM_ScalingRatio);
// opaque:2 is the threshold mix.
BENCHMARK(BM_IndexCandidates)
    ->ArgNames({"rules", "opaque"})
    ->ArgsProduct({{100, 10000}, {0, 1, 2}})
    ->Iterations(1);

}  // namespace
}  // namespace custodian::rules
