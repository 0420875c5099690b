#include "clients/pool_commands.h"

#include <memory>
#include <ostream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/errors.h"
#include "clients/ownership_commands.h"
#include "clients/remote_commands.h"
#include "clients/rules_commands.h"
#include "custodian/v1/pool_service.grpc.pb.h"
#include "rules/durations.h"

namespace custodian::clients {
namespace {

template <typename Request, typename Response>
int Call(const Connection& connection,
         grpc::Status (v1::PoolService::Stub::*method)(grpc::ClientContext*,
                                                       const Request&,
                                                       Response*),
         const Request& request, Response* response,
         const std::string& request_id, std::ostream& err) {
  auto stub = v1::PoolService::NewStub(connection.channel());
  grpc::ClientContext context;
  connection.PrepareContext(&context);
  grpc::Status status = (stub.get()->*method)(&context, request, response);
  if (status.ok()) return kExitOk;
  RpcFailure failure;
  failure.server = connection.address();
  failure.connected = connection.IsConnected();
  failure.request_id = request_id;
  return ReportRpcError(status, failure, err);
}

std::string OrDash(absl::string_view text) {
  return text.empty() ? std::string("-") : std::string(text);
}

void PrintOwnership(absl::string_view verb, const v1::Ownership& o,
                    std::ostream& out) {
  out << verb << " " << o.customer_id() << " in " << o.department() << ": now "
      << FormatOwner(o);
  if (!o.team().empty()) out << " (team " << o.team() << ")";
  out << ", " << OwnershipStateName(o.state()) << " (event "
      << o.last_event_sequence() << ")\n";
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  ts.set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(ts.seconds())) /
                                    absl::Nanoseconds(1)));
  return ts;
}

}  // namespace

std::optional<v1::ReleaseRequest::Reason> ParseReleaseReason(
    absl::string_view text) {
  static constexpr std::pair<const char*, v1::ReleaseRequest::Reason> kNames[] =
      {{"no_demand", v1::ReleaseRequest::NO_DEMAND},
       {"unreachable", v1::ReleaseRequest::UNREACHABLE},
       {"invalid_contact", v1::ReleaseRequest::INVALID_CONTACT},
       {"lost_to_competitor", v1::ReleaseRequest::LOST_TO_COMPETITOR},
       {"duplicate", v1::ReleaseRequest::DUPLICATE},
       {"over_capacity", v1::ReleaseRequest::OVER_CAPACITY},
       {"other", v1::ReleaseRequest::OTHER}};
  for (const auto& [name, value] : kNames) {
    if (text == name) return value;
  }
  return std::nullopt;
}

std::optional<v1::RecordActivityRequest::Kind> ParseActivityKind(
    absl::string_view text) {
  static constexpr std::pair<const char*, v1::RecordActivityRequest::Kind>
      kNames[] = {{"call", v1::RecordActivityRequest::CALL},
                  {"visit", v1::RecordActivityRequest::VISIT},
                  {"order", v1::RecordActivityRequest::ORDER},
                  {"email", v1::RecordActivityRequest::EMAIL},
                  {"meeting", v1::RecordActivityRequest::MEETING}};
  for (const auto& [name, value] : kNames) {
    if (text == name) return value;
  }
  return std::nullopt;
}

int RunPoolList(const Connection& connection, const PoolListArgs& args,
                const CommandOutput& output) {
  v1::ListPoolRequest request;
  request.set_department(args.department);
  request.set_pool(args.pool);
  request.set_segment(args.segment);
  request.set_region_under(args.region_under);
  request.set_industry_under(args.industry_under);
  if (!args.min_time_in_pool.empty()) {
    absl::StatusOr<google::protobuf::Duration> d =
        rules::ParseDuration(args.min_time_in_pool);
    if (!d.ok()) {
      output.err << "custodianctl: --min-time-in-pool: " << d.status().message()
                 << "\n";
      return kExitUsage;
    }
    *request.mutable_min_time_in_pool() = *d;
  }
  request.set_page_size(args.page_size);
  request.set_page_token(args.page_token);

  v1::ListPoolResponse all;
  while (true) {
    v1::ListPoolResponse page;
    int code = Call(connection, &v1::PoolService::Stub::ListPool, request,
                    &page, "", output.err);
    if (code != kExitOk) return code;
    for (v1::PoolEntry& e : *page.mutable_entries()) {
      *all.add_entries() = std::move(e);
    }
    all.set_next_page_token(page.next_page_token());
    if (!args.all || page.next_page_token().empty()) break;
    request.set_page_token(page.next_page_token());
  }
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(all);
    return kExitOk;
  }
  Table table({"CUSTOMER", "POOL", "SINCE", "NAME", "REGION", "INDUSTRY"});
  for (const v1::PoolEntry& e : all.entries()) {
    table.AddRow({e.ownership().customer_id(), e.ownership().pool(),
                  FormatTimestamp(e.ownership().since()),
                  OrDash(e.customer().name()), OrDash(e.customer().region()),
                  OrDash(e.customer().industry())});
  }
  table.Render(output.out);
  if (!all.next_page_token().empty()) {
    output.out << "next page: --page-token " << all.next_page_token() << "\n";
  }
  return kExitOk;
}

