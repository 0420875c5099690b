#include "clients/evaluation_json.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace custodian::clients {

absl::string_view StrategyName(v1::Strategy strategy) {
  switch (strategy) {
    case v1::ROUND_ROBIN:
      return "round_robin";
    case v1::WEIGHTED:
      return "weighted";
    case v1::LEAST_LOADED:
      return "least_loaded";
    case v1::BEST_MATCH:
      return "best_match";
    default:
      return "";
  }
}

std::string EvaluationLine(const v1::Evaluation& evaluation,
                           const v1::DepartmentDecision& decision) {
  nlohmann::ordered_json line;
  line["customer_id"] = evaluation.customer_id();
  line["department"] = decision.department();
  line["segments"] = nlohmann::ordered_json::array();
  for (const std::string& segment : evaluation.segments()) {
    line["segments"].push_back(segment);
  }
  if (decision.kind() == v1::NO_MATCH || !decision.has_target()) {
    line["rule_id"] = nullptr;
  } else {
    line["rule_id"] = decision.rule_id();
    const v1::Target& target = decision.target();
    nlohmann::ordered_json t = nlohmann::ordered_json::object();
    switch (target.kind_case()) {
      case v1::Target::kTeam:
        t["team"] = target.team();
        t["strategy"] = std::string(StrategyName(target.strategy()));
        break;
      case v1::Target::kRep:
        t["rep"] = target.rep();
        break;
      case v1::Target::kPool:
        t["pool"] = target.pool();
        break;
      case v1::Target::KIND_NOT_SET:
        break;
    }
    line["target"] = std::move(t);
  }
  line["requires_approval"] =
      decision.has_target() && decision.target().requires_approval();
  return line.dump(-1, ' ', /*ensure_ascii=*/false,
                   nlohmann::ordered_json::error_handler_t::replace);
}

std::string DescribeTarget(const v1::Target& target) {
  std::string out;
  switch (target.kind_case()) {
    case v1::Target::kTeam:
      out = absl::StrCat("team ", target.team(), " (",
                         StrategyName(target.strategy()), ")");
      break;
    case v1::Target::kRep:
      out = absl::StrCat("rep ", target.rep());
      break;
    case v1::Target::kPool:
      out = absl::StrCat("pool ", target.pool());
      break;
    case v1::Target::KIND_NOT_SET:
      out = "(no target)";
      break;
  }
  if (target.requires_approval()) absl::StrAppend(&out, ", requires approval");
  return out;
}

}  // namespace custodian::clients