int RunPoolClaim(const Connection& connection, const PoolClaimArgs& args,
                 const CommandOutput& output) {
  v1::ClaimRequest request;
  request.set_customer_id(args.customer_id);
  request.set_department(args.department);
  request.set_rep(args.rep);
  bool generated = false;
  request.set_request_id(RequestIdOr(args.request_id, &generated));
  v1::Ownership ownership;
  int code = Call(connection, &v1::PoolService::Stub::Claim, request,
                  &ownership, request.request_id(), output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(ownership,
                         GeneratedId(generated, request.request_id()));
  } else {
    PrintOwnership("claimed", ownership, output.out);
  }
  return kExitOk;
}

int RunPoolRelease(const Connection& connection, const PoolReleaseArgs& args,
                   const CommandOutput& output) {
  std::optional<v1::ReleaseRequest::Reason> reason =
      ParseReleaseReason(args.reason);
  if (!reason.has_value()) {
    output.err << "custodianctl: --reason: \"" << args.reason
               << "\" is not one of no_demand, unreachable, invalid_contact, "
                  "lost_to_competitor, duplicate, over_capacity, other\n";
    return kExitUsage;
  }
  v1::ReleaseRequest request;
  request.set_customer_id(args.customer_id);
  request.set_department(args.department);
  request.set_pool(args.pool);
  request.set_reason(*reason);
  request.set_reason_text(args.text);
  bool generated = false;
  request.set_request_id(RequestIdOr(args.request_id, &generated));
  v1::Ownership ownership;
  int code = Call(connection, &v1::PoolService::Stub::Release, request,
                  &ownership, request.request_id(), output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(ownership,
                         GeneratedId(generated, request.request_id()));
  } else {
    PrintOwnership("released", ownership, output.out);
  }
  return kExitOk;
}

int RunActivityRecord(const Connection& connection,
                      const ActivityRecordArgs& args,
                      const CommandOutput& output) {
  std::optional<v1::RecordActivityRequest::Kind> kind =
      ParseActivityKind(args.kind);
  if (!kind.has_value()) {
    output.err << "custodianctl: --kind: \"" << args.kind
               << "\" is not one of call, visit, order, email, meeting\n";
    return kExitUsage;
  }
  absl::Time at = absl::Now();
  if (!args.at.empty()) {
    std::optional<absl::Time> parsed = ParseAtFlag(args.at);
    if (!parsed.has_value()) {
      output.err << "custodianctl: --at: \"" << args.at
                 << "\" is not an RFC 3339 time (2026-06-01T09:30:00Z)\n";
      return kExitUsage;
    }
    at = *parsed;
  }
  v1::RecordActivityRequest request;
  request.set_customer_id(args.customer_id);
  request.set_department(args.department);
  request.set_kind(*kind);
  *request.mutable_at() = ToProto(at);
  bool generated = false;
  request.set_request_id(RequestIdOr(args.request_id, &generated));
  v1::RecordActivityResponse response;
  int code = Call(connection, &v1::PoolService::Stub::RecordActivity, request,
                  &response, request.request_id(), output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(response,
                         GeneratedId(generated, request.request_id()));
    return kExitOk;
  }
  output.out << "customer " << args.customer_id << ": last activity "
             << FormatTimestamp(response.last_activity_time());
  if (!response.changed()) {
    output.out << " (unchanged: a later activity is recorded)";
  }
  output.out << "\n";
  return kExitOk;
}

int RunDupesCheck(const Connection& connection, const DupesCheckArgs& args,
                  const CommandOutput& output) {
  v1::CheckDuplicatesRequest request;
  v1::Customer* c = request.mutable_customer();
  c->set_id(args.id);
  c->set_name(args.name);
  c->set_tax_id(args.tax_id);
  c->set_email_domain(args.email_domain);
  v1::CheckDuplicatesResponse response;
  int code = Call(connection, &v1::PoolService::Stub::CheckDuplicates, request,
                  &response, "", output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(response);
    return kExitOk;
  }
  const std::string checked = absl::StrJoin(response.match_on(), ", ");
  if (response.candidates().empty()) {
    output.out << "no duplicates (checked: " << checked << ")\n";
    return kExitOk;
  }
  Table table({"CUSTOMER", "KEY", "VALUE", "CREATED", "DEPARTMENT", "STATE",
               "OWNER", "PROTECTED_UNTIL"});
  for (const v1::DuplicateCandidate& d : response.candidates()) {
    const v1::DuplicateMatch& m = d.match();
    if (d.owners().empty()) {
      table.AddRow({m.customer_id(), m.key(), m.value(),
                    FormatTimestamp(m.create_time()), "-", "-", "-", "-"});
    }
    for (const v1::DuplicateOwner& o : d.owners()) {
      const std::string owner =
          !o.rep().empty()
              ? o.rep()
              : (!o.pool().empty() ? absl::StrCat("pool:", o.pool()) : "-");
      table.AddRow({m.customer_id(), m.key(), m.value(),
                    FormatTimestamp(m.create_time()), o.department(),
                    OwnershipStateName(o.state()), owner,
                    FormatTimestamp(o.protected_until())});
    }
  }
  table.Render(output.out);
  output.out << response.candidates_size()
             << " matching customer(s), oldest first (checked: " << checked
             << ")\n";
  return kExitOk;
}

}  // namespace custodian::clients
